"""`git coderag watch`: keep the index current with the work tree between commits.

File events (from ``watchdog``) are batched: a batch is flushed after
:data:`QUIET_SECONDS` without events, or at once when :data:`MAX_EVENTS`
have piled up.  A batch whose paths git ignores causes no update; anything
else triggers one incremental update to the work tree *as ``git add -A``
would stage it* (tracked files with their current content, new files that
are not ignored, deleted files gone), computed from git, not from the events,
so a missed or reordered event can never leave the index wrong.

Work-tree files are hashed with ``git hash-object -w`` (git's own clean
filters, so CRLF/LFS rules apply as for ``git add``); their blobs land in the
object database as loose objects that ``git gc`` prunes once unreferenced.

While a watch runs it holds ``watch.lock``: background updates from hooks
step aside (a HEAD update would drop the uncommitted edits), and the watch
itself reacts to git operations (changes of ``HEAD``, the index, branch refs).
"""
from __future__ import annotations

import hashlib
import os
import queue
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from coderag.errors import CoderagError
from coderag.git.plumbing import SYMLINK_MODE
from coderag.git.plumbing import Entry
from coderag.git.plumbing import Repo
from coderag.git.plumbing import decode_path
from coderag.git.plumbing import parse_staged
from coderag.ondisk.layout import WatchLock

WORKTREE = ":worktree"
"""Pseudo-target recorded in the index for a work-tree view."""
QUIET_SECONDS = 0.1
MAX_EVENTS = 50
GIT_FILES = ("HEAD", "index", "ORIG_HEAD", "packed-refs")
"""Files in the git dir whose change means a git operation happened."""


# ---------------------------------------------------------------------------
# the work tree as git would stage it
# ---------------------------------------------------------------------------


def worktree_entries(repo: Repo) -> dict[str, Entry]:
    """Paths of the work tree as ``git add -A`` would stage them, without touching git's index."""
    if repo.bare:
        raise CoderagError("a bare repository has no work tree to watch")
    entries = parse_staged(repo.staged_snapshot())
    out = repo.git("ls-files", "-z", "--modified", "--others", "--exclude-standard")
    to_hash: list[tuple[bytes, str, str]] = []
    for raw in dict.fromkeys(out.split(b"\0")):
        if not raw or raw.endswith(b"/"):  # an untracked nested repository
            continue
        path, on_disk = decode_path(raw), repo.root / os.fsdecode(raw)
        try:
            info = os.lstat(on_disk)
        except (FileNotFoundError, NotADirectoryError):
            entries.pop(path, None)  # deleted in the work tree
            continue
        if stat.S_ISLNK(info.st_mode):
            entries[path] = Entry(path, SYMLINK_MODE, _blob_id(os.fsencode(os.readlink(on_disk))))
        elif stat.S_ISREG(info.st_mode):
            to_hash.append((raw, path, "100755" if info.st_mode & stat.S_IXUSR else "100644"))
        # directories (submodules) keep their staged entry
    if to_hash:
        ids = repo.git("hash-object", "-w", "--stdin-paths", input=b"".join(raw + b"\n" for raw, _, _ in to_hash))
        for (_, path, mode), blob in zip(to_hash, ids.decode().split()):
            entries[path] = Entry(path, mode, blob)
    return entries


def _blob_id(data: bytes) -> str:
    """Git's blob id of ``data`` (symlinks are never read, only told apart)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ---------------------------------------------------------------------------
# batching events
# ---------------------------------------------------------------------------


class EventBatcher:
    """Collects paths from a watcher thread and hands them out in batches.

    :meth:`next_batch` blocks for the first path, then returns after
    ``quiet`` seconds without a new one, or as soon as ``max_events`` are
    pending.  Whatever piled up while the caller was busy (an update) comes
    out at once as one batch.
    """

    def __init__(self, quiet: float = QUIET_SECONDS, max_events: int = MAX_EVENTS) -> None:
        self.quiet = quiet
        self.max_events = max_events
        self._queue: queue.Queue[str] = queue.Queue()

    def put(self, path: str) -> None:
        self._queue.put(path)

    def next_batch(self, stop: threading.Event, poll: float = 0.2) -> list[str]:
        """The next batch of paths, or ``[]`` once ``stop`` is set."""
        batch: list[str] = []
        while not batch:
            if stop.is_set():
                return []
            try:
                batch.append(self._queue.get(timeout=poll))
            except queue.Empty:
                continue
        while True:
            try:
                while True:
                    batch.append(self._queue.get_nowait())  # the backlog, all at once
            except queue.Empty:
                pass
            if len(batch) >= self.max_events:
                return batch
            try:
                batch.append(self._queue.get(timeout=self.quiet))
            except queue.Empty:
                return batch  # quiet: flush


# ---------------------------------------------------------------------------
# the watch loop
# ---------------------------------------------------------------------------


class Watcher:
    """Watches one work tree and keeps its index current (see the module notes)."""

    def __init__(self, index, quiet: bool = False, out=None) -> None:
        if index.repo.bare:
            raise CoderagError("a bare repository has no work tree to watch")
        self.index = index
        self.repo: Repo = index.repo
        self.quiet = quiet
        self.out = out or sys.stdout
        self.batcher = EventBatcher()
        self.stop = threading.Event()
        self._updating = False
        self.updates = 0
        self._updater = None
        self._git_dir = self.repo.git_dir.resolve()
        self._index_dir = self.index.location.root.resolve()
        self._root = self.repo.root.resolve()

    # -- events ---------------------------------------------------------------
    def on_path(self, path: str) -> None:
        """Called from the watchdog thread for every path an event names."""
        if path:
            self.batcher.put(path)

    def relevant(self, paths: list[str]) -> bool:
        """Whether a batch can change what the index should hold."""
        work: list[str] = []
        for name in dict.fromkeys(paths):
            path = Path(name)
            if _inside(path, self._index_dir):
                continue  # our own writes
            if _inside(path, self._git_dir):
                rel = path.relative_to(self._git_dir)
                if rel.parts and (str(rel) in GIT_FILES or rel.parts[0] == "refs") and rel.suffix != ".lock":
                    return True
                continue
            if _inside(path, self._root / ".git"):
                continue  # a linked worktree's shared git dir: objects, logs...
            if _inside(path, self._root) and path != self._root:
                work.append(str(path.relative_to(self._root)))
        if not work:
            return False
        ignored = self.repo.git("check-ignore", "-z", "--stdin", input="\0".join(work).encode() + b"\0",
                                check=False)
        return len({p for p in ignored.decode("utf-8", "surrogateescape").split("\0") if p}) < len(set(work))

    # -- updates --------------------------------------------------------------
    def update(self) -> None:
        from coderag.config import load_settings
        from coderag.indexing.update import Updater

        if self._updater is None:
            self._updater = Updater(self.repo, load_settings(self.repo.root))
        started = time.perf_counter()
        self._updating = True
        try:
            entries = worktree_entries(self.repo)
            report = self._updater.run(WORKTREE, entries=entries, commit=self.repo.resolve("HEAD"), wait=True)
        finally:
            self._updating = False
        self.updates += 1
        if not self.quiet:
            rebuilt = f" (new index: {report.rebuilt_because})" if report.rebuilt_because else ""
            print(f"{time.strftime('%H:%M:%S')} work tree indexed: +{report.files_added} "
                  f"-{report.files_removed} files, {report.chunks_embedded} chunks embedded, "
                  f"{time.perf_counter() - started:.2f}s{rebuilt}", file=self.out, flush=True)

    def _catch_ctrl_c(self):
        """Between updates, Ctrl-C only asks the loop to stop; during one it interrupts it.

        A KeyboardInterrupt raised inside ``queue.get(timeout=...)`` can leave the
        queue's lock held, and the watchdog thread, which puts paths into that queue
        while holding the observer's lock, then blocks ``observer.stop()`` for ever.
        The previous handler is returned (``None`` off the main thread, where no
        handler can be set).
        """
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_ctrl_c(signum, frame) -> None:
            if self._updating or self.stop.is_set():
                raise KeyboardInterrupt  # the updater rolls an update in flight back
            self.stop.set()

        return signal.signal(signal.SIGINT, on_ctrl_c)

    def run(self, ready: Callable[[], None] | None = None) -> int:
        """Watch until :attr:`stop` is set or Ctrl-C; returns the exit status."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reads change nothing
                watcher.on_path(os.fsdecode(event.src_path))
                watcher.on_path(os.fsdecode(getattr(event, "dest_path", "") or ""))

        lock = WatchLock(self.index.location.root)
        lock.acquire(wait=False)
        observer = Observer()
        previous = self._catch_ctrl_c()
        try:
            observer.schedule(Handler(), str(self._root), recursive=True)
            if not _inside(self._git_dir, self._root):  # a linked worktree: its HEAD/index live elsewhere
                observer.schedule(Handler(), str(self._git_dir), recursive=False)
            observer.start()
            self.update()
            if not self.quiet:
                print(f"watching {self._root} (Ctrl-C to stop)", file=self.out, flush=True)
            if ready:
                ready()
            while not self.stop.is_set():
                batch = self.batcher.next_batch(self.stop)
                if batch and self.relevant(batch):
                    try:
                        self.update()
                    except CoderagError as exc:  # e.g. a bad config edit: report, keep watching
                        print(f"coderag: error: {exc}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            pass  # Ctrl-C: an update in flight was rolled back by the updater
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            observer.stop()
            observer.join(timeout=5)
            lock.release()
        if not self.quiet:
            print("watch stopped", file=self.out, flush=True)
        return 0


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def watch(index, quiet: bool = False) -> int:
    """Entry point of ``git coderag watch``."""
    return Watcher(index, quiet=quiet).run()
