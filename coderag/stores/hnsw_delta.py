"""The ``hnsw`` store's exact tier: vectors searched by one matrix product, kept on disk as a log.

In memory the tier is one matrix (``labels``, ``vectors``; a label appears
at most once).  On disk it is a list of *segments*, one written per commit
that changed it, each holding only what that commit brought:

* ``labels`` and ``vectors``: rows added since the previous commit;
* ``removed``: labels whose rows in *older* segments are dead (deleted,
  replaced by a newer row, or moved into a graph);
* ``tombstones``: every graph label hidden at this generation (a small set,
  so the newest segment simply holds all of it).

So a commit writes O(its own changes), however big the tier is, and opening
replays the segments in order.  Dead rows still take disk and read time, so
once they outnumber the live ones, or the log passes :data:`MAX_SEGMENTS`,
the commit writes the whole tier as one segment instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np

from coderag.stores.atomic import atomic_writer
from coderag.stores.hnsw_files import map_npz
from coderag.stores.hnsw_files import write_npz

MAX_SEGMENTS = 24
"""A commit that would make the log longer than this rewrites it as one segment."""


class DeltaLog:
    """The exact tier of one store: the in-memory matrix and what its next commit must write."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.labels = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, dim), np.float32)
        self.saved = np.zeros(0, bool)
        """Per row: it is in a committed segment (else the next commit writes it)."""
        self.removed: list[int] = []
        """Labels of committed rows dropped since the last commit."""
        self.segments: list[dict[str, Any]] = []
        """Manifest entries of the committed segments, oldest first."""

    def __len__(self) -> int:
        return len(self.labels)

    # -- changes ---------------------------------------------------------------------------------

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true."""
        if mask.all():
            return
        self.removed.extend(self.labels[~mask & self.saved].tolist())
        self.labels, self.vectors, self.saved = self.labels[mask], self.vectors[mask], self.saved[mask]

    def extend(self, pending: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Append new rows (``(labels, vectors)`` batches); for a label added twice the last row wins."""
        if not pending:
            return
        labels = np.concatenate([self.labels] + [p[0] for p in pending])
        vectors = np.concatenate([self.vectors] + [p[1] for p in pending])
        saved = np.concatenate([self.saved, np.zeros(len(labels) - len(self.labels), bool)])
        _, first_in_reversed = np.unique(labels[::-1], return_index=True)
        self.labels, self.vectors, self.saved = labels, vectors, saved
        if len(first_in_reversed) != len(labels):
            mask = np.zeros(len(labels), bool)
            mask[len(labels) - 1 - first_in_reversed] = True
            self.keep(mask)

    def take_oldest(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Remove the ``n`` oldest rows (all without ``n``; they move into a graph); their labels and vectors."""
        n = len(self.labels) if n is None else min(n, len(self.labels))
        labels, vectors = self.labels[:n], self.vectors[:n]
        mask = np.ones(len(self.labels), bool)
        mask[:n] = False
        self.keep(mask)
        return labels, vectors

    # -- disk ------------------------------------------------------------------------------------

    def load(self, entries: list[dict[str, Any]], checked: Callable[[dict[str, Any], str], Path]) -> set[int]:
        """Replay committed segments; returns the graph tombstones of the newest one.

        ``ValueError`` if a segment's shape disagrees with its manifest entry.
        Every search process opens the store, so each segment's rows are copied
        at most once more; a segment's ``removed`` kills only older rows.
        """
        labels, vectors, removals = [], [], []
        tombstones: set[int] = set()
        for i, entry in enumerate(entries):
            npz = map_npz(checked(entry, "file"))  # read-only views: rows are copied only when dropped
            removals.append(npz["removed"] if "removed" in npz else np.zeros(0, np.int64))
            labels.append(npz["labels"].astype(np.int64, copy=False))
            vectors.append(npz["vectors"].astype(np.float32, copy=False))
            if i == len(entries) - 1:
                tombstones = set(npz["tombstones"].tolist())
            if vectors[-1].shape != (entry["count"], self.dim) or len(labels[-1]) != entry["count"]:
                raise ValueError("delta shape")
        later = np.zeros(0, np.int64)  # labels removed by segments newer than the one at hand
        for i in range(len(labels) - 1, -1, -1):
            if len(later):
                alive = ~np.isin(labels[i], later)
                if not alive.all():
                    labels[i], vectors[i] = labels[i][alive], vectors[i][alive]
            later = np.concatenate([later, removals[i]])
        self.labels = _joined(labels, np.zeros(0, np.int64))
        self.vectors = _joined(vectors, np.zeros((0, self.dim), np.float32))
        self.saved = np.ones(len(self.labels), bool)
        self.removed = []
        self.segments = list(entries)
        return tombstones

    def write(self, directory: Path, generation: int, tombstones: set[int]) -> list[dict[str, Any]]:
        """Write this generation's segment; the manifest's new list of segments."""
        if not len(self.labels) and not tombstones:
            return []
        dead = sum(e.get("removed", 0) for e in self.segments) + len(self.removed)
        whole = not self.segments or len(self.segments) + 1 > MAX_SEGMENTS or dead > len(self.labels)
        rows = slice(None) if whole else ~self.saved
        removed = [] if whole else self.removed
        path = directory / f"delta-{generation:08d}.npz"
        with atomic_writer(path, sync_dir=False) as f:
            write_npz(f, {"labels": self.labels[rows], "vectors": self.vectors[rows],
                          "removed": np.array(removed, dtype=np.int64),
                          "tombstones": np.array(sorted(tombstones), dtype=np.int64)})
        count = len(self.labels) if whole else int((~self.saved).sum())
        entry = {"file": path.name, "file_bytes": path.stat().st_size, "count": count,
                 "removed": len(removed), "tombstones": len(tombstones)}
        return [entry] if whole else [*self.segments, entry]

    def committed(self, entries: list[dict[str, Any]]) -> None:
        """The manifest naming ``entries`` is published: every row is now saved."""
        self.segments = list(entries)
        self.saved = np.ones(len(self.labels), bool)
        self.removed = []

    def clear(self) -> None:
        """Drop every row, saved or not (the store is closing)."""
        self.labels = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, self.dim), np.float32)
        self.saved = np.zeros(0, bool)
        self.removed = []


def _joined(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
    """One array of ``parts`` (no copy for a single part)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else empty
