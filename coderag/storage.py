"""Where an index lives on disk, and the lock that keeps to one writer.

Layout under ``$(git rev-parse --git-path coderag)``::

    CURRENT          name of the live data directory (swapped atomically)
    write.lock       held (flock) by the one process updating the index
    status.json      what the last background update did (for ``status``)
    data-<id>/       manifest.sqlite, vectors/, lexical/

A full rebuild writes a new data directory and swaps ``CURRENT``, so readers
keep the old index until the new one is complete.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from coderag.errors import IndexBusy

MANIFEST_NAME = "manifest.sqlite"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class IndexLocation:
    """The files of one repository's index."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def current_file(self) -> Path:
        return self.root / "CURRENT"

    def current(self) -> Path | None:
        """The live data directory, or ``None`` when no index was ever built."""
        try:
            name = self.current_file.read_text().strip()
        except FileNotFoundError:
            return None
        if not name or "/" in name:
            return None
        return self.root / name

    def new_data_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"data-{int(time.time() * 1000):x}-{os.getpid()}"
        path.mkdir()
        return path

    def switch(self, data_dir: Path) -> None:
        """Make ``data_dir`` the live index and remove the ones it replaces."""
        write_atomic(self.current_file, data_dir.name.encode())
        self.remove_stale(keep=data_dir)

    def remove_stale(self, keep: Path | None) -> None:
        keep_name = keep.name if keep else None
        for child in self.root.glob("data-*"):
            if child.name != keep_name:
                shutil.rmtree(child, ignore_errors=True)

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    def write_status(self, status: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.status_file, json.dumps(status, indent=1).encode())

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}


class WriteLock:
    """An exclusive ``flock`` on ``write.lock``; the kernel frees it if the holder dies.

    Because the lock is held by an open file, a process killed with ``kill -9``
    never leaves a stale lock behind; the pid written inside is informational.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "write.lock"
        self._handle = None

    def acquire(self, wait: bool = True, timeout: float | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    handle.close()
                    raise
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    holder = self.holder()
                    handle.close()
                    raise IndexBusy(
                        f"another coderag process{f' (pid {holder})' if holder else ''} is updating this index"
                    ) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def holder(self) -> int | None:
        """Pid of the process holding the lock, if any."""
        try:
            with open(self.path) as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    text = handle.read().strip()
                    return int(text) if text.isdigit() else -1
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return None
        except FileNotFoundError:
            return None

    def release(self) -> None:
        if self._handle is not None:
            try:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            finally:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> "WriteLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
