"""Where an index lives on disk, and the locks that keep to one writer.

Layout under ``$(git rev-parse --git-path coderag)``::

    CURRENT          name of the live data directory (swapped atomically)
    write.lock       held (flock) by the one process writing the index
    runner.lock      held (flock) by the one background updater, if any
    watch.lock       held (flock) while `git coderag watch` runs
    update.request   the latest update asked of the background updater
    status.json      what the last background update did (for ``status``)
    background.log   output of background updates (kept small)
    data-<id>/       manifest.sqlite, vectors/, lexical/

A full rebuild writes a new data directory and swaps ``CURRENT``, so readers
keep the old index until the new one is complete.

Every lock is an ``flock`` on an open file, so the kernel releases it when
its holder exits, however it dies: a ``kill -9`` never leaves a stale lock.
The pid written inside a lock file is informational only; a lock file whose
process is gone is simply reacquired (and its pid overwritten).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from coderag.errors import IndexBusy

MANIFEST_NAME = "manifest.sqlite"
REQUEST_MAGIC = b"coderag-request 1"
LOG_MAX_BYTES = 256 * 1024


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so a crash leaves the old or the new content.

    ``durable=False`` skips the fsync: the rename is still atomic for readers and
    for a killed process; only a power cut could lose the write.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class UpdateRequest:
    """What the background updater is asked to do next.

    ``target`` is a revision or ``":staged"``; for the staging area,
    ``snapshot`` holds the ``git ls-files -s -z`` output taken when the
    request was made.
    """

    target: str
    full: bool = False
    snapshot: bytes = b""
    requested_at: float = 0.0
    tree: str = ""
    """Tree id of the snapshot (``git write-tree``), so a staged index that equals HEAD reads as current."""

    def encode(self) -> bytes:
        header = json.dumps({"target": self.target, "full": self.full, "requested_at": self.requested_at,
                             "tree": self.tree})
        return REQUEST_MAGIC + b"\n" + header.encode() + b"\n" + self.snapshot

    @classmethod
    def decode(cls, data: bytes) -> "UpdateRequest | None":
        magic, _, rest = data.partition(b"\n")
        header, _, snapshot = rest.partition(b"\n")
        if magic != REQUEST_MAGIC:
            return None
        try:
            meta = json.loads(header)
            return cls(str(meta["target"]), bool(meta.get("full")), snapshot, float(meta.get("requested_at", 0)),
                       str(meta.get("tree") or ""))
        except (ValueError, KeyError, TypeError):
            return None


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
        """Delete data directories other than ``keep`` (call with the write lock held)."""
        import shutil  # only an update removes directories: searching never pays its import

        keep_name = keep.name if keep else None
        for child in self.root.glob("data-*"):
            if child.name != keep_name:
                shutil.rmtree(child, ignore_errors=True)

    # -- background updates ---------------------------------------------------
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

    @property
    def request_file(self) -> Path:
        return self.root / "update.request"

    def write_request(self, request: UpdateRequest) -> None:
        """Record ``request``, replacing any older one that was not started yet (they coalesce)."""
        self.root.mkdir(parents=True, exist_ok=True)
        # No fsync on the commit path: a request lost to a power cut only leaves the index stale.
        write_atomic(self.request_file, request.encode(), durable=False)

    def has_request(self) -> bool:
        return self.request_file.exists()

    def take_request(self) -> UpdateRequest | None:
        """Claim the pending request (renaming it first, so two takers never both get it)."""
        claimed = self.root / f".update.request.{os.getpid()}"
        try:
            os.replace(self.request_file, claimed)
        except FileNotFoundError:
            return None
        try:
            return UpdateRequest.decode(claimed.read_bytes())
        finally:
            claimed.unlink(missing_ok=True)

    @property
    def log_file(self) -> Path:
        return self.root / "background.log"

    def open_log(self):
        """The background log, opened for appending; restarted when it grows past a limit."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            if self.log_file.stat().st_size > LOG_MAX_BYTES:
                os.replace(self.log_file, self.log_file.with_suffix(".log.1"))
        except FileNotFoundError:
            pass
        return open(self.log_file, "ab")


class FileLock:
    """An exclusive ``flock`` on a file; the kernel frees it if the holder dies.

    Because the lock belongs to an open file, a process killed with
    ``kill -9`` never leaves a stale lock behind; the pid written inside is
    informational.  A lock can be handed to a child process by passing
    :attr:`fileno` (the child inherits the same open file, hence the lock).
    """

    busy_message = "another coderag process{holder} holds {name}"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    @classmethod
    def adopt(cls, path: Path, fd: int) -> "FileLock":
        """Own a lock inherited from a parent process through file descriptor ``fd``."""
        lock = cls.__new__(cls)
        FileLock.__init__(lock, path)
        lock._handle = os.fdopen(fd, "a+")
        lock._handle.truncate(0)
        lock._handle.write(f"{os.getpid()}\n")
        lock._handle.flush()
        return lock

    @property
    def fileno(self) -> int:
        assert self._handle is not None, "lock not held"
        return self._handle.fileno()

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        try:
            self.acquire(wait=False)
        except IndexBusy:
            return False
        return True

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
                    raise IndexBusy(self.busy_message.format(
                        holder=f" (pid {holder})" if holder and holder > 0 else "", name=self.path.name)) from None
                time.sleep(0.05)
        # Whatever a dead holder wrote here is overwritten: that is all "clearing" a stale lock takes.
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def holder(self) -> int | None:
        """Pid of the live process holding the lock (``-1`` if unknown), or ``None`` if it is free."""
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

    def detach(self) -> None:
        """Close our handle without unlocking (a child that inherited it now owns the lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class WriteLock(FileLock):
    """The one-writer lock of an index (``write.lock``)."""

    busy_message = "another coderag process{holder} is updating this index"

    def __init__(self, root: Path) -> None:
        super().__init__(root / "write.lock")


class RunnerLock(FileLock):
    """Held by the single background updater (``runner.lock``); hooks start one only if it is free."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "runner.lock")


class WatchLock(FileLock):
    """Held while `git coderag watch` runs (``watch.lock``): updates then target the work tree."""

    busy_message = "`git coderag watch` is already running{holder} for this work tree"

    def __init__(self, root: Path) -> None:
        super().__init__(root / "watch.lock")
