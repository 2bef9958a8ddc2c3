"""Chunker backends: source text in, chunks (path, span, symbol, text) out.

The builtins (tree-sitter definitions, line windows) are registered in
:mod:`coderag.backends.chunkers`; nothing here knows about git or stores.
"""
