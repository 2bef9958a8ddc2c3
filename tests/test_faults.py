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
from indexcheck import check_consistent
from indexcheck import indexed
from indexcheck import location
from indexcheck import tree

from coderag import Index
from coderag.config import load_settings
from coderag.gitio import Repo
from coderag.indexer import Updater
from coderag.storage import WriteLock

WORDS = ("alpha beta gamma delta parse render fetch store cache retry queue token graph index merge "
         "split load save open close").split()


def generated_files(count: int, seed: int = 7) -> dict[str, str]:
    """``count`` Python files of ten small functions each, with unique names."""
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        lines = []
        for j in range(10):
            name = "_".join(rng.sample(WORDS, 3)) + f"_{i}_{j}"
            lines += [f"def {name}(value, count=3):", f'    """{" ".join(rng.sample(WORDS, 6))}."""']
            lines += [f"    value = value + {rng.randint(0, 99)}  # {' '.join(rng.sample(WORDS, 4))}"
                      for _ in range(6)]
            lines += ["    return value", ""]
        files[f"pkg{i % 10}/module_{i}.py"] = "\n".join(lines)
    return files


def change_some(repo, rng: random.Random, step: int, count: int = 10) -> None:
    """Commit edits to ``count`` files: changed bodies, a new function each, one deletion, one new file."""
    paths = sorted(str(p.relative_to(repo.root)) for p in repo.root.glob("pkg*/*.py"))
    changes = {}
    for path in rng.sample(paths, count):
        text = (repo.root / path).read_text()
        words = " ".join(rng.sample(WORDS, 8))
        changes[path] = (text.replace("value + ", "value - ", 1)
                         + f'\ndef added_{step}_{path[5:-3]}(x):\n    """{words}."""\n    return x\n')
    repo.write(changes)
    (repo.root / rng.choice(paths)).unlink()
    repo.write({f"pkg{step % 10}/fresh_{step}.py": f"def fresh_function_{step}(y):\n    return y * {step}\n"})
    repo.commit(message=f"step {step}")


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
    from coderag.manifest import Manifest
    from coderag.storage import MANIFEST_NAME

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
    """50 kills (incremental updates and some full rebuilds) of a 300-file, 3,000-chunk index."""
    repo = make_repo(generated_files(300))
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
