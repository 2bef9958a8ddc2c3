"""Builtin backends, registered through the same hooks as third-party plugins.

Each module here only registers factories; the implementations live in
:mod:`coderag.chunking`, :mod:`coderag.embedding` and :mod:`coderag.stores`
and are imported when a backend is chosen.
"""
