"""The ``hnsw`` vector store's files: its manifest, which files it names, and what garbage is.

The layout (described in :mod:`coderag.stores.hnsw_store`): graph shards
``base-<gen>-<n>.hnsw`` with their ``.labels.npy``, the exact tier's
segments ``delta-<gen>.npz`` (read and written by
:mod:`coderag.stores.hnsw_delta`) and ``manifest.json``, the commit point.
Everything here reads the manifest or checks files against it; the store
decides when.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np

from coderag.filemap import map_read_only
from coderag.errors import IndexCorrupt
from coderag.stores.atomic import TMP_SUFFIX

FORMAT = "coderag-hnsw/3"
READABLE_FORMATS = ("coderag-hnsw/1", "coderag-hnsw/2", FORMAT)  # /1: one graph under "base"; /2: one delta
MANIFEST = "manifest.json"
GENERATION_FILE = re.compile(r"^(?:base|delta)-\d{8}[.-]")

Corrupt = Callable[[str], IndexCorrupt]
"""Builds the store's one-line :class:`IndexCorrupt` from what is wrong."""


def read_manifest(directory: Path, dim: int, space: str, corrupt: Corrupt) -> dict[str, Any] | None:
    """The committed manifest, checked against the store's ``dim`` and ``space``; ``None`` if never committed."""
    try:
        raw = (directory / MANIFEST).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if directory.is_dir() and any(GENERATION_FILE.match(n) for n in os.listdir(directory)):
            raise corrupt(f"{MANIFEST} is missing") from None
        return None
    try:
        manifest = json.loads(raw)
        fmt, found_dim, found_space = manifest["format"], manifest["dim"], manifest["space"]
        int(manifest["generation"])
    except (ValueError, KeyError, TypeError):
        raise corrupt(f"{MANIFEST} is unreadable") from None
    if fmt not in READABLE_FORMATS:
        raise corrupt(f"unknown format {fmt!r}")
    if found_dim != dim or found_space != space:
        raise corrupt(f"built for {found_space} vectors of dim {found_dim}, not {space}/{dim}")
    return manifest


def checked_path(directory: Path, entry: dict[str, Any], key: str, corrupt: Corrupt) -> Path:
    """The file ``entry[key]`` names, if its size is the one the manifest recorded.

    A missing file raises :class:`FileNotFoundError`: the store retries with a
    newer manifest (a writer may have just replaced it).
    """
    path = directory / entry[key]
    size = path.stat().st_size
    if size != entry[key + "_bytes"]:
        raise corrupt(f"{path.name} has {size} bytes, expected {entry[key + '_bytes']}")
    return path


def base_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The graph shards a manifest names (format 1 had a single ``base``)."""
    if "bases" in manifest:
        return list(manifest["bases"])
    return [manifest["base"]] if manifest.get("base") else []


def delta_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The exact tier's segments a manifest names, oldest first (format 2 had one ``delta``)."""
    if "deltas" in manifest:
        return list(manifest["deltas"])
    return [manifest["delta"]] if manifest.get("delta") else []


def collect_garbage(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete temp files and files of generations ``manifest`` no longer uses."""
    keep = {MANIFEST}
    for entry in [*base_entries(manifest), *delta_entries(manifest)]:
        if entry:
            keep.update(v for k, v in entry.items() if k in ("file", "labels_file"))
    for name in os.listdir(directory):
        if name not in keep and (name.endswith(TMP_SUFFIX) or GENERATION_FILE.match(name)):
            with contextlib.suppress(OSError):
                os.unlink(directory / name)


def map_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` (as ``np.savez`` writes them) as read-only views of a memory map.

    ``np.load`` reads every byte and checks the zip CRC on the way: for the
    exact tier of a mid-size repository (23 MB) that was ~17 ms of every
    search's start.  Mapped, a search touches the pages its matrix product
    reads, from the page cache.  Torn files cannot happen (segments are
    written aside and renamed, and their size is checked against the
    manifest), so the CRC guarded nothing a reader meets.  A member that is
    compressed, or not a plain C-ordered array, is read by ``np.load``.
    """
    with open(path, "rb") as file, zipfile.ZipFile(file) as archive:
        members = archive.infolist()
        if any(m.compress_type != zipfile.ZIP_STORED for m in members):
            return _loaded(path)
        size = file.seek(0, 2)
        data = map_read_only(file) if size else None
        arrays: dict[str, np.ndarray] = {}
        for member in members:
            file.seek(member.header_offset)
            local = file.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise ValueError(f"{path.name}: bad zip member header")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            file.seek(member.header_offset + 30 + name_length + extra_length)
            start = file.tell()
            version = np.lib.format.read_magic(file)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(file) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(file))
            if fortran or dtype.hasobject or data is None:
                return _loaded(path)
            offset = file.tell()
            count = int(np.prod(shape, dtype=np.int64))
            if offset - start + count * dtype.itemsize != member.file_size or start + member.file_size > size:
                raise ValueError(f"{path.name}: member {member.filename} does not hold its array")
            array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
            # BLAS refuses unaligned arrays (a matrix product over one was ~6x slower): a segment
            # written by np.savez rather than write_npz is copied.
            arrays[member.filename.removesuffix(".npy")] = np.require(array, requirements="A")
        return arrays


_ALIGN = 64  # np.save pads an array's header to a multiple of 64 bytes: its data is aligned if its start is
_PADDING_FIELD = 0xCA64
"""Zip extra-field id of the padding record (readers skip ids they do not know)."""


def write_npz(file, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` whose arrays' data start at 64-byte offsets.

    ``np.load`` reads it like any ``.npz``; :func:`map_npz` maps its arrays
    without a copy. Each zip member's local header gets a padding record in
    its extra field. Members that need zip64 (over 2 GB) are written as
    ``np.savez`` writes them, unaligned.
    """
    if sum(array.nbytes for array in arrays.values()) > (1 << 31):
        np.savez(file, **arrays)
        return
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            header_end = file.tell() + 30 + len(info.filename.encode()) + 4
            padding = -header_end % _ALIGN
            info.extra = struct.pack("<HH", _PADDING_FIELD, padding) + bytes(padding)
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _loaded(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
