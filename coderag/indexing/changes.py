"""What one update must do: the files to (re)index and the paths whose rows die.

Two ways to learn it, with the same answer:

* :func:`from_listing` compares a whole listing of the target (every path with
  its blob) with every live file row.  A first build, the staging area and a
  work-tree view use it.
* :func:`from_tree_diff` asks git which paths differ between the tree the live
  generation was listed from and the target's tree (``git diff-tree``, which
  skips identical subtrees by their ids), and reads only those paths' rows.
  On bench-large (15,900 files) listing the tree and reading every live row
  cost ~0.11 s of a 10-file commit's update; the diff costs a few
  milliseconds.

A file whose last attempt failed (status ``error``, e.g. a service that kept
failing) is tried again by every update.  While any such file is live the
diff is not used, so the listing supplies their entries: errors are rare and
the listing is always right.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from coderag.git.plumbing import Entry
from coderag.git.plumbing import Repo
from coderag.ondisk.manifest import FileRow
from coderag.ondisk.manifest import Manifest


@dataclass
class Changes:
    """The update's work: ``to_add`` entries, ``to_remove`` paths, and what the report counts."""

    to_add: list[Entry]
    to_remove: list[str]
    unchanged: int
    """Files of the target that keep their rows."""
    removed: int
    """Live files no longer in the target."""


def from_listing(entries: Mapping[str, Entry], live: Mapping[str, FileRow]) -> Changes:
    """The changes between a whole listing of the target and every live file row."""
    to_remove = [p for p, row in live.items()
                 if p not in entries or entries[p].blob != row.blob or row.status == "error"]
    to_add = [e for p, e in entries.items()
              if p not in live or live[p].blob != e.blob or live[p].status == "error"]
    return Changes(to_add, to_remove, len(entries) - len(to_add), sum(1 for p in to_remove if p not in entries))


def from_tree_diff(repo: Repo, manifest: Manifest, listed_tree: str, tree: str) -> Changes | None:
    """The changes from ``listed_tree`` (what the live generation holds) to ``tree``; ``None`` if unknown.

    ``None`` (the caller lists the tree instead) when no tree was recorded,
    git cannot compare the two, or a live file failed last time.
    """
    if not listed_tree or not tree or manifest.live_file_count(status="error"):
        return None
    changed = repo.tree_changes(listed_tree, tree)
    if changed is None:
        return None
    live = manifest.files_at(list(changed))
    # A mode change alone keeps the blob: as with the listing, the file keeps its rows.
    same = {path for path, entry in changed.items() if entry is not None and path in live
            and live[path].blob == entry.blob}
    to_remove = [path for path in live if path not in same]
    to_add = [entry for entry in changed.values() if entry is not None and entry.path not in same]
    removed = sum(1 for path in live if changed[path] is None)
    new_paths = sum(1 for entry in to_add if entry.path not in live)
    total = manifest.live_file_count() - removed + new_paths
    return Changes(to_add, to_remove, total - len(to_add), removed)
