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
from pathlib import Path
from typing import Any
from typing import Callable

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
