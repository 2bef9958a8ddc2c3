"""`git coderag install-hooks`: real hooks, real commits, chaining and removal."""
from __future__ import annotations

import json
import time

from coderag.githooks import HOOK_TYPES
from coderag.githooks import hook_script


def wait_until_current(repo, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(repo.coderag("status", "--json").stdout)
        if status["indexed"] and not status["stale"] and not status["updating"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"index did not catch up with HEAD: {status}")


def test_hooks_keep_the_index_current_across_a_commit(sample_repo):
    out = sample_repo.coderag("install-hooks")
    assert out.returncode == 0, out.stderr
    for name in HOOK_TYPES:
        assert (sample_repo.root / ".git" / "hooks" / name).exists()
    sample_repo.commit({"billing/invoice.py": "def compute_invoice_total(items):\n"
                                              "    return sum(i.price for i in items)\n"})
    wait_until_current(sample_repo)
    hits = json.loads(sample_repo.coderag("search", "--json", "compute_invoice_total").stdout)["results"]
    assert hits[0]["path"] == "billing/invoice.py"
    sample_repo.git("checkout", "-q", "-b", "topic", "HEAD~1")
    status = wait_until_current(sample_repo)
    assert status["commit"] == sample_repo.git("rev-parse", "HEAD").strip()


def test_existing_hook_is_chained_and_restored(sample_repo):
    hooks = sample_repo.root / ".git" / "hooks"
    foreign = hooks / "post-commit"
    foreign.write_text("#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/foreign-hook-ran\"\n")
    foreign.chmod(0o755)
    out = sample_repo.coderag("install-hooks")
    assert "chaining" in out.stdout
    sample_repo.commit({"a.py": "def alpha_beta():\n    return 1\n"})
    assert (sample_repo.root / ".git" / "foreign-hook-ran").read_text() == "ran\n"
    wait_until_current(sample_repo)
    out = sample_repo.coderag("uninstall-hooks")
    assert "restored" in out.stdout
    assert foreign.read_text().startswith("#!/bin/sh\necho ran")
    assert not (hooks / "post-checkout").exists()


def test_core_hooks_path_is_honoured(sample_repo):
    sample_repo.git("config", "core.hooksPath", "my-hooks")
    sample_repo.coderag("install-hooks", check=True)
    assert (sample_repo.root / "my-hooks" / "post-commit").exists()
    assert not (sample_repo.root / ".git" / "hooks" / "post-commit").exists()


def test_shipped_hook_scripts_match_the_installer():
    from pathlib import Path

    shipped = Path(__file__).resolve().parent.parent / "hooks"
    for name in HOOK_TYPES:
        text = (shipped / name).read_text()
        assert text == hook_script(python=None), f"hooks/{name} is out of date"
