"""The embedder contract: what every :class:`~coderag.protocols.Embedder` must do."""
from __future__ import annotations

import pickle
from typing import Callable

import numpy as np
import pytest

from coderag.protocols import Embedder
from coderag.testing.samples import EMBED_TEXTS
from coderag.testing.samples import HOSTILE_TEXTS


def assert_unit_rows(vectors: np.ndarray, what: str, atol: float = 1e-3) -> None:
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > atol)
    assert not len(bad), f"{what}: rows {bad[:5].tolist()} have norms {norms[bad[:5]].tolist()}, not 1"


class EmbedderContract:
    """Contract tests for an embedder.  Subclass it and override :meth:`factory`::

        from coderag.testing import EmbedderContract

        class TestMyEmbedder(EmbedderContract):
            @pytest.fixture
            def factory(self):
                return my_package.make_embedder

    Optional fixtures: ``options`` (factory keyword arguments), ``texts``
    (documents to embed) and ``atol`` (how far two computations of the same
    vector may differ: batching changes float summation order, so exact
    equality is not required).
    """

    @pytest.fixture
    def factory(self) -> Callable[..., Embedder]:
        raise NotImplementedError(
            "override the `factory` fixture in your EmbedderContract subclass: "
            "return the embedder factory your plugin registers"
        )

    @pytest.fixture
    def options(self) -> dict:
        return {}

    @pytest.fixture
    def embedder(self, factory, options) -> Embedder:
        return factory(**options)

    @pytest.fixture
    def texts(self) -> list[str]:
        return list(EMBED_TEXTS)

    @pytest.fixture
    def atol(self) -> float:
        return 1e-4

    # ------------------------------------------------------------------ tests

    def test_satisfies_protocol(self, embedder):
        assert isinstance(embedder, Embedder), "needs `model_id`, `dim`, `embed_documents`, `embed_query`"
        assert isinstance(embedder.model_id, str) and embedder.model_id
        assert isinstance(embedder.dim, int) and not isinstance(embedder.dim, bool) and embedder.dim > 0

    def test_documents_shape_and_dtype(self, embedder, texts):
        vectors = embedder.embed_documents(texts)
        assert isinstance(vectors, np.ndarray)
        assert vectors.shape == (len(texts), embedder.dim)
        assert vectors.dtype == np.float32
        assert np.isfinite(vectors).all()

    def test_empty_batch(self, embedder):
        vectors = embedder.embed_documents([])
        assert vectors.shape == (0, embedder.dim) and vectors.dtype == np.float32

    def test_accepts_any_sequence(self, embedder, texts, atol):
        as_list = embedder.embed_documents(list(texts))
        np.testing.assert_allclose(embedder.embed_documents(tuple(texts)), as_list, atol=atol)

    def test_rows_are_unit_length(self, embedder, texts):
        assert_unit_rows(embedder.embed_documents(texts), "embed_documents")

    def test_query_vector(self, embedder, texts):
        query = embedder.embed_query(texts[0])
        assert isinstance(query, np.ndarray)
        assert query.shape == (embedder.dim,) and query.dtype == np.float32
        assert_unit_rows(query.reshape(1, -1), "embed_query")

    def test_batch_equals_single(self, embedder, texts, atol):
        batch = embedder.embed_documents(texts)
        for i, text in enumerate(texts):
            single = embedder.embed_documents([text])[0]
            np.testing.assert_allclose(batch[i], single, atol=atol,
                                       err_msg=f"text {i} embeds differently alone and in a batch")

    def test_deterministic(self, embedder, factory, options, texts, atol):
        first = embedder.embed_documents(texts)
        np.testing.assert_allclose(embedder.embed_documents(texts), first, atol=atol)
        again = factory(**options)
        assert again.model_id == embedder.model_id, "model_id must not change between instances"
        assert again.dim == embedder.dim
        np.testing.assert_allclose(again.embed_documents(texts), first, atol=atol,
                                   err_msg="a second instance from the factory embeds differently")

    def test_picklable_for_workers(self, embedder, texts, atol):
        # Worker processes re-create or unpickle the embedder: it must give the same vectors.
        first = embedder.embed_documents(texts[:3])
        copy = pickle.loads(pickle.dumps(embedder))
        assert copy.model_id == embedder.model_id and copy.dim == embedder.dim
        np.testing.assert_allclose(copy.embed_documents(texts[:3]), first, atol=atol)

    def test_distinct_texts_get_distinct_vectors(self, embedder, texts):
        vectors = embedder.embed_documents(texts).astype(np.float64)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, 0.0)
        assert sims.max() < 0.9999, "different texts embed to the same vector: is the model loaded?"

    def test_hostile_texts(self, embedder):
        # A text the model cannot read (no known token: empty, control characters,
        # one 50,000-character "word") may map to the zero vector, meaning "no
        # information"; never to NaN, and any other vector is unit length.
        vectors = embedder.embed_documents(HOSTILE_TEXTS)
        assert vectors.shape == (len(HOSTILE_TEXTS), embedder.dim) and vectors.dtype == np.float32
        assert np.isfinite(vectors).all()
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        for text, norm in zip(HOSTILE_TEXTS, norms):
            assert abs(norm - 1.0) < 1e-3 or norm < 1e-6, f"text {text[:20]!r}... has norm {norm}"
        assert abs(norms[-1] - 1.0) < 1e-3, "a long text of ordinary words must embed (truncate it if needed)"
