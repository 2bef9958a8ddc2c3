"""Code-aware text analysis shared by the writer and the reader.

Language detection, keyword tokens and the documents each backend sees of a
chunk. Indexing and search both import these, so that a chunk and a query are
always analysed by the same rules; nothing here imports either side.
"""
