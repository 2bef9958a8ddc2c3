"""coderag-bm25s against coderag's conformance kit, and against bm25s itself."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from coderag.protocols import LexicalDoc
from coderag.testing import LexicalStoreContract


class TestBm25sStore(LexicalStoreContract):
    @pytest.fixture
    def factory(self, coderag_factory):
        return coderag_factory("lexical_store", "bm25s")


DOCS = [
    LexicalDoc(10, "retry with backoff", "net http client py", "def retry with backoff func attempts"),
    LexicalDoc(11, "parse http header", "net http client py", "def parse http header line name value"),
    LexicalDoc(12, "slugify", "util strings go", "func slugify title lower replace"),
    LexicalDoc(13, "", "readme md", "sample repository used by the tests http"),
]


def test_scores_are_bm25s_scores(coderag_factory, tmp_path):
    # The store's own reader must score exactly as bm25s does on the files bm25s saved.
    import bm25s

    store = coderag_factory("lexical_store", "bm25s")(tmp_path / "s")
    store.add(DOCS)
    store.commit()
    hits = dict(store.search(["http", "header"], 10))
    folder = next((tmp_path / "s").glob("gen-*"))
    labels = np.load(folder / "labels.npy")
    expected = np.zeros(len(labels))
    for field, boost in store.boosts.items():
        model = bm25s.BM25.load(str(folder / field), show_progress=False)
        ids = [model.vocab_dict[t] for t in ("http", "header") if t in model.vocab_dict]
        expected += boost * model.get_scores_from_ids(ids)
    assert hits == pytest.approx({int(l): float(s) for l, s in zip(labels, expected) if s > 0}, rel=1e-5)
    assert max(hits, key=hits.get) == 11


def test_symbol_matches_outrank_body_matches(coderag_factory, tmp_path):
    store = coderag_factory("lexical_store", "bm25s")(tmp_path / "s")
    store.add([LexicalDoc(1, "", "a py", "slugify is called here with slugify"),
               LexicalDoc(2, "slugify", "b py", "def slugify title")])
    store.commit()
    assert [label for label, _ in store.search(["slugify"], 5)] == [2, 1]


def test_deleted_tokens_leave_the_vocabulary(coderag_factory, tmp_path):
    store = coderag_factory("lexical_store", "bm25s")(tmp_path / "s")
    store.add(DOCS)
    store.commit()
    store.delete([12])
    store.commit()
    vocab = next((tmp_path / "s").glob("gen-*")).joinpath("vocab.txt").read_text().split("\n")
    assert "slugify" not in vocab and "http" in vocab
    assert len(list((tmp_path / "s").glob("gen-*"))) == 1, "older generations must be removed"


def test_bad_options_are_config_errors(coderag_factory, tmp_path):
    from coderag.errors import ConfigError

    with pytest.raises(ConfigError, match="k1 > 0"):
        coderag_factory("lexical_store", "bm25s")(tmp_path / "s", k1="0")


def test_loading_the_plugin_does_not_import_bm25s():
    code = ("import sys; from coderag import plugins; plugins.registry('lexical_store'); "
            "print('bm25s' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
