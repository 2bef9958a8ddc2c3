"""Embedder backends: chunk texts in, unit vectors out.

The builtin ``model2vec`` embedder is registered in :mod:`coderag.backends.embedders`.
"""
