"""Shared fixtures: real git repositories in temporary directories."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch):
    """Keep the user's git config and hooks out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.delenv("CODERAG_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("CODERAG_DISABLE_PLUGINS", raising=False)


class GitRepo:
    """A throwaway repository with helpers to write files and commit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str, check: bool = True, **kwargs) -> str:
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, **kwargs)
        if check and proc.returncode:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def write(self, files: dict[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def commit(self, files: dict[str, str | bytes] | None = None, message: str = "change") -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def coderag(self, *args: str, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run the real command line in this repository."""
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run([sys.executable, "-m", "coderag", *args], cwd=self.root, capture_output=True,
                              text=True, env=full_env, check=check)


@pytest.fixture
def make_repo(tmp_path):
    """Factory: ``make_repo(files)`` makes a repository with one commit of ``files``."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes] | None = None, name: str | None = None) -> GitRepo:
        root = tmp_path / (name or f"repo{next(counter)}")
        root.mkdir()
        repo = GitRepo(root)
        repo.git("init", "-q", "-b", "main")
        if files is not None:
            repo.commit(files, "initial")
        return repo

    return make


SAMPLE_FILES = {
    "net/http_client.py": '''import time


def retry_with_backoff(func, attempts=5, base_delay=0.5):
    """Call func, retrying with exponential backoff when it raises."""
    for attempt in range(attempts):
        try:
            return func()
        except OSError:
            time.sleep(base_delay * 2 ** attempt)
    raise RuntimeError("gave up")


def parse_http_header(line):
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()
''',
    "web/router.js": '''/**
 * Register a route handler for a path.
 */
function registerRoute(routes, path, handler) {
  routes[path] = handler;
  return routes;
}

const matchRoute = (routes, url) => {
  const path = url.split("?")[0];
  return routes[path] || null;
};

module.exports = { registerRoute, matchRoute };
''',
    "util/strings.go": '''package util

import "strings"

// Slugify turns a title into a URL slug.
func Slugify(title string) string {
	lower := strings.ToLower(title)
	return strings.ReplaceAll(lower, " ", "-")
}
''',
    "README.md": "# Sample\n\nA sample repository used by the tests.\n",
}


@pytest.fixture
def sample_repo(make_repo):
    return make_repo(SAMPLE_FILES)
