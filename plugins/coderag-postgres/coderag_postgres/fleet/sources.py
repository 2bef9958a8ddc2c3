"""Which repositories a fleet holds: ``repos.txt``, their names, and local copies to read them from.

``repos.txt`` has one repository a line, a git URL or a local path, optionally
followed by a ref (branch, tag or commit; ``HEAD`` by default) and ``as NAME``;
``#`` starts a comment::

    https://github.com/pallets/flask.git  main
    /srv/git/billing.git                  v2.3  as billing
    ../payments

A repository's name (its identity in the database) is its URL without scheme,
credentials and ``.git`` (``github.com/pallets/flask``), or a local path's
folder name.  Remote repositories are mirrored into a cache folder and
fetched on every run; local ones are read in place.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from coderag.errors import CoderagError
from coderag.errors import ConfigError

_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)
GIT_TIMEOUT_S = 600


class SourceFailed(CoderagError):
    """A repository could not be cloned, fetched or resolved."""


@dataclass(frozen=True)
class RepoSpec:
    """One line of ``repos.txt``."""

    source: str
    ref: str = "HEAD"
    name: str = ""

    @property
    def is_remote(self) -> bool:
        return bool(_URL.match(self.source)) and not self.source.startswith("file://")

    @property
    def shown_source(self) -> str:
        """The source with any credentials removed (what the database and messages show)."""
        return _CREDENTIALS.sub(r"\1", self.source)


def repo_name(source: str) -> str:
    """The identity of a repository in the fleet, from its URL or path."""
    if _URL.match(source) and not source.startswith("file://"):
        text = _CREDENTIALS.sub("", source)
        text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.IGNORECASE)
        text = re.sub(r"^[\w.-]+@([\w.-]+):", r"\1/", text)  # scp-like git@host:org/repo
    else:
        text = Path(source.removeprefix("file://")).expanduser().resolve().name
    text = text.rstrip("/")
    return text[:-4] if text.endswith(".git") else text


def parse_repos_file(path: Path, base: Path | None = None) -> list[RepoSpec]:
    """The repositories a ``repos.txt`` lists; relative paths are relative to the file."""
    base = base or path.parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    specs: list[RepoSpec] = []
    names: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name = ""
        if len(words) >= 3 and words[-2] == "as":
            name, words = words[-1], words[:-2]
        if len(words) > 2:
            raise ConfigError(f"{path}:{number}: expected `SOURCE [REF] [as NAME]`, got {line.strip()!r}")
        source = words[0]
        if not _URL.match(source):
            source = str((base / Path(source).expanduser()).resolve())
        spec = RepoSpec(source, words[1] if len(words) == 2 else "HEAD", name or repo_name(source))
        if spec.name in names:
            raise ConfigError(f"{path}:{number}: repository name {spec.name!r} is also on line "
                              f"{names[spec.name]}: add `as OTHER-NAME`")
        names[spec.name] = number
        specs.append(spec)
    if not specs:
        raise ConfigError(f"{path} lists no repository")
    return specs


def _git(*args: str, cwd: str | None = None) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")  # never wait for a password prompt
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                              timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if proc.returncode:
        message = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise SourceFailed(_CREDENTIALS.sub(r"\1", f"git {args[0]}: {message}"))
    return proc.stdout


def local_copy(spec: RepoSpec, cache_dir: Path) -> Path:
    """A repository folder to read ``spec`` from: the local repository itself, or a fresh mirror."""
    if not spec.is_remote:
        path = Path(spec.source.removeprefix("file://"))
        if not path.exists():
            raise SourceFailed(f"no such repository: {path}")
        return path
    key = hashlib.sha1(spec.source.encode()).hexdigest()[:12]
    mirror = cache_dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', spec.name)}-{key}.git"
    if (mirror / "HEAD").exists():
        _git("--git-dir", str(mirror), "fetch", "--prune", "--quiet", "origin")
    else:
        mirror.parent.mkdir(parents=True, exist_ok=True)
        partial = mirror.with_name(mirror.name + ".partial")
        if partial.exists():
            import shutil

            shutil.rmtree(partial)
        _git("clone", "--mirror", "--quiet", spec.source, str(partial))
        partial.rename(mirror)
    return mirror


def resolve_commit(repo: Path, ref: str) -> str:
    """The commit ``ref`` names in ``repo``."""
    try:
        out = _git("-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except SourceFailed:
        out = ""
    if not out:
        raise SourceFailed(f"{ref} does not name a commit (an empty repository, or a ref it lacks)")
    return out
