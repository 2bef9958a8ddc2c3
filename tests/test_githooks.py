"""`git coderag install-hooks` on real repositories: real commits, checkouts, merges, rebases, amends."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from indexcheck import assert_matches_head
from indexcheck import location

from coderag.git.hook_installer import CHAINED_SUFFIX
from coderag.git.hook_installer import HOOK_TYPES
from coderag.git.hook_installer import hook_script


def py(name: str, body: str = "return 1") -> str:
    return f"def {name}():\n    {body}\n"


def test_hooks_keep_the_index_equal_to_head_through_every_git_operation(sample_repo):
    repo = sample_repo
    out = repo.coderag("install-hooks")
    assert out.returncode == 0, out.stderr
    for name in HOOK_TYPES:
        assert (repo.root / ".git" / "hooks" / name).exists()

    repo.commit({"billing/invoice.py": py("compute_invoice_total")}, "commit")
    assert_matches_head(repo)
    hits = json.loads(repo.coderag("search", "--json", "compute_invoice_total").stdout)["results"]
    assert hits[0]["path"] == "billing/invoice.py"

    repo.git("checkout", "-q", "-b", "topic")                       # post-checkout (same tree)
    repo.commit({"topic/feature.py": py("topic_feature")}, "topic work")
    repo.git("checkout", "-q", "main")                              # post-checkout (other tree)
    assert_matches_head(repo)
    assert "topic/feature.py" not in json.dumps(json.loads(repo.coderag("search", "--json", "topic_feature").stdout))

    repo.commit({"main_only.py": py("main_only")}, "main work")
    repo.git("merge", "-q", "--no-edit", "topic")                   # post-merge, a real merge commit
    assert_matches_head(repo)

    repo.git("checkout", "-q", "topic")
    repo.commit({"topic/second.py": py("topic_second")}, "more topic")
    repo.git("rebase", "-q", "main")                                # post-rewrite (rebase) + post-checkout
    assert_matches_head(repo)

    repo.write({"topic/second.py": py("topic_second_amended")})
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", "--no-edit")                # post-commit + post-rewrite (amend)
    assert_matches_head(repo)
    hits = json.loads(repo.coderag("search", "--json", "topic_second_amended").stdout)
    assert hits["stale"] is False and hits["results"][0]["path"] == "topic/second.py"

    repo.git("checkout", "-q", "--detach", "HEAD~2")                 # detached HEAD
    assert_matches_head(repo)


def test_the_hook_returns_at_once(sample_repo):
    sample_repo.coderag("install-hooks", check=True)
    hook = sample_repo.root / ".git" / "hooks" / "post-commit"
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(hook)], cwd=sample_repo.root, check=True)
        timings.append(time.perf_counter() - start)
    # Indexing takes seconds; the hook only forks a detached request.
    assert min(timings) < 0.15, timings
    assert_matches_head(sample_repo)


def test_a_failing_update_never_blocks_a_commit_and_status_shows_it(sample_repo):
    sample_repo.coderag("install-hooks", check=True)
    sample_repo.git("config", "coderag.lexicalstore", "no-such-store")
    sample_repo.commit({"x.py": py("xyz")}, "still commits")
    loc = location(sample_repo.root)
    deadline = time.monotonic() + 60
    while not loc.read_status() and time.monotonic() < deadline:
        time.sleep(0.1)
    status = loc.read_status()
    assert status["ok"] is False and "no-such-store" in status["error"]
    out = sample_repo.coderag("status")
    assert "last background update FAILED" in out.stdout and "no-such-store" in out.stdout
    sample_repo.git("config", "--unset", "coderag.lexicalstore")
    sample_repo.commit({"y.py": py("yzx")}, "recovers")
    assert_matches_head(sample_repo)
    assert "ok" in sample_repo.coderag("status").stdout


def test_foreign_hooks_are_chained_with_their_arguments_and_stdin(sample_repo):
    hooks = sample_repo.root / ".git" / "hooks"
    record = sample_repo.root / ".git" / "foreign.log"
    for name in ("post-commit", "post-rewrite"):
        (hooks / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{record}"\ncat >> "{record}"\nexit 3\n')
        (hooks / name).chmod(0o755)
    out = sample_repo.coderag("install-hooks")
    assert out.stdout.count("chaining the existing hook") == 2
    again = sample_repo.coderag("install-hooks")  # idempotent: never chains itself
    assert "chaining" not in again.stdout and "post-commit: updated" in again.stdout
    old = sample_repo.commit({"a.py": py("alpha_beta")})
    sample_repo.git("commit", "-q", "--amend", "-m", "amended")
    new = sample_repo.git("rev-parse", "HEAD").strip()
    log = record.read_text()
    assert "post-commit" in log and "post-rewrite amend" in log
    assert f"{old} {new}" in log, "post-rewrite's stdin must reach the chained hook"
    assert_matches_head(sample_repo)
    # Our hook passes on the chained hook's exit status.
    result = subprocess.run([str(hooks / "post-commit")], cwd=sample_repo.root, stdin=subprocess.DEVNULL)
    assert result.returncode == 3

    out = sample_repo.coderag("uninstall-hooks")
    assert out.stdout.count("restored the chained hook") == 2
    assert (hooks / "post-commit").read_text().startswith('#!/bin/sh\necho "post-commit')
    assert not (hooks / ("post-commit" + CHAINED_SUFFIX)).exists()
    assert not (hooks / "post-checkout").exists()


def test_uninstall_leaves_other_hooks_alone_and_symlinks_need_force(sample_repo, tmp_path):
    hooks = sample_repo.root / ".git" / "hooks"
    target = tmp_path / "managed-elsewhere"
    target.write_text("#!/bin/sh\nexit 0\n")
    target.chmod(0o755)
    (hooks / "post-merge").symlink_to(target)
    refused = sample_repo.coderag("install-hooks")
    assert refused.returncode != 0 and "symlink" in refused.stderr and "Traceback" not in refused.stderr
    forced = sample_repo.coderag("install-hooks", "--force")
    assert forced.returncode == 0 and (hooks / ("post-merge" + CHAINED_SUFFIX)).is_symlink()
    sample_repo.coderag("uninstall-hooks", check=True)
    assert (hooks / "post-merge").is_symlink() and os.readlink(hooks / "post-merge") == str(target)
    (hooks / "post-commit").write_text("#!/bin/sh\n")
    out = sample_repo.coderag("uninstall-hooks")
    assert "post-commit: left alone" in out.stdout and (hooks / "post-commit").exists()


def test_core_hooks_path_is_honoured(sample_repo):
    sample_repo.git("config", "core.hooksPath", "my-hooks")
    out = sample_repo.coderag("install-hooks", check=True)
    assert "core.hooksPath" in out.stdout
    assert (sample_repo.root / "my-hooks" / "post-commit").exists()
    assert not (sample_repo.root / ".git" / "hooks" / "post-commit").exists()
    sample_repo.commit({"via_hooks_path.py": py("via_hooks_path")})
    assert_matches_head(sample_repo)
    sample_repo.coderag("uninstall-hooks", check=True)
    assert not (sample_repo.root / "my-hooks" / "post-commit").exists()


def test_requests_coalesce_while_an_update_runs(sample_repo):
    """Twenty hook calls during a long update (a rebase) make one updater run twice, not twenty times."""
    from coderag.ondisk.layout import WriteLock

    sample_repo.coderag("index", check=True)
    sample_repo.commit({"burst.py": py("burst_function")})
    loc = location(sample_repo.root)
    busy = WriteLock(loc.root)
    busy.acquire()  # stands for an update that is still running
    try:
        outcomes = []
        for _ in range(20):
            out = sample_repo.coderag("index", "--background")
            assert out.returncode == 0, out.stderr
            outcomes.append(out.stdout.split()[2])
        assert outcomes == ["started"] + ["queued"] * 19
        status = json.loads(sample_repo.coderag("status", "--json").stdout)
        assert status["updating"] and status["stale"]
    finally:
        busy.release()
    assert_matches_head(sample_repo)
    log = loc.log_file.read_text().splitlines()
    assert len(log) == 2 and all("HEAD: ok" in line for line in log), log
    assert len({line.split()[2] for line in log}) == 1, "one updater process served every request"


def test_search_wait_waits_for_the_background_update(sample_repo):
    sample_repo.coderag("index", check=True)
    sample_repo.coderag("install-hooks", check=True)
    sample_repo.commit({"late/arrival.py": py("late_arrival_function")})
    out = sample_repo.coderag("search", "--wait", "--json", "late_arrival_function")
    data = json.loads(out.stdout)
    assert data["stale"] is False and data["updating"] is False
    assert data["results"][0]["path"] == "late/arrival.py"


def test_background_outside_a_repository_warns_but_never_fails(tmp_path):
    import sys

    out = subprocess.run([sys.executable, "-m", "coderag", "index", "--background"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "not a git repository" in out.stderr and "Traceback" not in out.stderr


def test_shipped_hook_scripts_match_the_installer():
    shipped = Path(__file__).resolve().parent.parent / "hooks"
    for name in HOOK_TYPES:
        path = shipped / name
        assert path.read_text() == hook_script(python=None), f"hooks/{name} is out of date"
        assert os.access(path, os.X_OK), f"hooks/{name} is not executable"


@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_shipped_hooks_are_valid_sh(hook):
    shipped = Path(__file__).resolve().parent.parent / "hooks" / hook
    assert subprocess.run(["sh", "-n", str(shipped)]).returncode == 0
