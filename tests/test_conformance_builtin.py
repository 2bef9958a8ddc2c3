"""The builtin backends pass the same conformance kit that plugin authors run."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
        return {"delta_min": 8, "delta_ratio": 0.0, "exact_max": 0}


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


BROKEN_BACKENDS = '''
import json
import os

import pytest

from coderag.protocols import Chunk
from coderag.testing import ChunkerContract
from coderag.testing import LexicalStoreContract


class OffByOne:
    name, version = "off-by-one", "1"

    def chunk(self, path, text, language):
        lines = text.split("\\\\n")
        return [Chunk(path, 2, len(lines), "\\\\n".join(lines), language)] if text.strip() else []


class ForgetfulStore:
    """Persists documents but keeps deletions in memory only."""

    def __init__(self, directory, readonly=False):
        self.path, self.readonly, self.deleted = os.path.join(directory, "docs.json"), readonly, set()
        if not readonly:
            os.makedirs(directory, exist_ok=True)
        self.docs = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.docs = {int(k): v for k, v in json.load(f).items()}

    def add(self, docs):
        if self.readonly:
            raise ValueError("read-only")
        for d in docs:
            self.docs[d.label] = f"{d.symbol} {d.path} {d.body}".split()

    def delete(self, labels):
        self.deleted.update(int(label) for label in labels)

    def search(self, tokens, k):
        hits = [(label, float(sum(words.count(t) for t in set(tokens))))
                for label, words in self.docs.items() if label not in self.deleted]
        return sorted([h for h in hits if h[1] > 0], key=lambda h: (-h[1], h[0]))[:max(k, 0)]

    def commit(self):
        if self.readonly:
            raise ValueError("read-only")
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.docs, f)
        os.replace(self.path + ".tmp", self.path)

    def close(self):
        pass

    def __len__(self):
        return len(set(self.docs) - self.deleted)


class TestOffByOne(ChunkerContract):
    @pytest.fixture
    def factory(self):
        return OffByOne


class TestForgetful(LexicalStoreContract):
    @pytest.fixture
    def factory(self):
        return ForgetfulStore
'''


def test_kit_catches_broken_backends(tmp_path):
    (tmp_path / "test_broken.py").write_text(BROKEN_BACKENDS)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True)
    failed = set(re.findall(r"^FAILED \S+::(\w+::\w+)", proc.stdout, flags=re.M))
    assert {"TestOffByOne::test_line_numbers_exact", "TestOffByOne::test_spans_cover_the_text",
            "TestForgetful::test_deletes_really_delete"} <= failed, proc.stdout[-3000:]
    # ... and only what is broken: the forgetful store gets the rest right.
    assert "TestForgetful::test_add_then_search" not in failed
    assert "TestForgetful::test_readonly_refuses_writes" not in failed


def test_the_pytest_plugin_is_inert():
    # pytest loads it in every run where coderag is installed: no autouse
    # fixtures, no hooks, nothing heavy imported.
    code = ("import sys, coderag.testing.plugin as p; "
            "print(sorted(n for n in vars(p) if n.startswith('pytest_')), "
            "[m for m in ('numpy', 'coderag.plugins', 'coderag.testing.contracts') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"
    from coderag.testing import plugin

    source = Path(plugin.__file__).read_text()
    assert "autouse" not in source.replace("no autouse", "")
