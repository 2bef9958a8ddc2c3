"""coderag-postgres: coderag's vector and keyword stores on PostgreSQL + pgvector.

Select them with ``git config coderag.vectorstore postgres`` and ``git config
coderag.lexicalstore postgres`` (and ``coderag.postgres.dsn``).  The fleet
(many repositories in one database, indexed on Dask) is ``coderag-fleet``.
Importing this module imports nothing heavy: psycopg loads when a store opens.
"""
from __future__ import annotations

import coderag

__version__ = "0.1.0"


def make_vector_store(directory, dim, **options):
    """Factory for the ``postgres`` vector store: a pgvector column with an HNSW index, cosine."""
    from coderag_postgres.vector_store import PostgresVectorStore

    return PostgresVectorStore(directory, dim=dim, **options)


def make_lexical_store(directory, **options):
    """Factory for the ``postgres`` keyword store: BM25 over coderag's code tokens, computed in SQL."""
    from coderag_postgres.lexical_store import PostgresLexicalStore

    return PostgresLexicalStore(directory, **options)


@coderag.hookimpl
def coderag_register_vector_stores(register):
    register("postgres", make_vector_store, description="PostgreSQL + pgvector HNSW, cosine; a shared database")


@coderag.hookimpl
def coderag_register_lexical_stores(register):
    register("postgres", make_lexical_store, description="PostgreSQL keyword search over code tokens")
