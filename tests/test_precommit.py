"""`.pre-commit-hooks.yaml` with the real pre-commit framework, on real repositories.

A temporary hook repository holds this project's current files, and a
temporary target repository's ``.pre-commit-config.yaml`` points at it, as a
user's would point at a release.  The ``language: python`` hooks really get
their own virtualenv with coderag installed in it by pip; only coderag's
*dependencies* come from this test environment (``PYTHONPATH``, no index),
because downloading numpy and friends for every test run would take minutes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from indexcheck import assert_matches_head
from indexcheck import indexed
from indexcheck import location
from indexcheck import staged
from indexcheck import tree

from coderag.indexing.background import wait_until_idle

PROJECT = Path(__file__).resolve().parent.parent
HOOK_TYPES = ("pre-commit", "post-commit", "post-checkout", "post-merge", "post-rewrite")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> str:
    """A git repository with this project's current files, as pre-commit would clone it."""
    root = tmp_path_factory.mktemp("hook-repo")
    for name in ("setup.cfg", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(PROJECT / name, root / name)
    shutil.copytree(PROJECT / "coderag", root / "coderag", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    ident = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return str(root)


@pytest.fixture(scope="module")
def precommit_home(tmp_path_factory) -> str:
    """One pre-commit cache for the module, so the hook virtualenv is built once."""
    return str(tmp_path_factory.mktemp("pre-commit-home"))


def precommit_env(home: str) -> dict[str, str]:
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "numpy").is_dir())
    return dict(
        os.environ,
        PRE_COMMIT_HOME=home,
        # The hook venv gets coderag from the hook repository; its dependencies
        # and build backend come from this environment instead of the network.
        PIP_NO_INDEX="1", PIP_NO_DEPS="1", PIP_NO_BUILD_ISOLATION="0",
        PYTHONPATH=site_packages,
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],  # for the -system hooks
    )


def configure(repo, hook_repo: str, home: str, hook_ids: list[str], hook_types=HOOK_TYPES) -> dict[str, str]:
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True, text=True).stdout.strip()
    hooks = "".join(f"      - id: {hook_id}\n" for hook_id in hook_ids)
    repo.write({".pre-commit-config.yaml": f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n{hooks}"})
    repo.git("add", ".pre-commit-config.yaml")
    env = precommit_env(home)
    types = [arg for t in hook_types for arg in ("-t", t)]
    for args in (["install", *types], ["install-hooks"]):
        out = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo.root, env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    return env


def git(repo, env, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(["git", *args], cwd=repo.root, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stdout}{out.stderr}"
    return out


def commit(repo, env, files: dict[str, str], *extra: str) -> None:
    repo.write(files)
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "change", *extra)


def py(name: str) -> str:
    return f"def {name}():\n    return {len(name)}\n"


def test_manifest_passes_pre_commit_schema():
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(str(PROJECT / ".pre-commit-hooks.yaml"))}
    assert set(hooks) == {"coderag-staged", "coderag-update", "coderag-staged-system", "coderag-update-system"}
    for hook in hooks.values():
        assert hook["always_run"] is True and hook["pass_filenames"] is False
        assert "--background" in hook["entry"]
    assert hooks["coderag-staged"]["stages"] == ["pre-commit"] and "--staged" in hooks["coderag-staged"]["entry"]
    assert set(hooks["coderag-update"]["stages"]) == set(HOOK_TYPES[1:])
    assert hooks["coderag-update"]["language"] == "python"
    assert hooks["coderag-update-system"]["language"] in ("system", "unsupported")  # an alias since 4.4


def test_python_hooks_follow_commits_checkouts_merges_rebases_and_amends(sample_repo, hook_repo, precommit_home):
    repo = sample_repo
    env = configure(repo, hook_repo, precommit_home, ["coderag-staged", "coderag-update"])
    commit(repo, env, {"billing/invoice.py": py("compute_invoice_total")})
    assert_matches_head(repo)
    git(repo, env, "checkout", "-q", "-b", "topic")
    commit(repo, env, {"topic/feature.py": py("topic_feature")})
    git(repo, env, "checkout", "-q", "main")
    assert_matches_head(repo)
    commit(repo, env, {"main_only.py": py("main_only")})
    git(repo, env, "merge", "-q", "--no-edit", "topic")
    assert_matches_head(repo)
    git(repo, env, "checkout", "-q", "topic")
    commit(repo, env, {"topic/second.py": py("topic_second")})
    git(repo, env, "rebase", "-q", "main")
    assert_matches_head(repo)
    commit(repo, env, {"topic/second.py": py("topic_second_amended")}, "--amend")
    assert_matches_head(repo)
    files, _ = indexed(repo.root)
    assert files["topic/second.py"] == tree(repo)["topic/second.py"]
    # The hooks ran the coderag installed in pre-commit's own virtualenv.
    log = location(repo.root).log_file.read_text()
    assert "FAILED" not in log


def test_staged_hook_indexes_the_staged_content_not_the_work_tree(make_repo, hook_repo, precommit_home):
    repo = make_repo({"keep.py": py("keep_me")})
    env = configure(repo, hook_repo, precommit_home, ["coderag-staged-system"], hook_types=("pre-commit",))
    repo.write({"half.py": py("staged_version")})
    git(repo, env, "add", "half.py")
    repo.write({"half.py": py("unstaged_version")})  # pre-commit stashes this while hooks run
    started = time.perf_counter()
    git(repo, env, "commit", "-q", "-m", "partial")
    commit_seconds = time.perf_counter() - started
    assert wait_until_idle(location(repo.root), timeout=90)
    files, meta = indexed(repo.root)
    assert meta["target"] == ":staged"
    assert files == tree(repo), "the staged snapshot is exactly what was committed"
    status = json.loads(repo.coderag("status", "--json").stdout)
    assert status["target"] == ":staged" and status["stale"] is False, "staged content equal to HEAD is current"
    assert (repo.root / "half.py").read_text() == py("unstaged_version"), "pre-commit restored the work tree"
    # `git commit -a` stages into a temporary index file that is gone when the update runs.
    repo.write({"keep.py": py("keep_me_changed")})
    git(repo, env, "commit", "-q", "-a", "-m", "all")
    assert wait_until_idle(location(repo.root), timeout=90)
    files, _ = indexed(repo.root)
    assert files == tree(repo) == staged(repo)
    print(f"commit with the staged hook took {commit_seconds:.2f}s (pre-commit's own start included)")


def test_a_broken_setup_never_blocks_a_commit(make_repo, hook_repo, precommit_home):
    repo = make_repo({"a.py": py("alpha")})
    env = configure(repo, hook_repo, precommit_home, ["coderag-staged-system", "coderag-update-system"])
    repo.git("config", "coderag.embedder.model", "/no/such/model")
    commit(repo, env, {"b.py": py("beta")})  # asserts the commit succeeded
    assert wait_until_idle(location(repo.root), timeout=90)
    status = location(repo.root).read_status()
    assert status["ok"] is False and "model" in status["error"]
    repo.git("config", "--unset", "coderag.embedder.model")
    commit(repo, env, {"c.py": py("gamma")})
    assert_matches_head(repo)
