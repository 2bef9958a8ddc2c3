"""coderag-minilm: a transformer embedder for coderag (all-MiniLM-L6-v2, offline).

Select it with ``git config coderag.embedder minilm``.  Importing this
module imports nothing heavy: torch loads when the first text is embedded.
"""
from __future__ import annotations

import coderag

__version__ = "0.1.0"


def make_minilm_embedder(**options):
    """Factory for the ``minilm`` embedder (options: ``model``, ``max_length``, ``batch_size``, ``threads``)."""
    from coderag_minilm.embedder import MiniLMEmbedder

    return MiniLMEmbedder(**options)


@coderag.hookimpl
def coderag_register_embedders(register):
    register("minilm", make_minilm_embedder,
             description="all-MiniLM-L6-v2 sentence transformer (torch, CPU); ~200x slower to index")
