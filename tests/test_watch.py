"""`git coderag watch` on real work trees: edits, deletes, renames, ignores, batching, Ctrl-C."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from indexcheck import indexed
from indexcheck import location

from coderag import Index
from coderag.indexing.watch import EventBatcher
from coderag.indexing.watch import Watcher
from coderag.indexing.watch import worktree_entries


def add_all(repo) -> dict[str, str]:
    """What `git add -A` would stage, computed by git in a scratch index (the oracle)."""
    scratch = repo.root / ".git" / "scratch-index"
    shutil.copy(repo.root / ".git" / "index", scratch)
    env = dict(os.environ, GIT_INDEX_FILE=str(scratch))
    repo.git("add", "-A", env=env)
    out = repo.git("ls-files", "-s", "-z", env=env)
    scratch.unlink()
    return {rec.partition("\t")[2]: rec.split()[1] for rec in out.split("\0") if rec}


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def watching(sample_repo):
    """A watcher running in a thread on ``sample_repo``; yields ``(repo, watcher)``."""
    sample_repo.commit({".gitignore": "build/\n*.log\n"})
    watcher = Watcher(Index.open(sample_repo.root), quiet=True)
    ready = threading.Event()
    thread = threading.Thread(target=watcher.run, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(60), "the watcher never finished its first update"
    yield sample_repo, watcher
    watcher.stop.set()
    thread.join(10)
    assert not thread.is_alive()


def matches_work_tree(repo):
    expected = add_all(repo)
    return lambda: indexed(repo.root)[0] == expected


def test_worktree_entries_match_git_add_all(sample_repo):
    sample_repo.commit({".gitignore": "*.log\n", "tool.sh": "#!/bin/sh\necho hi\n"})
    sample_repo.write({"new.py": "x = 1\n", "README.md": "changed\n", "debug.log": "noise\n"})
    (sample_repo.root / "util" / "strings.go").unlink()
    (sample_repo.root / "tool.sh").chmod(0o755)
    os.symlink("README.md", sample_repo.root / "link-to-readme")
    entries = worktree_entries(Index.open(sample_repo.root).repo)
    assert {p: e.blob for p, e in entries.items()} == add_all(sample_repo)
    assert entries["tool.sh"].mode == "100755" and entries["link-to-readme"].mode == "120000"


def test_watch_follows_edits_deletes_renames_and_ignores_what_git_ignores(watching):
    repo, watcher = watching
    assert indexed(repo.root)[1]["target"] == ":worktree"
    repo.write({"jobs/queue.py": "def drain_job_queue(queue):\n    while queue:\n        queue.pop()\n"})
    wait_for(matches_work_tree(repo), what="a new file")
    repo.write({"net/http_client.py": "def replaced_client():\n    return None\n"})
    wait_for(matches_work_tree(repo), what="an edit")
    (repo.root / "web" / "router.js").unlink()
    wait_for(matches_work_tree(repo), what="a delete")
    os.rename(repo.root / "jobs" / "queue.py", repo.root / "jobs" / "renamed.py")
    wait_for(matches_work_tree(repo), what="a rename")
    repo.write({"build/generated.py": "def generated_function():\n    pass\n", "trace.log": "x\n"})
    repo.write({"README.md": "# Sample\n\nchanged after the ignored files\n"})
    wait_for(matches_work_tree(repo), what="an edit after ignored files")
    files, _ = indexed(repo.root)
    assert "build/generated.py" not in files and "trace.log" not in files
    hits = Index.open(repo.root).search("drain_job_queue", mode="lexical")
    assert hits[0].path == "jobs/renamed.py"


def test_changes_only_to_ignored_files_cause_no_update(watching):
    repo, watcher = watching
    before = watcher.updates
    for i in range(20):
        repo.write({f"build/out{i}.py": f"x = {i}\n", f"run{i}.log": "log\n"})
    time.sleep(1.0)
    assert watcher.updates == before


def test_a_burst_of_edits_is_batched(watching):
    repo, watcher = watching
    before = watcher.updates
    repo.write({f"burst/file_{i:03d}.py": f"def burst_function_{i}():\n    return {i}\n" for i in range(150)})
    wait_for(matches_work_tree(repo), timeout=60, what="150 new files")
    # 150 files make several hundred events; batches of 50 or 100 ms of quiet make a handful of updates.
    print(f"150 files: {watcher.updates - before} updates")
    assert 1 <= watcher.updates - before <= 8, watcher.updates - before


def test_commits_while_watching_are_followed(watching):
    repo, watcher = watching
    repo.write({"pending.py": "def pending_work():\n    return 1\n"})
    wait_for(matches_work_tree(repo), what="the edit")
    head = repo.commit(message="commit while watching")
    wait_for(lambda: indexed(repo.root)[1].get("commit") == head, what="the new HEAD")
    assert indexed(repo.root)[0] == add_all(repo)
    # A hook's background request steps aside while the watch keeps the index.
    out = repo.coderag("index", "--background")
    assert out.returncode == 0
    status = wait_for(lambda: location(repo.root).read_status(), what="the request's status")
    assert status["ok"] and "watch" in status["skipped"]


def test_batcher_flushes_on_quiet_or_when_full():
    batcher = EventBatcher(quiet=0.1, max_events=50)
    stop = threading.Event()
    batcher.put("a")
    started = time.perf_counter()
    assert batcher.next_batch(stop) == ["a"]
    assert 0.09 <= time.perf_counter() - started < 0.5
    for i in range(120):
        batcher.put(str(i))
    started = time.perf_counter()
    assert len(batcher.next_batch(stop)) == 120, "a backlog comes out as one batch"
    assert time.perf_counter() - started < 0.09, "a full batch does not wait for quiet"

    def trickle():
        for i in range(60):
            batcher.put(str(i))
            time.sleep(0.01)

    thread = threading.Thread(target=trickle)
    thread.start()
    first = batcher.next_batch(stop)
    thread.join()
    assert 50 <= len(first) <= 52, "a steady stream is cut at max_events"
    assert len(first) + len(batcher.next_batch(stop)) == 60
    stop.set()
    assert batcher.next_batch(stop) == []


def test_ctrl_c_stops_the_watch_cleanly(sample_repo):
    proc = subprocess.Popen([sys.executable, "-m", "coderag", "watch"], cwd=sample_repo.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "watching" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "watching" in line
        second = sample_repo.coderag("watch")
        assert second.returncode != 0 and "already running" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        sample_repo.write({"edited.py": "def edited_while_watching():\n    pass\n"})
        time.sleep(0.5)  # let an update start, so Ctrl-C may land in the middle of it
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "watch stopped" in out
    search = sample_repo.coderag("search", "--json", "retry_with_backoff")
    assert search.returncode == 0, search.stderr  # the index is whole after the interrupt


def test_watch_needs_a_work_tree(tmp_path, sample_repo):
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(sample_repo.root), str(bare)], check=True)
    out = subprocess.run([sys.executable, "-m", "coderag", "watch"], cwd=bare, capture_output=True, text=True)
    assert out.returncode != 0 and "no work tree" in out.stderr and "Traceback" not in out.stderr
