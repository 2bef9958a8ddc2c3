"""Builtin embedder: ``model2vec`` static embeddings (bundled model by default)."""
from __future__ import annotations

from coderag import hookimpl


def make_model2vec_embedder(**options):
    from coderag.embedding.model2vec_embedder import Model2VecEmbedder

    return Model2VecEmbedder(**options)


@hookimpl
def coderag_register_embedders(register):
    register(
        "model2vec",
        make_model2vec_embedder,
        description="model2vec static embeddings; the bundled model works offline",
    )
