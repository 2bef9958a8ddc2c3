"""The exact tier's segment files: written aligned, read as memory maps, any ``.npz`` still readable."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from coderag.stores.hnsw_files import map_npz
from coderag.stores.hnsw_files import write_npz


def arrays(n: int = 257, dim: int = 24) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"labels": rng.permutation(10 * n)[:n].astype(np.int64),
            "vectors": rng.standard_normal((n, dim)).astype(np.float32),
            "removed": np.zeros(0, np.int64), "tombstones": np.array([5, 77], dtype=np.int64)}


def same(found: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert found.keys() == expected.keys()
    for name, array in expected.items():
        assert found[name].dtype == array.dtype and found[name].shape == array.shape
        np.testing.assert_array_equal(found[name], array)


def test_written_segments_are_plain_npz_with_aligned_mapped_arrays(tmp_path):
    path = tmp_path / "delta.npz"
    with open(path, "wb") as f:
        write_npz(f, arrays())
    assert zipfile.ZipFile(path).testzip() is None  # a valid zip, CRCs included
    with np.load(path, allow_pickle=False) as npz:
        same({name: npz[name] for name in npz.files}, arrays())
    mapped = map_npz(path)
    same(mapped, arrays())
    for array in mapped.values():
        assert array.ctypes.data % 64 == 0 and not array.flags.writeable and array.base is not None


def test_segments_np_savez_wrote_are_mapped_and_copied_where_unaligned(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, **arrays())
    mapped = map_npz(path)
    same(mapped, arrays())
    assert all(array.flags.aligned for array in mapped.values())


def test_compressed_segments_are_read_by_numpy(tmp_path):
    path = tmp_path / "packed.npz"
    np.savez_compressed(path, **arrays())
    same(map_npz(path), arrays())


def test_a_damaged_member_header_is_an_error_not_garbage(tmp_path):
    path = tmp_path / "delta.npz"
    with open(path, "wb") as f:
        write_npz(f, arrays())
    raw = bytearray(path.read_bytes())
    raw[0:4] = b"XXXX"  # the first member's local header signature
    path.write_bytes(bytes(raw))
    with pytest.raises((ValueError, zipfile.BadZipFile)):
        map_npz(path)


def test_an_exact_tier_store_reopens_from_its_mapped_segments(tmp_path):
    from coderag.stores.hnsw_store import HnswVectorStore

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = HnswVectorStore(tmp_path / "v", dim=16)
    store.add(np.arange(200), vectors[:200])
    store.commit()
    store.add(np.arange(200, 300), vectors[200:])
    store.delete([3, 4])
    store.commit()
    store.close()
    reader = HnswVectorStore(tmp_path / "v", dim=16, readonly=True)
    best = [label for label, _ in reader.search(vectors[10], 5)]
    expected = [int(i) for i in np.argsort(-(vectors @ vectors[10])) if i not in (3, 4)][:5]
    assert best == expected and len(reader) == 298
    reader.close()
