"""coderag-bm25s: a coderag lexical store on bm25s sparse BM25 matrices.

Select it with ``git config coderag.lexicalstore bm25s``.  Importing this
module imports nothing heavy; bm25s loads when a commit builds an index.
"""
from __future__ import annotations

import coderag

__version__ = "0.1.0"


def make_bm25s_store(directory, **options):
    """Factory for the ``bm25s`` lexical store (options: ``k1``, ``b``, ``readonly``)."""
    from coderag_bm25s.store import Bm25sLexicalStore

    return Bm25sLexicalStore(directory, **options)


@coderag.hookimpl
def coderag_register_lexical_stores(register):
    register("bm25s", make_bm25s_store,
             description="bm25s sparse-matrix BM25 per field; fast full builds, commits rebuild")
