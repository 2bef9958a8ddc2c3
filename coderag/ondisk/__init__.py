"""The index on disk: its layout under ``.git/coderag``, its locks, the manifest, its stores.

Shared by the writer (:mod:`coderag.indexing`) and the reader
(:mod:`coderag.search`, :mod:`coderag.index`): the reader opens a committed
generation read-only, the writer builds the next one.
"""
