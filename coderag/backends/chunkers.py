"""Builtin chunkers: ``code`` (definitions, with a window fallback) and ``windows``."""
from __future__ import annotations

from coderag import hookimpl


def make_code_chunker(**options):
    from coderag.chunking.definitions import DefinitionChunker

    return DefinitionChunker(**options)


def make_window_chunker(**options):
    from coderag.chunking.windows import WindowChunker

    return WindowChunker(**options)


@hookimpl
def coderag_register_chunkers(register):
    register(
        "code",
        make_code_chunker,
        description="definition-level chunks (tree-sitter) with a line-window fallback",
    )
    register("windows", make_window_chunker, description="fixed line windows with overlap")
