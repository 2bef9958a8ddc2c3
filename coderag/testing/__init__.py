"""A testing kit for coderag backend authors (chunkers, embedders, stores).

``from coderag.testing import ChunkerContract`` (or ``EmbedderContract``,
``VectorStoreContract``, ``LexicalStoreContract``), subclass it in a test
module named ``Test...`` and override the ``factory`` fixture.  The kit needs
pytest and numpy; importing it is only meant for test suites.  See
``docs/plugins.md``.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ChunkerContract", "EmbedderContract", "LexicalStoreContract", "VectorStoreContract"]


def __getattr__(name: str) -> Any:
    # Lazy, so `coderag.testing.plugin` (loaded by every pytest run) imports nothing heavy.
    if name in __all__:
        from coderag.testing import contracts

        return getattr(contracts, name)
    raise AttributeError(f"module 'coderag.testing' has no attribute {name!r}")
