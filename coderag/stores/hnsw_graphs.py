"""The HNSW graphs behind the ``hnsw`` vector store, in shards of bounded size.

An hnswlib graph lives entirely in memory while it is built or changed, so a
single graph makes a cold index's memory grow with the repository (~1.2 kB
per 256-d vector).  The store therefore keeps its graph-indexed vectors in
*shards*: each graph holds at most ``capacity`` live vectors; when a build
fills one, it is written to disk and dropped from memory and the next one
starts.  Searches query every shard and merge (a shard costs well under a
millisecond per query).  Only the last shard takes new vectors; deletions are
applied to whichever shard holds the label.

Files are ``base-<generation>-<n>.hnsw`` with ``...labels.npy`` (the
sorted labels alive in the shard when it was saved).  A shard written during
a build carries the generation its commit will publish; until then no
manifest names it and garbage collection removes it after a crash.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np

from coderag.errors import IndexCorrupt
from coderag.stores.atomic import atomic_writer
from coderag.stores.atomic import commit_file
from coderag.stores.atomic import temp_path


REBUILD_DEAD_SHARE = 0.5
"""A shard is dissolved (its live vectors rebuilt into graphs later) once its deleted slots outnumber
this share of its live vectors."""


@dataclass
class Shard:
    """One graph: its manifest entry once saved, its live labels, the graph once loaded."""

    entry: dict[str, Any] | None
    labels: np.ndarray
    graph: Any = None
    changed: bool = False


class GraphShards:
    """The graph shards of one store (see the module notes).

    Tombstones (labels deleted but still in a saved graph) are owned by the
    store; methods that load a graph take them to mark those labels deleted.
    """

    def __init__(self, directory: Path, space: str, dim: int, M: int, ef_construction: int,
                 num_threads: int, capacity: int) -> None:
        self.directory, self.space, self.dim = directory, space, dim
        self.M, self.ef_construction, self.num_threads = M, ef_construction, num_threads
        self.capacity = max(1, int(capacity))
        self.shards: list[Shard] = []
        self._saved = 0  # numbers the files written by this instance: names never collide

    # ------------------------------------------------------------- reading

    def load_entries(self, entries: list[dict[str, Any]], checked: Callable[[dict, str], Path]) -> None:
        """Read the label files of saved shards (``checked`` verifies a file's size)."""
        self.shards = []
        for entry in entries:
            checked(entry, "file")
            labels = np.load(checked(entry, "labels_file"), allow_pickle=False)
            if labels.dtype != np.int64 or labels.shape != (entry["labels"],):
                raise ValueError("label count")
            self.shards.append(Shard(entry, labels))

    def graph(self, shard: Shard, tombstones: set[int]) -> Any:
        """The shard's hnswlib graph, loaded on first use with its tombstones marked deleted."""
        if shard.graph is None and shard.entry is not None:
            import hnswlib

            path = self.directory / shard.entry["file"]
            index = hnswlib.Index(space=self.space, dim=self.dim)
            try:
                index.load_index(str(path), allow_replace_deleted=True)
            except RuntimeError:
                if not path.exists():
                    raise FileNotFoundError(2, "no such file", str(path)) from None
                raise IndexCorrupt(f"vector store {self.directory}: {path.name} is not a readable hnswlib "
                                   "index; rebuild the index") from None
            if index.element_count != shard.entry["elements"]:
                raise IndexCorrupt(f"vector store {self.directory}: {path.name} holds {index.element_count} "
                                   f"vectors, expected {shard.entry['elements']}; rebuild the index")
            for label in self._within(shard, tombstones):
                with contextlib.suppress(RuntimeError):  # already deleted
                    index.mark_deleted(label)
            shard.graph = index
        return shard.graph

    def live_count(self) -> int:
        """Labels alive in the graphs, tombstoned ones included."""
        return sum(len(s.labels) for s in self.shards)

    def label_max(self) -> int:
        return max((int(s.labels[-1]) for s in self.shards if len(s.labels)), default=-1)

    def holding(self, labels: np.ndarray) -> list[tuple[Shard, np.ndarray]]:
        """``(shard, the given labels alive in it)`` for shards holding any of ``labels``."""
        found = []
        for shard in self.shards:
            if len(shard.labels):
                pos = np.minimum(np.searchsorted(shard.labels, labels), len(shard.labels) - 1)
                hit = labels[shard.labels[pos] == labels]
                if len(hit):
                    found.append((shard, hit))
        return found

    def get_items(self, labels: list[int]) -> list[np.ndarray]:
        """Stored vectors of live labels (as hnswlib's ``get_items``; ``RuntimeError`` if unknown)."""
        out = []
        for label in labels:
            held = self.holding(np.array([label], dtype=np.int64))
            if not held:
                raise RuntimeError(f"label {label} is not in any graph")
            out.append(np.asarray(self.graph(held[0][0], set()).get_items([label])[0], dtype=np.float32))
        return out

    def search(self, query: np.ndarray, k: int, ef: int, tombstones: set[int]) -> list[tuple[int, float]]:
        hits: list[tuple[int, float]] = []
        for shard in self.shards:
            live = len(shard.labels) - len(self._within(shard, tombstones))
            if live > 0:
                hits += _knn(self.graph(shard, tombstones), query, min(k, live), ef)
        return hits

    @staticmethod
    def _within(shard: Shard, labels: set[int]) -> list[int]:
        if not labels or not len(shard.labels):
            return []
        candidates = np.fromiter(labels, dtype=np.int64, count=len(labels))
        pos = np.minimum(np.searchsorted(shard.labels, candidates), len(shard.labels) - 1)
        return candidates[shard.labels[pos] == candidates].tolist()

    # ------------------------------------------------------------- changing

    def fold(self, labels: np.ndarray, vecs: np.ndarray, tombstones: set[int],
             generation: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Apply ``tombstones`` to the graphs holding them, then insert ``labels``.

        New vectors go to the last shard until it holds ``capacity`` live
        vectors; a full shard is saved (as ``generation``) and dropped from
        memory before the next one starts.

        A shard the tombstones leave sparse (deleted slots past
        :data:`REBUILD_DEAD_SHARE` of its live vectors) is *dissolved*: it
        leaves the list, and its live labels and vectors are returned for the
        store's exact tier.  Rebuilding it here would re-insert all of them
        inside one commit (44k vectors took 7.2 s, ``bench/hnsw_churn.py``);
        from the exact tier the store's later commits fold them back a bounded
        number at a time.
        """
        dissolved: list[tuple[np.ndarray, np.ndarray]] = []
        if tombstones:
            dead = np.array(sorted(tombstones), dtype=np.int64)
            for shard, hit in self.holding(dead):
                graph = self.graph(shard, set())
                for label in hit.tolist():
                    with contextlib.suppress(RuntimeError):  # (marked when the store deleted it)
                        graph.mark_deleted(label)
                shard.labels = np.setdiff1d(shard.labels, hit)
                shard.changed = True
                if graph.element_count - len(shard.labels) > REBUILD_DEAD_SHARE * len(shard.labels):
                    dissolved.append(self._dissolve(shard))
        start = 0
        while start < len(labels):
            if not self.shards or len(self.shards[-1].labels) >= self.capacity:
                if self.shards:
                    self._seal(self.shards[-1], generation)
                self.shards.append(Shard(None, np.zeros(0, np.int64)))
            shard = self.shards[-1]
            room = self.capacity - len(shard.labels)
            self._insert(shard, labels[start:start + room], vecs[start:start + room])
            start += room
        if not dissolved:
            return None
        return np.concatenate([d[0] for d in dissolved]), np.concatenate([d[1] for d in dissolved])

    def _dissolve(self, shard: Shard) -> tuple[np.ndarray, np.ndarray]:
        """Drop ``shard`` (its files go with the next commit's garbage); its live labels and vectors."""
        self.shards.remove(shard)
        labels, graph = shard.labels, shard.graph
        shard.graph = None
        if not len(labels):
            return labels, np.zeros((0, self.dim), np.float32)
        # The graph's stored vectors are the normalised ones the exact tier holds too.
        return labels, np.asarray(graph.get_items(labels.tolist()), dtype=np.float32).reshape(len(labels), self.dim)

    def _insert(self, shard: Shard, labels: np.ndarray, vecs: np.ndarray) -> None:
        import hnswlib

        index = self.graph(shard, set())
        if index is None:
            index = hnswlib.Index(space=self.space, dim=self.dim)
            index.init_index(max_elements=max(len(labels), 1), M=self.M, ef_construction=self.ef_construction,
                             allow_replace_deleted=True)
            shard.graph = index
        # A label still known to this graph (replaced, or deleted and re-added)
        # is updated in place, so no label ever has two slots in a graph.  New
        # labels never take deleted slots: hnswlib's slot reuse does not fully
        # repair the links, and after many reuses a few live vectors become
        # unreachable (a handful of 3,000 in the store's churn test, none in a
        # fresh graph).  Deleted slots still guide searches until the shard
        # is dissolved (see fold).
        known = np.asarray(index.get_ids_list() if index.element_count else [], dtype=np.int64)
        in_graph = np.isin(labels, known)
        for label in labels[in_graph].tolist():
            with contextlib.suppress(RuntimeError):  # not marked deleted
                index.unmark_deleted(label)
        if in_graph.any():
            index.add_items(vecs[in_graph], labels[in_graph], num_threads=self.num_threads)
        new = ~in_graph
        needed = index.element_count + int(new.sum())
        if needed > index.max_elements:
            # Grow by half at least (a build folds many batches; each resize copies the graph),
            # never far past the shard's capacity.
            index.resize_index(max(needed, min(self.capacity, index.max_elements + index.max_elements // 2)))
        if new.any():
            index.add_items(vecs[new], labels[new], num_threads=self.num_threads)
        shard.labels = np.union1d(shard.labels, labels)
        shard.changed = True

    def _seal(self, shard: Shard, generation: int) -> None:
        """Write a full shard now and free its memory (it is published by the next commit)."""
        if shard.changed:
            self.save(shard, generation)
        shard.graph = None

    def save_changed(self, generation: int) -> None:
        """Write every changed shard as ``generation``; drop the ones nothing is left in."""
        for shard in list(self.shards):
            if shard.changed and not len(shard.labels):
                self.shards.remove(shard)
        for shard in self.shards:
            if shard.changed:
                self.save(shard, generation)

    def save(self, shard: Shard, generation: int) -> None:
        stem = f"base-{generation:08d}-{self._saved:03d}"
        self._saved += 1
        graph_path = self.directory / f"{stem}.hnsw"
        tmp = temp_path(graph_path)
        shard.graph.save_index(str(tmp))
        commit_file(tmp, graph_path, sync_dir=False)
        labels_path = self.directory / f"{stem}.labels.npy"
        with atomic_writer(labels_path, sync_dir=False) as f:
            np.save(f, shard.labels)
        shard.entry = {
            "file": graph_path.name, "file_bytes": graph_path.stat().st_size,
            "elements": shard.graph.element_count, "labels_file": labels_path.name,
            "labels_file_bytes": labels_path.stat().st_size, "labels": len(shard.labels),
        }
        shard.changed = False

    def entries(self) -> list[dict[str, Any]]:
        return [s.entry for s in self.shards if s.entry is not None]

    def close(self) -> None:
        for shard in self.shards:
            shard.graph = None


def _knn(index: Any, query: np.ndarray, k: int, ef: int) -> list[tuple[int, float]]:
    ef = max(ef, k)
    base_ef = ef
    while k > 0:
        index.set_ef(ef)
        try:
            labels, dists = index.knn_query(query, k=k, num_threads=1)
        except RuntimeError:
            # Fewer than k reachable live nodes (many deleted neighbours):
            # widen the beam first, then settle for fewer results.
            if ef < 8 * base_ef:
                ef *= 2
            else:
                k //= 2
            continue
        return [(int(lab), 1.0 - float(d)) for lab, d in zip(labels[0], dists[0])]
    return []
