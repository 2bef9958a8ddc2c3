"""Everything that reads an index to answer a query.

:mod:`~coderag.search.query` analyses the query, :mod:`~coderag.search.fusion`
fuses the keyword and vector candidates, and :mod:`~coderag.search.ranking`
holds the code-aware signals that rerank them. Nothing here imports
:mod:`coderag.indexing` (a test checks it), so a search stays light.
"""
