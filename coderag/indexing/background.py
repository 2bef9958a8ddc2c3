"""Background index updates: a git hook asks for one and returns at once.

The hook side (:func:`request_update`) costs a few git plumbing calls and a
small file write:

1. it records the request in ``update.request``, replacing an older one
   that has not started (requests coalesce: a rebase of 50 commits runs a
   couple of updates, not 50); for ``--staged`` the request carries the
   ``git ls-files -s`` snapshot, because git may have used a temporary
   index file that is gone by the time the update runs;
2. it takes ``runner.lock`` without waiting; if it gets it, it starts a
   detached updater process that inherits the lock; if not, an updater is
   already running and will take the request.

The updater (:func:`run_requests`) takes requests until none is left, then
releases ``runner.lock`` and looks once more: a request written just before
the release is either seen by that last look, or its writer found the lock
free and started a new updater.  No request is lost and at most one updater
runs per index.  Each update takes ``write.lock`` like any other writer and
records its outcome in ``status.json``; failures never reach git.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable

from coderag.errors import CoderagError
from coderag.git.plumbing import STAGED
from coderag.git.plumbing import Repo
from coderag.ondisk.layout import FileLock
from coderag.ondisk.layout import IndexLocation
from coderag.ondisk.layout import RunnerLock
from coderag.ondisk.layout import UpdateRequest
from coderag.ondisk.layout import WatchLock
from coderag.ondisk.layout import WriteLock

LOST_REQUEST_GRACE = 2.0
"""Seconds a waiter tolerates a request that no updater has taken (one is just starting)."""


def request_update(repo: Repo, target: str = "HEAD", *, staged: bool = False, full: bool = False) -> str:
    """Ask for an update in the background; returns ``"started"`` or ``"queued"``.

    Cheap enough for a commit hook: nothing heavy is imported and nothing
    waits for indexing.
    """
    location = IndexLocation(repo.index_dir())
    snapshot = repo.staged_snapshot() if staged else b""
    tree = (repo.staged_tree() or "") if staged else ""
    location.write_request(UpdateRequest(STAGED if staged else target, full, snapshot, time.time(), tree))
    runner = RunnerLock(location.root)
    if not runner.try_acquire():
        return "queued"
    try:
        _spawn_updater(repo, location, runner)
    except BaseException:
        runner.release()
        raise
    runner.detach()  # the child holds the lock now
    return "started"


def _spawn_updater(repo: Repo, location: IndexLocation, runner: FileLock) -> None:
    env = dict(os.environ)
    # A hook's GIT_INDEX_FILE may be a temporary file and GIT_DIR/GIT_PREFIX
    # relative to the hook's directory: pin the repository instead.
    for name in ("GIT_INDEX_FILE", "GIT_PREFIX", "GIT_DIR", "GIT_WORK_TREE"):
        env.pop(name, None)
    env["GIT_DIR"] = str(repo.git_dir)
    if not repo.bare:
        env["GIT_WORK_TREE"] = str(repo.root)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # -P: never import from the working directory (a bare repository's index dir is named "coderag").
    command = [sys.executable, "-P", "-m", "coderag.indexing.background", str(repo.root), str(runner.fileno)]
    with location.open_log() as log:
        # Output goes to the log, never to the hook's pipes: git (and pre-commit)
        # would otherwise wait for the updater to close them.
        subprocess.Popen(command, cwd=str(repo.root), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         env=env, start_new_session=True, close_fds=True, pass_fds=(runner.fileno,))


def run_requests(repo_root: str, lock_fd: int) -> int:
    """The updater process: serve requests until none is left (see the module notes)."""
    try:
        os.nice(10)  # background work yields the CPU to whatever the user does next
    except OSError:
        pass
    repo = Repo.discover(repo_root)
    location = IndexLocation(repo.index_dir())
    runner = FileLock.adopt(RunnerLock(location.root).path, lock_fd)
    while True:
        try:
            while (request := location.take_request()) is not None:
                run_one(repo, location, request)
        finally:
            runner.release()
        if not location.has_request():
            return 0
        runner = RunnerLock(location.root)
        if not runner.try_acquire():
            return 0  # another updater started meanwhile; it takes the request


def run_one(repo: Repo, location: IndexLocation, request: UpdateRequest) -> dict:
    """Run one requested update and record its outcome in ``status.json``."""
    status: dict = {"pid": os.getpid(), "target": request.target, "full": request.full,
                    "requested_at": request.requested_at, "started_at": time.time()}
    try:
        if WatchLock(location.root).holder() is not None:
            # The watcher indexes the work tree (which includes this change) and
            # reacts to git operations itself; a HEAD update would undo its work.
            status.update(ok=True, skipped="`git coderag watch` is keeping this index current")
        else:
            status.update(ok=True, report=_update(repo, request))
    except Exception as exc:  # recorded for `status`; a hook must never see it
        status.update(ok=False, error=f"{type(exc).__name__}: {exc}".splitlines()[0] if not
                      isinstance(exc, CoderagError) else str(exc).splitlines()[0])
        if not isinstance(exc, CoderagError):
            import traceback  # only for a bug's report: searching never pays its import

            traceback.print_exc()
    status["finished_at"] = time.time()
    location.write_status(status)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid={os.getpid()} {request.target}: "
          f"{'ok' if status['ok'] else 'FAILED: ' + status['error']}", flush=True)
    return status


def _update(repo: Repo, request: UpdateRequest) -> dict:
    from coderag.config import load_settings
    from coderag.git.plumbing import parse_staged
    from coderag.indexing.update import Updater

    entries = parse_staged(request.snapshot) if request.target == STAGED else None
    report = Updater(repo, load_settings(repo.root)).run(request.target, full=request.full, wait=True,
                                                         entries=entries, tree=request.tree or None)
    summary = report.to_dict()
    summary.pop("seconds", None)
    return summary


# ---------------------------------------------------------------------------
# what readers see
# ---------------------------------------------------------------------------


def background_state(location: IndexLocation) -> dict:
    """``{"updating": bool, "update_pid": int | None, "pending": bool}`` for ``status``/``search``."""
    runner = RunnerLock(location.root).holder()
    writer = WriteLock(location.root).holder()
    pid = writer or runner
    return {"updating": pid is not None, "update_pid": pid, "pending": location.has_request()}


def wait_until_idle(location: IndexLocation, timeout: float = 600.0,
                    is_stale: Callable[[], bool] | None = None) -> bool:
    """Wait until no update runs or is pending; ``False`` on timeout.

    :param is_stale: tells whether the index is behind HEAD.  A hook starts
        its request detached, so for a moment after a commit nothing is
        pending yet; while the index is stale we give a request that long
        to show up.
    """
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        state = background_state(location)
        if state["updating"]:
            quiet_since = None
        else:
            if not state["pending"] and (is_stale is None or not is_stale()):
                return True
            # A request nobody serves yet, or a stale index with no request:
            # an updater or a hook is starting.  Give up after a grace period.
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > LOST_REQUEST_GRACE:
                return True
        time.sleep(0.05)
    return False

if __name__ == "__main__":
    sys.exit(run_requests(sys.argv[1], int(sys.argv[2])))
