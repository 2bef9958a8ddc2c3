"""Download the pinned training packages and walk their source files.

A training list (``packages.json``) names PyPI wheels (``{"pypi": "name==ver"}``) and npm
packages (``{"npm": "name@ver", "exclude": [globs]}``). Archives are fetched once with the
ordinary clients (``pip download --no-deps --only-binary :all:`` and ``npm pack``) into a
cache folder (``$CODERAG_TRAIN_CACHE`` or ``~/.cache/coderag-train``); nothing else is
downloaded. Reading never touches the network.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

#: Folder names that hold bundled copies of other projects: their code would leak other
#: packages (possibly evaluation packages) into training, so they are never read.
VENDORED_DIRS = frozenset({"vendor", "vendored", "_vendor", "extern", "_extern", "third_party",
                           "thirdparty", "3rdparty", "bundled", "_bundled", "node_modules"})
#: Folder names of tests, docs and examples: their doc comments are not API descriptions.
SKIP_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "doc", "docs",
                       "example", "examples", "benchmark", "benchmarks"})
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class Source:
    """One pinned package of a training list."""

    kind: str  # "pypi" or "npm"
    name: str
    version: str
    exclude: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """``name==version`` or ``name@version``, as written in the list."""
        return f"{self.name}=={self.version}" if self.kind == "pypi" else f"{self.name}@{self.version}"


def load_sources(path: str | Path) -> list[Source]:
    """Parse a training list; every entry must pin an exact version."""
    out = []
    for entry in json.loads(Path(path).read_text(encoding="utf-8"))["sources"]:
        if "pypi" in entry:
            name, _, version = entry["pypi"].partition("==")
            kind = "pypi"
        else:
            name, _, version = entry["npm"].rpartition("@")
            kind = "npm"
        if not name or not version:
            raise ValueError(f"unpinned training source: {entry}")
        out.append(Source(kind, name, version, tuple(entry.get("exclude", ()))))
    return out


def default_cache() -> Path:
    """Where downloaded archives are kept."""
    return Path(os.environ.get("CODERAG_TRAIN_CACHE", Path.home() / ".cache" / "coderag-train"))


def archive_path(source: Source, cache: Path) -> Path | None:
    """The cached archive of a source, or None if it was not downloaded yet."""
    folder = cache / source.kind / f"{source.name}-{source.version}"
    found = sorted(p for p in folder.glob("*") if p.suffix in (".whl", ".tgz")) if folder.is_dir() else []
    return found[0] if found else None


def download(source: Source, cache: Path) -> Path:
    """Fetch one archive into the cache (no-op when present) and return its path."""
    have = archive_path(source, cache)
    if have:
        return have
    folder = cache / source.kind / f"{source.name}-{source.version}"
    folder.mkdir(parents=True, exist_ok=True)
    if source.kind == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               "-d", str(folder), source.key]
    else:
        cmd = ["npm", "pack", "--silent", source.key, "--pack-destination", str(folder)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    have = archive_path(source, cache)
    if have is None:
        raise RuntimeError(f"{source.key}: download produced no archive in {folder}")
    return have


def skipped(rel: str, exclude: tuple[str, ...] = ()) -> bool:
    """True for files that must not feed training (vendored, tests, docs, excluded globs)."""
    parts = rel.split("/")
    dirs = [p.lower() for p in parts[:-1]]
    base = parts[-1]
    if any(d in VENDORED_DIRS or d in SKIP_DIRS for d in dirs):
        return True
    if base == "conftest.py" or base.startswith("test_") or base.endswith(
            ("_test.py", ".test.js", ".spec.js", ".min.js")):
        return True
    return any(fnmatch.fnmatch(rel, pat) for pat in exclude)


def iter_files(archive: str | Path, exclude: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Yield ``(relative path, text)`` for the .py/.js files of a wheel or npm tarball.

    npm tarballs put everything under ``package/``; that prefix is removed before the
    exclude globs (written relative to the package root) are applied.
    """
    archive = Path(archive)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                rel = info.filename
                if rel.endswith(".py") and info.file_size <= MAX_FILE_BYTES and not skipped(rel, exclude):
                    yield rel, zf.read(info).decode("utf-8", "replace")
        return
    with tarfile.open(archive, "r:gz") as tf:
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if (member.isfile() and rel.endswith((".js", ".mjs", ".cjs")) and member.size <= MAX_FILE_BYTES
                    and not skipped(rel, exclude)):
                fh = tf.extractfile(member)
                if fh is not None:
                    yield rel, fh.read().decode("utf-8", "replace")
