"""The builtin ``hnsw`` vector store: hnswlib graphs plus an exact tier (the delta).

hnswlib can only save its whole graph (117 MB and ~0.3 s at 100k vectors),
which would make every commit hook pay for the whole repository.  So the
store keeps, per generation:

* ``base-<gen>-<n>.hnsw``: HNSW graphs (shards of at most ``shard_mb`` of
  memory each, see :mod:`coderag.stores.hnsw_graphs`), rewritten only by a
  compaction, each with a ``.labels.npy``, the sorted labels alive in it;
* ``delta-<gen>.npz``: the exact tier, vectors not in a graph (searched with
  one matrix product), as a log of per-commit segments
  (:mod:`coderag.stores.hnsw_delta`), and *tombstones*, graph labels deleted
  or replaced since the last compaction;
* ``manifest.json``: the generation, the files it uses, their sizes and
  counts.  It is replaced atomically, last, so it is the commit point.

A commit writes only its own delta segment and the manifest (O(changes)).
A store of at most ``exact_max`` vectors builds no graph: the exact tier is
all of it.  Past that, when the delta or the tombstones outgrow
``min(delta_max, max(delta_min, delta_ratio * base size))`` the commit first
folds at most ``fold_max`` of them into the graphs (deleted slots are never
reused, as hnswlib's reuse leaves some vectors unreachable; a shard whose
deleted slots pass half its live vectors is dissolved into the delta, see
:mod:`coderag.stores.hnsw_graphs`).  A cold index's additions are folded
every ``build_batch`` vectors as they arrive, by a background thread (hnswlib
releases the GIL), so graphs are built while the update runs and memory holds
one shard.  Files of older generations are deleted after the swap; a reader
that loses that race re-reads the manifest and retries.  Opening checks file
sizes and counts against the manifest (nothing is hashed), so a truncated or
missing file raises :class:`~coderag.errors.IndexCorrupt`.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np

from coderag.errors import ConfigError
from coderag.errors import IndexCorrupt
from coderag.stores.atomic import write_json_atomic
from coderag.stores import hnsw_files
from coderag.stores.hnsw_files import FORMAT
from coderag.stores.hnsw_files import MANIFEST
from coderag.stores.hnsw_delta import DeltaLog
from coderag.stores.hnsw_graphs import GraphShards

_OPEN_ATTEMPTS = 5


def _flag(value: Any) -> bool:
    # Options may come from git config as strings.
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class HnswVectorStore:
    """Cosine (or inner product) nearest neighbours on disk; see the module notes.

    Its :meth:`commit` may run beside the lexical store's (``commit_beside_lexical``):
    the graph inserts it finishes release the GIL.

    :param directory: folder owned by the store (created unless ``readonly``).
    :param dim: vector dimension; opening a store built with another one
        raises :class:`~coderag.errors.IndexCorrupt` (rebuild needed).
    :param space: ``"cosine"`` (vectors and queries are normalised) or ``"ip"``.
    :param M: ``ef_construction``: HNSW graph parameters for a new graph.
    :param ef_search: search beam width; raised to ``k`` when ``k`` is larger.
        Measured on 196k chunk vectors of a real corpus with 300 real queries:
        ``ef_construction=100, ef_search=200`` finds 97.2% of the exact top 10
        and 94.7% of the top 100, against 97.0% and 91.7% for 200/100, with
        half the build CPU (72 s vs 142 s single-threaded) for +0.3 ms a query.
    :param readonly: open for searching only: nothing is ever written,
        everything is loaded at open, mutating calls raise ``ValueError``.
    :param exact_max: a store with no graph keeps up to this many vectors in
        the exact tier and builds none: a graph costs ~150 µs of CPU a vector,
        an exact scan of 40k 256-d vectors a few ms a query, and it is exact.
    :param delta_min: ``delta_ratio``: ``delta_max``: compaction threshold.
    :param fold_max: a commit folds at most this many of the delta's oldest
        vectors (0: all); later commits fold the rest.  5,000 keeps a commit
        after heavy churn under ~1 s of inserts (``bench/hnsw_churn.py``).
    :param auto_compact: compact inside :meth:`commit` past the threshold; a
        caller that must stay fast can pass ``False`` and call :meth:`compact`
        when :attr:`needs_compaction`.
    :param num_threads: threads for graph inserts (-1: all cores).  Default 1:
        concurrent inserts link the graph in a different order every run, so
        two cold builds of one commit answered some queries differently
        (vectors tied at the same distance fall in or out of the top k).  One
        thread gives the same graph every time, and cold indexes took the same
        time (the pool's workers already keep the cores busy).
    :param build_batch: fold queued additions into the in-memory graph once
        this many are queued and a compaction is due anyway (0: only at commit).
    :param shard_mb: memory of one graph shard (~110k vectors of 256 dims at
        128): what a build holds at once, whatever the repository's size.
    """

    commit_beside_lexical = True

    def __init__(
        self,
        directory: Path,
        dim: int,
        space: str = "cosine",
        M: int = 16,
        ef_construction: int = 100,
        ef_search: int = 200,
        readonly: bool = False,
        exact_max: int = 40_000,
        delta_min: int = 1000,
        delta_ratio: float = 0.2,
        delta_max: int = 20000,
        fold_max: int = 5_000,
        auto_compact: bool = True,
        num_threads: int = 1,
        build_batch: int = 10_000,
        shard_mb: float = 128,
        **ignored: Any,
    ) -> None:
        if space not in ("cosine", "ip"):
            raise ConfigError(f"hnsw store: space must be 'cosine' or 'ip', not {space!r}")
        self.directory = Path(directory)
        self.dim = int(dim)
        self.space = space
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.readonly = _flag(readonly)
        self.exact_max = int(exact_max)
        self.delta_min = int(delta_min)
        self.delta_ratio = float(delta_ratio)
        self.delta_max = int(delta_max)
        self.fold_max = int(fold_max) or None
        self.auto_compact = _flag(auto_compact)
        self.num_threads = int(num_threads)
        self.build_batch = int(build_batch)
        # hnswlib's memory per element: the vector, level-0 links (2 * M), label and bookkeeping.
        capacity = int(float(shard_mb) * 2**20) // (4 * self.dim + 8 * self.M + 64)
        self._graphs = GraphShards(self.directory, space, self.dim, self.M, self.ef_construction,
                                   self.num_threads, capacity)
        self._closed = False
        self._force_compact = False
        self._folder: Any = None  # the background thread that folds batches into the graph
        self._fold_future: Any = None
        if not self.readonly:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._open()
        if not self.readonly:
            if not (self.directory / MANIFEST).exists():
                # Publish the empty generation before any data file exists, so
                # "data files without a manifest" always means damage.
                write_json_atomic(self.directory / MANIFEST, self._manifest_dict())
            self._collect_garbage()

    # ------------------------------------------------------------------ open

    def _corrupt(self, what: str) -> IndexCorrupt:
        return IndexCorrupt(f"vector store {self.directory}: {what}; rebuild the index")

    def _open(self) -> None:
        for _ in range(_OPEN_ATTEMPTS):
            manifest = self._read_manifest()
            try:
                self._load(manifest)
                return
            except FileNotFoundError as exc:
                # A writer may have committed and removed the files we were
                # about to read: retry with its new manifest.
                if self._read_manifest() == manifest:
                    raise self._corrupt(f"missing file {Path(exc.filename or '?').name}") from None
        raise self._corrupt("the store kept changing while it was being opened")

    def _read_manifest(self) -> dict[str, Any] | None:
        return hnsw_files.read_manifest(self.directory, self.dim, self.space, self._corrupt)

    def _checked(self, entry: dict[str, Any], key: str) -> Path:
        return hnsw_files.checked_path(self.directory, entry, key, self._corrupt)

    def _load(self, manifest: dict[str, Any] | None) -> None:
        manifest = manifest or self._manifest_dict()
        self._manifest = manifest
        self._generation = int(manifest["generation"])
        self._delta = DeltaLog(self.dim)
        self._tombstones: set[int] = set()
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_count = 0
        self._dirty = False
        try:
            self._graphs.load_entries(hnsw_files.base_entries(manifest), self._checked)
            self._tombstones = self._delta.load(hnsw_files.delta_entries(manifest), self._checked)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise self._corrupt(f"unreadable data ({exc.__class__.__name__}: {exc})") from None
        self._graph_label_max = self._graphs.label_max()  # no label above it can be live in a graph
        if self.readonly:  # readers load everything now, while the files surely exist
            for shard in self._graphs.shards:
                self._graphs.graph(shard, self._tombstones)

    def _base_index(self) -> Any:
        """The graphs (``get_items`` reads a stored vector), or ``None`` when there are none."""
        self._wait_fold()
        return self._graphs if self._graphs.shards else None

    # ---------------------------------------------------------------- writes

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("vector store is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.readonly:
            raise ValueError("vector store was opened read-only")

    def _normalised(self, vectors: np.ndarray) -> np.ndarray:
        if self.space != "cosine":
            return np.array(vectors, dtype=np.float32, copy=True)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (vectors / norms).astype(np.float32, copy=False)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors under int64 labels; visible to :meth:`search` at once."""
        self._check_writable()
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        if vectors.shape != (len(labels), self.dim):
            raise ValueError(f"expected vectors of shape ({len(labels)}, {self.dim}), got {vectors.shape}")
        if not len(labels):
            return
        if labels.min() < 0:
            raise ValueError("labels must be non-negative")
        if int(labels.min()) <= self._graph_label_max:  # (a build adds ever larger labels: no wait)
            self._tombstone(labels)  # an older copy in the graph must not show up
        self._pending.append((labels, self._normalised(vectors)))
        self._pending_count += len(labels)
        self._dirty = True
        if (self.auto_compact and 0 < self.build_batch <= self._pending_count and self._may_outgrow_exact()
                and self.needs_compaction):
            self._fold_into_graph(background=True)

    def _may_outgrow_exact(self) -> bool:
        # Before needs_compaction, which merges queued rows into the tier: a cold build below exact_max need not.
        return bool(self._graphs.shards) or len(self._delta) + self._pending_count > self.exact_max

    def delete(self, labels: Sequence[int]) -> None:
        """Remove labels; unknown labels are ignored."""
        self._check_writable()
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            return
        self._wait_fold()
        self._consolidate()
        keep = ~np.isin(self._delta.labels, labels)
        if not keep.all():
            self._delta.keep(keep)
            self._dirty = True
        self._tombstone(labels)

    def _tombstone(self, labels: np.ndarray) -> None:
        """Hide the graphs' live copies of ``labels``."""
        self._wait_fold()
        for shard, held in self._graphs.holding(labels):
            for label in held.tolist():
                if label not in self._tombstones:
                    self._tombstones.add(label)
                    self._dirty = True
                    if shard.graph is not None:
                        with contextlib.suppress(RuntimeError):
                            shard.graph.mark_deleted(label)

    def _consolidate(self) -> None:
        """Fold pending adds into the delta arrays; the last add of a label wins."""
        if not self._pending:
            return
        pending, self._pending, self._pending_count = self._pending, [], 0
        self._delta.extend(pending)

    def __len__(self) -> int:
        """Number of live vectors, including uncommitted changes."""
        self._check_open()
        self._wait_fold()
        self._consolidate()
        return self._graphs.live_count() - len(self._tombstones) + len(self._delta)

    # ---------------------------------------------------------------- search

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(label, similarity)`` pairs, best first (ties by label)."""
        self._check_open()
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (self.dim,):
            raise ValueError(f"expected a query vector of dim {self.dim}, got {query.shape}")
        k = int(k)
        if self.space == "cosine":
            norm = float(np.linalg.norm(query))
            query = query / norm if norm else query
        self._wait_fold()
        self._consolidate()
        hits: list[tuple[int, float]] = []
        if k > 0 and len(self._delta):
            sims = self._delta.vectors @ query
            top = np.argpartition(-sims, min(k, len(sims)) - 1)[:k]
            hits += zip(self._delta.labels[top].tolist(), sims[top].tolist())
        if k > 0:
            hits += self._graphs.search(query, k, self.ef_search, self._tombstones)
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits[:k]

    # ---------------------------------------------------------------- commit

    def commit(self) -> None:
        """Write the delta (and, past the threshold, a new graph), then swap the manifest."""
        self._check_writable()
        self._wait_fold()
        self._consolidate()
        if not self._dirty and not self._force_compact:
            return
        generation = self._generation + 1
        if self._force_compact:
            self._fold_into_graph()
        elif self.auto_compact and self.needs_compaction:
            self._fold_into_graph(limit=self.fold_max)
        self._graphs.save_changed(generation)
        deltas = self._delta.write(self.directory, generation, self._tombstones)
        manifest = self._manifest_dict(generation, deltas)
        write_json_atomic(self.directory / MANIFEST, manifest)
        self._delta.committed(deltas)
        self._manifest = manifest
        self._generation, self._dirty, self._force_compact = generation, False, False
        self._collect_garbage()

    @property
    def needs_compaction(self) -> bool:
        """True when the delta or the tombstones passed the compaction threshold."""
        self._wait_fold()
        self._consolidate()
        if not self._graphs.shards and len(self._delta) <= self.exact_max:
            return False  # small enough to search exactly: no graph at all
        base_live = self._graphs.live_count() - len(self._tombstones)
        limit = min(self.delta_max, max(self.delta_min, int(self.delta_ratio * base_live)))
        return max(len(self._delta), len(self._tombstones)) > limit

    def _manifest_dict(self, generation: int = 0, deltas: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"format": FORMAT, "generation": generation, "dim": self.dim, "space": self.space,
                "bases": self._graphs.entries(), "deltas": deltas or []}

    def compact(self) -> None:
        """Fold the delta and tombstones into the graph now, and commit."""
        self._check_writable()
        self._wait_fold()
        self._consolidate()
        if len(self._delta) or self._tombstones:
            self._force_compact = True
        self.commit()

    def _fold_into_graph(self, background: bool = False, limit: int | None = None) -> None:
        """Move the delta (its ``limit`` oldest rows) and the tombstones into the in-memory graph.

        Nothing is written.  With ``background`` the work runs on the folding thread; every other
        method waits for it (:meth:`_wait_fold`) before reading the graph.
        """
        self._wait_fold()
        self._consolidate()
        labels, vecs = self._delta.take_oldest(limit)
        tombstones, self._tombstones = self._tombstones, set()
        if len(labels):
            self._graph_label_max = max(self._graph_label_max, int(labels.max()))
        if not background:
            self._take_back(self._fold(labels, vecs, tombstones))
            return
        if self._folder is None:
            from concurrent.futures import ThreadPoolExecutor

            self._folder = ThreadPoolExecutor(1, thread_name_prefix="hnsw-fold")
        self._fold_future = self._folder.submit(self._fold, labels, vecs, tombstones)

    def _wait_fold(self) -> None:
        """Wait for the background fold, if one runs; its exception is raised here."""
        future, self._fold_future = self._fold_future, None
        if future is not None:
            self._take_back(future.result())

    def _fold(self, labels: np.ndarray, vecs: np.ndarray, tombstones: set[int]) -> tuple | None:
        # Shards filled now are written as the generation the next commit publishes.
        return self._graphs.fold(labels, vecs, tombstones, self._generation + 1)

    def _take_back(self, dissolved: tuple[np.ndarray, np.ndarray] | None) -> None:
        if dissolved is not None:  # a dissolved shard's live vectors: later commits fold them back
            self._delta.extend([dissolved])

    def _collect_garbage(self) -> None:
        """Delete temp files and files of generations the manifest no longer uses."""
        hnsw_files.collect_garbage(self.directory, self._manifest)

    # ----------------------------------------------------------------- close

    def close(self) -> None:
        """Release memory; uncommitted changes are dropped."""
        with contextlib.suppress(Exception):  # a failed fold is moot: the changes are dropped
            self._wait_fold()
        if self._folder is not None:
            self._folder.shutdown(wait=True)
            self._folder = None
        self._closed = True
        self._graphs.close()
        self._pending, self._pending_count = [], 0
        self._delta.clear()

    def __enter__(self) -> HnswVectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

