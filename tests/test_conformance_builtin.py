"""The builtin backends pass the same conformance kit that plugin authors run."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from coderag.backends.chunkers import make_code_chunker
from coderag.backends.chunkers import make_window_chunker
from coderag.backends.embedders import make_model2vec_embedder
from coderag.backends.stores import make_hnsw_store
from coderag.backends.stores import make_whoosh_store
from coderag.testing import ChunkerContract
from coderag.testing import EmbedderContract
from coderag.testing import LexicalStoreContract
from coderag.testing import VectorStoreContract

# The code chunker leaves out lines that only close a scope ("}", "});").
_ONLY_CLOSERS = re.compile(r"\s*(?:[)\]}][\s()\[\]{};,]*(?://.*|/\*.*)?)?")


class TestWindowChunker(ChunkerContract):
    @pytest.fixture
    def factory(self):
        return make_window_chunker

    @pytest.fixture
    def max_chunk_chars(self):
        return 20000


class TestCodeChunker(ChunkerContract):
    @pytest.fixture
    def factory(self):
        return make_code_chunker

    @pytest.fixture
    def max_chunk_chars(self):
        return 20000

    @pytest.fixture
    def skippable_line(self):
        return lambda line: _ONLY_CLOSERS.fullmatch(line) is not None


class TestModel2VecEmbedder(EmbedderContract):
    @pytest.fixture
    def factory(self):
        return make_model2vec_embedder


class TestHnswStore(VectorStoreContract):
    @pytest.fixture
    def factory(self):
        return make_hnsw_store


class TestHnswStoreCompacting(VectorStoreContract):
    """Thresholds so low that the churn tests rebuild the graph on most commits."""

    @pytest.fixture
    def factory(self):
        return make_hnsw_store

    @pytest.fixture
    def options(self):
        return {"delta_min": 8, "delta_ratio": 0.0}


class TestWhooshStore(LexicalStoreContract):
    @pytest.fixture
    def factory(self):
        return make_whoosh_store


class TestWhooshStoreSmallSegments(LexicalStoreContract):
    @pytest.fixture
    def factory(self):
        return make_whoosh_store

    @pytest.fixture
    def options(self):
        return {"segment_docs": 30}


def test_kit_reports_a_missing_factory(tmp_path):
    (tmp_path / "test_forgot.py").write_text(
        "from coderag.testing import ChunkerContract\n\n\n"
        "class TestForgot(ChunkerContract):\n    pass\n"
    )
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-k", "test_satisfies_protocol", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout
    assert "override the `factory` fixture" in proc.stdout
