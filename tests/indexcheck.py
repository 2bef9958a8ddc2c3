"""Test helpers: compare an index with git, and check its internal consistency.

They read the index files directly (manifest and stores), so a test can
assert what *is* indexed, not only what a search happens to return.
"""
from __future__ import annotations

import time
from pathlib import Path

from coderag.background import wait_until_idle
from coderag.gitio import Repo
from coderag.manifest import Manifest
from coderag.storage import MANIFEST_NAME
from coderag.storage import IndexLocation


def location(root: Path) -> IndexLocation:
    return IndexLocation(Repo.discover(root).index_dir())


def indexed(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``({path: blob} of live files, meta)`` of the committed index."""
    current = location(root).current()
    assert current is not None, "no index"
    manifest = Manifest(current / MANIFEST_NAME, readonly=True)
    try:
        return {p: row.blob for p, row in manifest.live_files().items()}, manifest.meta()
    finally:
        manifest.close()


def tree(repo, rev: str = "HEAD") -> dict[str, str]:
    """``{path: blob}`` of a commit, straight from git."""
    out = repo.git("ls-tree", "-r", "-z", "--full-tree", rev)
    entries = {}
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            entries[path] = meta.split()[2]
    return entries


def staged(repo) -> dict[str, str]:
    out = repo.git("ls-files", "-s", "-z")
    return {rec.partition("\t")[2]: rec.split()[1] for rec in out.split("\0") if rec}


def wait_for_head(repo, timeout: float = 90.0) -> dict[str, str]:
    """Wait until background updates are done and the index is at HEAD; returns the meta."""
    head = repo.git("rev-parse", "HEAD").strip()
    loc = location(repo.root)
    deadline = time.monotonic() + timeout
    meta: dict[str, str] = {}
    while time.monotonic() < deadline:
        wait_until_idle(loc, timeout=max(1.0, deadline - time.monotonic()))
        if loc.current() is not None:
            files, meta = indexed(repo.root)
            if meta.get("commit") == head and wait_until_idle(loc, timeout=0.1):
                return meta
        time.sleep(0.1)
    raise AssertionError(f"the index never reached HEAD {head[:12]}: {meta.get('commit')!r}, "
                         f"status {loc.read_status()}")


def assert_matches_head(repo, timeout: float = 90.0) -> None:
    """The index holds exactly HEAD's tree (every path, every blob)."""
    wait_for_head(repo, timeout)
    files, meta = indexed(repo.root)
    assert meta["target"] == "HEAD"
    assert files == tree(repo), "index and HEAD differ"
