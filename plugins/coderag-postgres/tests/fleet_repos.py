"""Small real git repositories for the fleet tests, and a way to run ``coderag-fleet``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com"}

RETRY = '''import time


def retry_with_backoff(func, attempts=5, base=0.1):
    """Call func again after each failure, waiting exponentially longer."""
    for attempt in range(attempts):
        try:
            return func()
        except ConnectionError:
            time.sleep(base * 2 ** attempt)
    raise RuntimeError("gave up")
'''

WEBHOOK = '''package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
)

// VerifyWebhookSignature checks the HMAC-SHA256 signature of a webhook payload.
func VerifyWebhookSignature(payload []byte, signature []byte, secret []byte) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	return hmac.Equal(mac.Sum(nil), signature)
}
'''

SLUG = '''export function slugifyTitle(title) {
  // Lower-case a title and join its words with dashes for a URL.
  return title.toLowerCase().trim().split(/\\s+/).join("-");
}
'''


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **ENV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    return commit(root, files)


def commit(repo: Path, files: dict[str, str | None], message: str = "change") -> Path:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return repo


def many_files(count: int, tag: str = "") -> dict[str, str]:
    """``count`` Python files with distinct functions (enough work for an update to take a while)."""
    return {f"pkg/mod_{i:04d}.py": "".join(
        f"def handler_{tag}{i}_{j}(request, retries={j}):\n"
        f"    \"\"\"Handle request {i}.{j} {tag} with {j} retries.\"\"\"\n"
        f"    value = request.get('field_{i}_{j}', {j})\n"
        f"    return value * {i + j}\n\n" for j in range(6)) for i in range(count)}


def fleet(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "coderag_postgres.fleet.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}\n{proc.stdout}"
    return proc


def fleet_json(*args: str, check: bool = True) -> dict:
    proc = fleet(*args, "--json", check=check)
    return json.loads(proc.stdout)
