"""Crash-safe file writes: write a temporary file beside the target, fsync, rename.

``os.replace`` within one directory is atomic on POSIX and Windows, so a
reader (or a process restarted after ``kill -9`` or a power cut) sees either
the old file or the complete new one, never a prefix of it.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO
from typing import Any
from typing import Iterator

TMP_SUFFIX = ".tmp"
"""Suffix of in-flight temporary files; stores may delete leftovers on open."""


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; renames are durable there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """Flush a file that another library wrote (e.g. ``hnswlib.save_index``) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(target: Path) -> Path:
    """A fresh, unique temporary path in ``target``'s directory."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    return Path(name)


def commit_file(tmp: Path, target: Path, *, sync_dir: bool = True) -> None:
    """fsync ``tmp`` and rename it over ``target``."""
    fsync_path(tmp)
    os.replace(tmp, target)
    if sync_dir:
        fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_writer(target: Path, *, sync_dir: bool = True) -> Iterator[IO[bytes]]:
    """Open a binary temp file that replaces ``target`` when the block exits cleanly.

    On an exception the temporary file is removed and ``target`` is untouched.
    """
    tmp = temp_path(target)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(target.parent)


def write_bytes_atomic(target: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Atomically replace ``target`` with ``data``."""
    with atomic_writer(target, sync_dir=sync_dir) as f:
        f.write(data)


def write_json_atomic(target: Path, obj: Any, *, sync_dir: bool = True) -> None:
    """Atomically replace ``target`` with ``obj`` as indented JSON."""
    data = json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n"
    write_bytes_atomic(target, data, sync_dir=sync_dir)
