"""Conformance contracts for coderag backends, one base class per backend kind.

Plugin authors subclass these in their own test suite (pandas' extension
tests are the model) and override one fixture, ``factory``, with the factory
their plugin registers; coderag's builtin backends pass the same classes.
Moving or renaming a test here breaks third-party suites: don't, lightly.
"""
from __future__ import annotations

from coderag.testing.chunker_contract import ChunkerContract
from coderag.testing.embedder_contract import EmbedderContract
from coderag.testing.store_contracts import LexicalStoreContract
from coderag.testing.store_contracts import VectorStoreContract

__all__ = ["ChunkerContract", "EmbedderContract", "LexicalStoreContract", "VectorStoreContract"]
