"""Builtin embedders: ``model2vec`` static embeddings (bundled model by default) and ``openai`` (a server)."""
from __future__ import annotations

from coderag import hookimpl


def make_model2vec_embedder(**options):
    from coderag.embedding.model2vec_embedder import Model2VecEmbedder

    return Model2VecEmbedder(**options)


def make_openai_embedder(**options):
    from coderag.embedding.openai_embedder import OpenAIEmbedder

    return OpenAIEmbedder(**options)


@hookimpl
def coderag_register_embedders(register):
    register(
        "model2vec",
        make_model2vec_embedder,
        description="model2vec static embeddings; the bundled model works offline",
    )
    register(
        "openai",
        make_openai_embedder,
        description="any OpenAI-compatible /embeddings server (Ollama, vLLM, TEI, llama.cpp, hosted APIs)",
    )
