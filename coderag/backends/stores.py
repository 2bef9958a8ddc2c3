"""Builtin stores: ``hnsw`` vectors (hnswlib) and ``whoosh`` BM25 keywords."""
from __future__ import annotations

from coderag import hookimpl


def make_hnsw_store(directory, dim, **options):
    from coderag.stores.hnsw_store import HnswVectorStore

    return HnswVectorStore(directory, dim=dim, **options)


def make_whoosh_store(directory, **options):
    from coderag.stores.whoosh_store import WhooshLexicalStore

    return WhooshLexicalStore(directory, **options)


@hookimpl
def coderag_register_vector_stores(register):
    register("hnsw", make_hnsw_store, description="hnswlib HNSW graph on disk, cosine")


@hookimpl
def coderag_register_lexical_stores(register):
    register("whoosh", make_whoosh_store, description="Whoosh BM25F with code-aware tokens")
