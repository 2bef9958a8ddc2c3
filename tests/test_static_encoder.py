"""The static encoder gives model2vec's vectors without the model2vec runtime."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from model2vec import StaticModel

from coderag.embedding import static_encoder
from coderag.embedding.model2vec_embedder import DEFAULT_MODEL_DIR
from coderag.embedding.static_encoder import StaticEncoder

TEXTS = [
    "def parse_http_header(line):\n    return line.split(':', 1)",
    "retry with exponential backoff",
    "x" * 5000,
    "",
    "   ",
    "class HTTPServer:\n    '''Serve ünïcode ✓ and 漢字.'''",
]


def same_vectors(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, np.asarray(theirs, dtype=np.float32), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_length", [None, 16])
@pytest.mark.parametrize("slice_tokens", [1 << 16, 7])  # 7: equal-length texts pool over several steps
def test_bundled_model_encodes_like_model2vec(max_length, slice_tokens, monkeypatch):
    monkeypatch.setattr(static_encoder, "_SLICE_TOKENS", slice_tokens)
    ours = StaticEncoder.from_folder(DEFAULT_MODEL_DIR)
    assert ours is not None and ours.dim == 384
    theirs = StaticModel.from_pretrained(str(DEFAULT_MODEL_DIR))
    texts = TEXTS + [f"word{i} token{i}" for i in range(30)]
    same_vectors(ours.encode(texts, max_length=max_length),
                 theirs.encode(texts, max_length=max_length, normalize=False, use_multiprocessing=False))
    assert not ours.encode(["", "  "]).any()  # no tokens, a zero vector (as model2vec)


def test_weighted_and_remapped_model_encodes_like_model2vec(tmp_path):
    bundled = StaticModel.from_pretrained(str(DEFAULT_MODEL_DIR))
    vocab = len(bundled.tokens)
    rng = np.random.default_rng(0)
    model = StaticModel(
        vectors=rng.normal(size=(50, 8)).astype(np.float32),
        tokenizer=bundled.tokenizer,
        weights=rng.uniform(0.1, 2.0, size=vocab).astype(np.float32),
        token_mapping=rng.integers(0, 50, size=vocab),
        max_length=None,
    )
    model.save_pretrained(str(tmp_path / "m"))
    ours = StaticEncoder.from_folder(tmp_path / "m")
    assert ours is not None and ours.weights is not None and ours.token_mapping is not None
    texts = TEXTS * 3 + [f"token{i} and word{i * 7}" for i in range(40)]
    same_vectors(ours.encode(texts), model.encode(texts, max_length=None, normalize=False,
                                                  use_multiprocessing=False))


def test_folder_without_the_plain_layout_is_left_to_model2vec(tmp_path):
    assert StaticEncoder.from_folder(tmp_path) is None
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert StaticEncoder.from_folder(tmp_path) is None


def test_query_embedding_never_imports_model2vec():
    code = (
        "import sys\n"
        "from coderag.embedding.model2vec_embedder import Model2VecEmbedder\n"
        "vector = Model2VecEmbedder().embed_query('retry with backoff')\n"
        "assert abs(float((vector ** 2).sum()) - 1) < 1e-5\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('model2vec', 'huggingface_hub', 'tokenizers', 'safetensors')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_query_never_hashes_the_model_folder(monkeypatch):
    # Hashing the weights (~20 ms) identifies the model for an update; a search does not need it.
    from coderag.embedding import model2vec_embedder

    def refuse(folder):
        raise AssertionError("the model folder was hashed")

    monkeypatch.setattr(model2vec_embedder, "model_fingerprint", refuse)
    embedder = model2vec_embedder.Model2VecEmbedder()
    assert embedder.embed_query("retry with backoff").shape == (embedder.dim,)
    with pytest.raises(AssertionError, match="hashed"):
        embedder.model_id


def test_mapped_tensors_equal_the_safetensors_library(tmp_path):
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file

    from coderag.embedding.safetensors_file import map_tensors

    mapped = map_tensors(DEFAULT_MODEL_DIR / "model.safetensors")
    loaded = load_file(str(DEFAULT_MODEL_DIR / "model.safetensors"))
    assert mapped.keys() == loaded.keys()
    for name, array in loaded.items():
        assert mapped[name].dtype == array.dtype and not mapped[name].flags.writeable
        np.testing.assert_array_equal(mapped[name], array)

    tensors = {"a": np.arange(12, dtype=np.float16).reshape(3, 4), "b": np.array([7], dtype=np.int64),
               "c": np.zeros((0, 5), dtype=np.float32), "d": np.array(3.5, dtype=np.float64)}
    save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"format": "np"})
    mapped = map_tensors(tmp_path / "t.safetensors")
    for name, array in tensors.items():
        assert mapped[name].shape == array.shape
        np.testing.assert_array_equal(mapped[name], array)


@pytest.mark.parametrize("damage", ["empty", "short_header", "bad_json", "unknown_dtype", "truncated"])
def test_a_file_the_map_cannot_read_is_left_to_the_library(tmp_path, damage):
    import json
    import struct

    from coderag.embedding.safetensors_file import map_tensors

    header = {"embeddings": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    if damage == "unknown_dtype":
        header["embeddings"] = {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}
    raw = json.dumps(header).encode()
    data = {"empty": b"", "short_header": b"\x01\x00",
            "bad_json": struct.pack("<Q", 5) + b"{nope" + bytes(16),
            "unknown_dtype": struct.pack("<Q", len(raw)) + raw + bytes(8),
            "truncated": struct.pack("<Q", len(raw)) + raw + bytes(8)}[damage]
    (tmp_path / "m.safetensors").write_bytes(data)
    assert map_tensors(tmp_path / "m.safetensors") is None
