"""coderag: a git-native, incremental, hybrid code search index.

The public Python API::

    from coderag import Index
    idx = Index.open("path/to/repo")
    idx.update()
    for hit in idx.search("retry with exponential backoff", k=10):
        print(hit.path, hit.start_line, hit.end_line, hit.score)

Plugins mark their hook implementations with :data:`hookimpl`.
Heavy modules are imported lazily so that ``import coderag`` stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("coderag")
"""Marker for plugin hook implementations (see :mod:`coderag.hookspecs`)."""

if TYPE_CHECKING:
    from coderag.errors import CoderagError
    from coderag.index import Index
    from coderag.protocols import Chunk
    from coderag.protocols import Hit

_LAZY = {
    "Index": "coderag.index",
    "Hit": "coderag.protocols",
    "Chunk": "coderag.protocols",
    "LexicalDoc": "coderag.protocols",
    "CoderagError": "coderag.errors",
}

__all__ = ["Index", "Hit", "Chunk", "LexicalDoc", "CoderagError", "hookimpl", "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'coderag' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
