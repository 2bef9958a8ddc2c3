"""Git plumbing: which blobs a target holds, and their contents.

Plain ``git`` subprocesses (``rev-parse``, ``ls-tree``, ``ls-files``,
``cat-file --batch``) are faster to start than any Python git library and
read exactly what a commit or the staging area holds, never the working tree.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from typing import Iterator

from coderag.errors import CoderagError
from coderag.errors import NotARepository

REGULAR_MODES = ("100644", "100755")
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
STAGED = ":staged"
"""Pseudo-revision meaning the staging area (``git ls-files -s``)."""


@dataclass(frozen=True)
class Entry:
    """One path of a tree: its mode and blob id."""

    path: str
    mode: str
    blob: str


def decode_path(raw: bytes) -> str:
    """A path from git output as text.

    Git paths are bytes; a name that is not UTF-8 gets ``\\xNN`` escapes
    (the same every time, so it still matches itself across updates) because
    the manifest and JSON output can only hold valid text.
    """
    return raw.decode("utf-8", "backslashreplace")


def parse_staged(out: bytes) -> dict[str, Entry]:
    """Entries of ``git ls-files -s -z`` output (see :meth:`Repo.staged_snapshot`)."""
    entries: dict[str, Entry] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, blob, stage = meta.decode().split()
        # During a merge conflict keep "ours" (stage 2) as the indexed version.
        if stage in ("0", "2"):
            name = decode_path(path)
            entries[name] = Entry(name, mode, blob)
    return entries


def _git(cwd: Path | str, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    env = dict(os.environ)
    # Hooks export GIT_INDEX_FILE/GIT_DIR relative to the repo; keep them but never a pager.
    env["GIT_PAGER"] = "cat"
    try:
        proc = subprocess.run(
            ["git", *args], cwd=str(cwd), input=input, capture_output=True, env=env
        )
    except FileNotFoundError:
        raise CoderagError("git is not installed or not on PATH") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise CoderagError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


@dataclass(frozen=True)
class Repo:
    """A git repository as coderag sees it."""

    root: Path
    """Top of the work tree (or the git dir of a bare repository)."""
    git_dir: Path
    bare: bool = False

    @classmethod
    def discover(cls, path: str | os.PathLike[str] = ".") -> "Repo":
        """Find the repository containing ``path``; :class:`NotARepository` if none."""
        start = Path(path).expanduser()
        if not start.exists():
            raise NotARepository(f"no such directory: {start}")
        if start.is_file():
            start = start.parent
        proc = subprocess.run(
            ["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir", "--show-toplevel"],
            cwd=str(start),
            capture_output=True,
        )
        lines = proc.stdout.decode("utf-8", errors="surrogateescape").splitlines()
        if proc.returncode != 0 and not (lines and lines[0] == "true"):
            raise NotARepository(f"not a git repository: {start.resolve()}")
        bare = lines[0] == "true"
        git_dir = Path(lines[1])
        root = git_dir if bare or len(lines) < 3 else Path(lines[2])
        return cls(root=root, git_dir=git_dir, bare=bare)

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        return _git(self.root, *args, input=input, check=check)

    def index_dir(self) -> Path:
        """Where the index lives: ``$(git rev-parse --git-path coderag)``.

        For a name git gives no special meaning that is ``$GIT_DIR/coderag``
        (per worktree), so no subprocess is needed: hooks pay for every one.
        """
        return self.git_dir / "coderag"

    def resolve(self, rev: str = "HEAD") -> str | None:
        """Commit id of ``rev``, or ``None`` for an unborn HEAD."""
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            cwd=str(self.root),
            capture_output=True,
        )
        if proc.returncode != 0:
            if rev == "HEAD":
                return None
            raise CoderagError(f"unknown revision: {rev}")
        return proc.stdout.decode().strip()

    def entries(self, target: str = "HEAD") -> dict[str, Entry]:
        """Paths of ``target`` (a revision or :data:`STAGED`) with modes and blob ids."""
        if target == STAGED:
            return parse_staged(self.staged_snapshot())
        commit = self.resolve(target)
        if commit is None:
            return {}
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit)
        entries = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, _kind, blob = meta.decode().split()
            name = decode_path(path)
            entries[name] = Entry(name, mode, blob)
        return entries

    def tree_changes(self, old_tree: str, new_tree: str) -> dict[str, Entry | None] | None:
        """Paths that differ between two trees: the new entry, or ``None`` where the path is gone.

        ``None`` when git cannot compare them (a tree pruned since, a malformed id):
        the caller then lists the whole tree.  Renames are a deletion plus an addition,
        as the index keys files by path.
        """
        if not old_tree or not new_tree:
            return None
        try:
            out = self.git("diff-tree", "-r", "-z", "--no-renames", old_tree, new_tree)
            fields = out.split(b"\0")
            changes: dict[str, Entry | None] = {}
            for i in range(0, len(fields) - 1, 2):
                meta, path = fields[i], decode_path(fields[i + 1])
                _old_mode, mode, _old_blob, blob, status = meta.decode()[1:].split()
                changes[path] = None if status == "D" else Entry(path, mode, blob)
            return changes
        except (CoderagError, ValueError):
            return None

    def staged_snapshot(self) -> bytes:
        """The staging area as raw ``git ls-files -s -z`` output (honours ``GIT_INDEX_FILE``).

        A pre-commit hook saves this and lets a background process index it
        later: the blobs are already in the object database, while the index
        file git used (often a temporary one) may be gone by then.
        """
        if self.bare:
            raise CoderagError("a bare repository has no staging area")
        return self.git("ls-files", "-s", "-z")

    def staged_tree(self) -> str | None:
        """Tree id of the staging area (``git write-tree``), or ``None`` (unmerged paths, bare)."""
        if self.bare:
            return None
        out = self.git("write-tree", check=False).decode().strip()
        return out or None

    def tree_of(self, commit: str) -> str | None:
        """Tree id of a commit."""
        out = self.git("rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}", check=False).decode().strip()
        return out or None

    def blob_sizes(self, blobs: Iterable[str]) -> dict[str, int]:
        """Sizes of blobs in bytes (``git cat-file --batch-check``), without reading them."""
        unique = list(dict.fromkeys(blobs))
        if not unique:
            return {}
        out = self.git("cat-file", "--batch-check", input="\n".join(unique).encode() + b"\n")
        sizes: dict[str, int] = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 3:
                sizes[parts[0]] = int(parts[2])
        return sizes

    def read_blobs(self, blobs: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``(blob id, content)`` for each blob, read in one ``git cat-file --batch``."""
        unique = list(dict.fromkeys(blobs))
        if not unique:
            return
        proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=str(self.root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            # Feed ids from a thread-free loop: write all, then read; git buffers
            # output per object, so interleave to avoid filling both pipes.
            for blob in unique:
                proc.stdin.write(blob.encode() + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline().split()
                if len(header) < 3 or header[1] == b"missing":
                    continue
                size = int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)  # trailing newline
                yield blob, data
        finally:
            proc.stdin.close()
            proc.stdout.close()
            proc.wait()
