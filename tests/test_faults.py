"""Faults: kill -9 at random moments, concurrent writers and readers, damaged files, old formats."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from indexcheck import change_some
from indexcheck import check_consistent
from indexcheck import generated_files
from indexcheck import indexed
from indexcheck import location
from indexcheck import tree

from coderag import Index
from coderag.config import load_settings
from coderag.git.plumbing import Repo
from coderag.indexing.update import Updater
from coderag.ondisk.layout import WriteLock

# ---------------------------------------------------------------------------
# kill -9
# ---------------------------------------------------------------------------


def forked_update(updater: Updater, full: bool) -> int:
    """Run one update in a forked child (warm: the model is already loaded); returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            updater.run(full=full)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_exit(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def kill_after(pid: int, delay: float) -> tuple[int, float]:
    """SIGKILL ``pid`` after ``delay`` seconds unless it exits first; ``(exit code, seconds it ran)``."""
    start = time.perf_counter()
    while time.perf_counter() - start < delay:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.perf_counter() - start
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    return wait_exit(pid), time.perf_counter() - start


KILLS = 50


def kill_phase(repo, full: bool, before) -> str:
    """Where a killed update was: it left rows of an uncommitted generation (or a new
    data directory) behind = mid-write; nothing = before writing; done = after the commit."""
    from coderag.ondisk.manifest import Manifest
    from coderag.ondisk.layout import MANIFEST_NAME

    loc = location(repo.root)
    current = loc.current()
    if full:
        if current != before:
            return "after the commit"
        return "mid-write" if any(d != current for d in loc.root.glob("data-*")) else "before writing"
    manifest = Manifest(current / MANIFEST_NAME, readonly=True)
    try:
        gen = manifest.generation
        if manifest.get("commit") == repo.git("rev-parse", "HEAD").strip():
            return "after the commit"
        dirty = manifest.db.execute("SELECT 1 FROM files WHERE born > ? OR died > ? LIMIT 1", (gen, gen)).fetchone()
        return "mid-write" if dirty else "before writing"
    finally:
        manifest.close()


def test_kill_9_at_random_moments_never_breaks_the_index(make_repo):
    """50 kills (incremental updates and some full rebuilds) of a 200-file, 2,000-chunk index."""
    repo = make_repo(generated_files(200))
    updater = Updater(Repo.discover(repo.root), load_settings(repo.root))
    started = time.perf_counter()
    updater.run()
    full_seconds = time.perf_counter() - started
    updater.close()  # no open files may cross a fork
    rng = random.Random(2024)
    reader = Index.open(repo.root)
    kills = finished = step = 0
    phases = {"before writing": 0, "mid-write": 0, "after the commit": 0}
    incremental_seconds = 0.3
    while kills < KILLS:
        step += 1
        assert step < 2 * KILLS, f"only {kills} of {step} runs were killed before they finished"
        full = step % 16 == 8
        if not full:
            change_some(repo, rng, step)
        before = location(repo.root).current()
        pid = forked_update(updater, full)
        # Anywhere in the run: a run that finishes first tells how long runs take now.
        code, ran = kill_after(pid, rng.uniform(0.0, 1.1) * (full_seconds if full else incremental_seconds))
        assert code in (0, -signal.SIGKILL), f"the update failed on its own (exit {code}) at step {step}"
        kills, finished = kills + (code != 0), finished + (code == 0)
        if not full:  # aim at the whole run: grow while every run dies, learn from runs that finish
            incremental_seconds = 0.5 * incremental_seconds + 0.5 * ran if code == 0 else incremental_seconds * 1.1
        if code:
            phases[kill_phase(repo, full, before)] += 1

        # Readers: a complete, consistent index, whatever the moment of the kill.
        meta = check_consistent(repo, seed=step)
        assert meta, "the previous index must survive"
        hits = reader.search("render fetch cache", k=10, mode="lexical")
        assert hits and all(h.path in tree(repo, meta["commit"]) for h in hits)
        reader.close()

        # Every other kill is followed by another (so a run may die in its recovery);
        # otherwise the next update must complete, from whatever the kill left.
        if step % 2 == 0:
            pid = forked_update(updater, False)
            assert wait_exit(pid) == 0, f"the update after kill {step} did not complete"
            files, meta = indexed(repo.root)
            assert meta["commit"] == repo.git("rev-parse", "HEAD").strip() and files == tree(repo)
            if step % 8 == 0:
                check_consistent(repo, exact=True, seed=step)
    pid = forked_update(updater, False)
    assert wait_exit(pid) == 0
    check_consistent(repo, exact=True, sample=300)
    print(f"kill -9 loop: {kills} kills ({phases}), {finished} runs finished before their kill, {step} steps")
    assert phases["mid-write"] >= KILLS // 3, phases


def test_kill_9_of_the_command_line_during_a_parallel_build(make_repo):
    """The real CLI with its worker pool, killed mid-build: workers die with it, the lock frees, no leftovers."""
    repo = make_repo(generated_files(150))
    rng = random.Random(5)
    env = dict(os.environ, CODERAG_WORKERS="2")
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "coderag", "index", "--full", "--quiet"], cwd=repo.root,
                                env=env, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 3.0))
        proc.kill()
        proc.wait()
        time.sleep(0.2)
        holder = WriteLock(location(repo.root).root).holder()
        assert holder is None, f"the write lock is still held (pid {holder}) after the writer died"
    done = repo.coderag("index", "--no-wait")
    assert done.returncode == 0, done.stderr
    check_consistent(repo, exact=True)


# ---------------------------------------------------------------------------
# concurrency and locks
# ---------------------------------------------------------------------------


def test_two_updates_started_at_once_serialise(sample_repo):
    sample_repo.coderag("index", check=True)
    sample_repo.commit({"both.py": "def started_twice():\n    return 2\n"})
    cmd = [sys.executable, "-m", "coderag", "index", "--json"]
    procs = [subprocess.Popen(cmd, cwd=sample_repo.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    # One did the work; the other waited for the lock and found nothing left to do.
    assert sorted(r["files_added"] for r in reports) == [0, 1]
    check_consistent(sample_repo, exact=True)


def test_a_busy_index_is_reported_and_readers_never_block(sample_repo):
    sample_repo.coderag("index", check=True)
    lock = WriteLock(location(sample_repo.root).root)
    lock.acquire()
    try:
        busy = sample_repo.coderag("index", "--no-wait")
        assert busy.returncode == 3
        assert busy.stderr.strip() == f"coderag: error: another coderag process (pid {os.getpid()}) is updating this index"
        search = sample_repo.coderag("search", "--json", "--mode", "lexical", "retry_with_backoff")
        assert search.returncode == 0 and json.loads(search.stdout)["updating"] is True
    finally:
        lock.release()


def test_readers_always_see_a_complete_index(make_repo):
    repo = make_repo(generated_files(40))
    repo.coderag("index", check=True)
    heads = {repo.git("rev-parse", "HEAD").strip()}
    stop = threading.Event()
    seen, errors = [], []

    def read_forever():
        index = Index.open(repo.root)
        while not stop.is_set():
            try:
                hits = index.search("render fetch cache", k=10, mode="lexical")
                seen.append((index.indexed_commit, [h.path for h in hits]))
            except Exception as exc:  # any failure is a finding
                errors.append(repr(exc))
            index.close()

    reader = threading.Thread(target=read_forever)
    reader.start()
    try:
        rng = random.Random(3)
        for step in range(4):
            change_some(repo, rng, step, count=8)
            heads.add(repo.git("rev-parse", "HEAD").strip())
            args = ["index", "--full"] if step % 2 else ["index"]
            assert repo.coderag(*args).returncode == 0
    finally:
        stop.set()
        reader.join(30)
    assert not errors, errors[:3]
    assert len(seen) >= 10
    trees = {head: tree(repo, head) for head in heads}
    for commit, paths in seen:
        assert commit in trees and set(paths) <= set(trees[commit]), "a reader saw a mix of two trees"


def test_locks_of_dead_processes_are_not_stale(sample_repo):
    """A lock file naming a dead pid is free; a killed holder's lock is released by the kernel."""
    loc = location(sample_repo.root)
    loc.root.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (loc.root / "write.lock").write_text(f"{dead.pid}\n")
    (loc.root / "runner.lock").write_text(f"{dead.pid}\n")
    status = json.loads(sample_repo.coderag("status", "--json").stdout)
    assert status["updating"] is False and status["update_pid"] is None
    assert sample_repo.coderag("index", "--no-wait").returncode == 0

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from pathlib import Path\nfrom coderag.ondisk.layout import WriteLock\n"
                               f"lock = WriteLock(Path({str(loc.root)!r}))\nlock.acquire()\nprint('locked', flush=True)\n"
                               "time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    assert json.loads(sample_repo.coderag("status", "--json").stdout)["update_pid"] == holder.pid
    holder.kill()
    holder.wait()
    sample_repo.commit({"after_kill.py": "def after_kill():\n    pass\n"})
    assert sample_repo.coderag("index", "--no-wait").returncode == 0
    check_consistent(sample_repo, exact=True)


def test_a_killed_background_updater_loses_nothing(sample_repo):
    """kill -9 of the background updater mid-update: the index stays whole, the next request completes."""
    from indexcheck import assert_matches_head

    sample_repo.coderag("index", check=True)
    loc = location(sample_repo.root)
    for attempt in range(3):
        sample_repo.commit({f"bg{attempt}.py": f"def background_{attempt}():\n    pass\n"})
        assert sample_repo.coderag("index", "--background").returncode == 0
        deadline = time.monotonic() + 30
        from coderag.ondisk.layout import RunnerLock

        while (pid := RunnerLock(loc.root).holder()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.Random(attempt).uniform(0.2, 1.0))
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished first
        check_consistent(sample_repo)
    assert sample_repo.coderag("index", "--background").returncode == 0
    assert_matches_head(sample_repo)
    check_consistent(sample_repo, exact=True)


# ---------------------------------------------------------------------------
# damaged files and old formats
# ---------------------------------------------------------------------------


@pytest.fixture
def built(sample_repo, tmp_path):
    """``sample_repo`` with an index whose vectors have a graph and a delta; a pristine copy of it."""
    import shutil

    sample_repo.git("config", "coderag.vectorstore.delta-min", "0")  # a graph file from the first build
    sample_repo.git("config", "coderag.vectorstore.exact-max", "0")
    Index.open(sample_repo.root).update()
    sample_repo.commit({"extra.py": "def extra_function():\n    return 42\n"})
    Index.open(sample_repo.root).update()  # ... and a delta file
    pristine = tmp_path / "pristine"
    shutil.copytree(location(sample_repo.root).root, pristine)
    return sample_repo, pristine


def answers(root) -> list:
    index = Index.open(root)
    try:
        return [(h.path, h.start_line, h.end_line) for query, mode in
                (("parse http header", "semantic"), ("extra_function retry", "lexical"))
                for h in index.search(query, k=5, mode=mode)]
    finally:
        index.close()


def test_every_damaged_file_is_detected_at_open(built):
    """Truncate, empty or delete each file of the index in turn: search either answers exactly
    as before or says, in one line, that the index is damaged and how to rebuild it."""
    import shutil

    from coderag.errors import IndexCorrupt
    from coderag.errors import NoIndex

    repo, pristine = built
    root = location(repo.root).root
    expected = answers(repo.root)
    files = sorted(p.relative_to(pristine) for p in pristine.rglob("*") if p.is_file())
    assert any(f.suffix == ".hnsw" for f in files) and any(f.suffix == ".npz" for f in files)
    detected = 0
    for name in files:
        for damage in ("truncate", "empty", "delete"):
            shutil.rmtree(root)
            shutil.copytree(pristine, root)
            path = root / name
            if damage == "delete":
                path.unlink()
            else:
                os.truncate(path, path.stat().st_size // 2 if damage == "truncate" else 0)
            try:
                got = answers(repo.root)
            except IndexCorrupt as exc:
                message = str(exc)
                assert "\n" not in message and "git coderag index" in message, message
                detected += 1
                continue
            except NoIndex:
                assert (damage, str(name)) == ("delete", "CURRENT"), f"{damage} {name}: NoIndex"
                continue
            except Exception as exc:  # noqa: BLE001 - the point is that nothing else escapes
                raise AssertionError(f"{damage} {name}: {type(exc).__name__}: {exc}") from None
            # Lock files hold no data, and the label ranges only spare a writer lookups (an unreadable
            # file means probing every segment); anything else must have been caught above.
            assert name.name in HINT_FILES and got == expected, f"{damage} {name}: {got}"
    assert detected == 3 * (len(files) - len(HINT_FILES)) - 1  # all but those and a deleted CURRENT


HINT_FILES = ("write.lock", "MAIN_WRITELOCK", "label-ranges.json")


def test_damaged_index_message_and_automatic_rebuild(built):
    repo, _ = built
    current = location(repo.root).current()
    os.truncate(current / "manifest.sqlite", 4096)
    search = repo.coderag("search", "--mode", "lexical", "extra_function")
    assert search.returncode == 2 and "Traceback" not in search.stderr
    assert len(search.stderr.strip().splitlines()) == 1 and "git coderag index --full" in search.stderr
    status = repo.coderag("status")
    assert status.returncode == 0 and "DAMAGED" in status.stdout
    rebuilt = repo.coderag("index")  # no --full needed
    assert rebuilt.returncode == 0 and "the index was damaged" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    assert "extra.py" in repo.coderag("search", "--mode", "lexical", "extra_function").stdout
    check_consistent(repo, exact=True)

    next(location(repo.root).current().glob("vectors/*.hnsw")).unlink()
    assert "git coderag index --full" in repo.coderag("search", "extra function").stderr
    assert repo.coderag("index", "--full").returncode == 0
    assert "extra.py" in repo.coderag("search", "--mode", "lexical", "extra_function").stdout


def test_an_index_of_an_older_format_is_rebuilt_not_misread(built):
    import sqlite3

    repo, _ = built
    current = location(repo.root).current()
    db = sqlite3.connect(current / "manifest.sqlite")
    db.execute("UPDATE meta SET value = '0' WHERE key = 'format_version'")
    db.commit()
    db.close()
    search = repo.coderag("search", "--mode", "lexical", "extra_function")
    assert search.returncode == 2 and "written in format 0" in search.stderr and "git coderag index" in search.stderr
    report = json.loads(repo.coderag("index", "--json").stdout)
    assert report["rebuilt_because"] == "format_version changed (0 -> 1)"

    # An older layout altogether: different tables, no generation.
    current = location(repo.root).current()
    (current / "manifest.sqlite").unlink()
    db = sqlite3.connect(current / "manifest.sqlite")
    db.executescript("CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('format_version', '0');"
                     "CREATE TABLE docs (path TEXT, body TEXT);")
    db.close()
    assert "git coderag index" in repo.coderag("search", "--mode", "lexical", "extra_function").stderr
    report = json.loads(repo.coderag("index", "--json").stdout)
    assert report["rebuilt_because"] and report["files_added"] == 5

    # A store written in a format this version does not know.
    manifest = next(location(repo.root).current().glob("vectors/manifest.json"))
    from coderag.stores.hnsw_store import FORMAT

    manifest.write_text(manifest.read_text().replace(FORMAT, "coderag-hnsw/0"))
    assert "git coderag index" in repo.coderag("search", "extra function").stderr
    report = json.loads(repo.coderag("index", "--json").stdout)
    assert "coderag-hnsw/0" in report["rebuilt_because"]
    assert "extra.py" in repo.coderag("search", "--mode", "lexical", "extra_function").stdout


def test_stores_behind_the_manifest_are_reported_as_one_error_not_a_crash(sample_repo):
    """Stores holding fewer chunks than the manifest lists: an IndexCorrupt naming both counts.

    (The message used to count the store after closing it, which raised ValueError instead.)
    While a writer holds the lock the reader waits briefly for its generation flip first.
    """
    import sqlite3

    from coderag.errors import IndexCorrupt
    from coderag.ondisk.layout import WriteLock

    sample_repo.coderag("index", check=True)
    data_dir = location(sample_repo.root).current()
    db = sqlite3.connect(data_dir / "manifest.sqlite")
    db.execute("UPDATE meta SET value = '100000' WHERE key = 'live_chunks'")
    db.commit()
    db.close()
    waits = []
    for hold_lock in (False, False, True):  # the first run warms imports up
        lock = WriteLock(location(sample_repo.root).root)
        if hold_lock:
            lock.acquire(wait=False)
        try:
            started = time.perf_counter()
            with pytest.raises(IndexCorrupt, match="store holds .* chunks, the manifest lists 100000"):
                Index.open(sample_repo.root).search("retry", mode="lexical")
            waits.append(time.perf_counter() - started)
        finally:
            if hold_lock:
                lock.release()
    assert waits[2] - waits[1] >= 0.12  # the two retries' pauses (0.05 s + 0.10 s)
