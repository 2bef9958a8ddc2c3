"""The ``bm25s`` lexical store: one bm25s sparse BM25 matrix per field, rebuilt on commit.

Layout of the store's directory::

    CURRENT                      {"format", "generation", "count"}: the commit point
    gen-00000007/
        corpus.npz               token ids of every live document (rebuilds start here)
        labels.npy               coderag label of each matrix row
        vocab.txt                the shared vocabulary, one token per line (column order)
        symbol/ path/ body/      bm25s.BM25.save() of each field's matrix

bm25s precomputes every (document, token) BM25 score into a sparse matrix,
which makes a full build fast and a query one column sum per token; it has
no incremental update, so :meth:`Bm25sLexicalStore.commit` rebuilds all
three matrices from ``corpus.npz`` plus the changes, in a new generation
folder, then replaces ``CURRENT`` (atomic ``os.replace``) and removes older
generations.  A commit therefore costs O(live documents), not O(changes):
see coderag's ``docs/benchmarks.md`` for where that wins and where it loses.

Searching reads the matrices bm25s saved with numpy alone: importing bm25s
(and the scipy it pulls in) would add ~0.5 s to every ``git coderag search``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np

from coderag.errors import ConfigError
from coderag.errors import IndexCorrupt
from coderag.protocols import LexicalDoc
from coderag_bm25s.corpus import FIELDS
from coderag_bm25s.corpus import Corpus

FORMAT = "coderag-bm25s/1"
CURRENT = "CURRENT"
DEFAULT_BOOSTS = {"symbol": 3.0, "path": 1.5, "body": 1.0}
DEFAULT_B = {"symbol": 0.5, "path": 0.5, "body": 0.75}
"""Per-field length normalisation, as coderag's Whoosh store: short fields say little by their length."""


def _flag(value: Any) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)


class _FieldMatrix:
    """One field's saved bm25s score matrix (CSC: a column of document scores per token)."""

    def __init__(self, folder: Path) -> None:
        self.data = np.load(folder / "data.csc.index.npy")
        self.indices = np.load(folder / "indices.csc.index.npy")
        self.indptr = np.load(folder / "indptr.csc.index.npy")

    def scores(self, token_ids: list[int], n_docs: int) -> np.ndarray:
        # What bm25s' numpy backend does: add up the columns of the query tokens.
        spans = [(self.indptr[t], self.indptr[t + 1]) for t in token_ids if t + 1 < len(self.indptr)]
        if not spans:
            return np.zeros(n_docs, dtype=np.float32)
        rows = np.concatenate([self.indices[a:b] for a, b in spans])
        values = np.concatenate([self.data[a:b] for a, b in spans])
        return np.bincount(rows, weights=values, minlength=n_docs).astype(np.float32)


class Bm25sLexicalStore:
    """BM25 over ``symbol``, ``path`` and ``body``, each field its own bm25s index.

    :param directory: folder owned by the store (created unless ``readonly``).
    :param k1: BM25 term-frequency saturation (all fields).
    :param b: length normalisation of ``body``; ``field_b`` overrides it per field.
    :param field_boosts: weight of each field's score in the sum; query-time only.
    :param readonly: search only: writes nothing, refuses changes.
    """

    def __init__(self, directory: Path, k1: float = 1.2, b: float = 0.75,
                 field_b: dict[str, float] | None = None, field_boosts: dict[str, float] | None = None,
                 readonly: bool = False, **ignored: Any) -> None:
        self.directory = Path(directory)
        self.k1 = float(k1)
        self.b = {**DEFAULT_B, "body": float(b), **{k: float(v) for k, v in (field_b or {}).items()}}
        self.boosts = {**DEFAULT_BOOSTS, **{k: float(v) for k, v in (field_boosts or {}).items()}}
        if self.k1 <= 0 or not all(0 <= v <= 1 for v in self.b.values()):
            raise ConfigError(f"bm25s store: need k1 > 0 and b in [0, 1], got k1={k1!r}, b={self.b}")
        self.readonly = _flag(readonly)
        self._adds: dict[int, LexicalDoc] = {}
        self._deletes: set[int] = set()
        self._closed = False
        self._corpus: Corpus | None = None  # the writer's, loaded on first commit
        if not self.readonly:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._open()

    # ------------------------------------------------------------------ open

    def _corrupt(self, what: str) -> IndexCorrupt:
        return IndexCorrupt(f"lexical store {self.directory}: {what}; rebuild the index")

    def _read_current(self) -> dict[str, Any] | None:
        try:
            meta = json.loads((self.directory / CURRENT).read_text())
        except (FileNotFoundError, NotADirectoryError):
            # The first commit writes gen-00000001 before CURRENT: only a later
            # generation without CURRENT means damage.
            if self.directory.is_dir() and any(n.startswith("gen-") and n[4:12].isdigit() and int(n[4:12]) > 1
                                               for n in os.listdir(self.directory)):
                raise self._corrupt(f"{CURRENT} is missing") from None
            return None
        except ValueError:
            raise self._corrupt(f"{CURRENT} is unreadable") from None
        if meta.get("format") != FORMAT:
            raise self._corrupt(f"unknown format {meta.get('format')!r}")
        return meta

    def _open(self) -> None:
        for _ in range(5):
            meta = self._read_current()
            try:
                self._load(meta)
                return
            except FileNotFoundError:
                # A writer replaced this generation while we read it: read the new one.
                if self._read_current() == meta:
                    raise self._corrupt("a file of the current generation is missing") from None
        raise self._corrupt("the store kept changing while it was being opened")

    def _load(self, meta: dict[str, Any] | None) -> None:
        self._generation = int(meta["generation"]) if meta else 0
        self._vocab: dict[str, int] | None = None
        if not meta:
            self._labels = np.zeros(0, dtype=np.int64)
            self._fields: dict[str, _FieldMatrix | None] = {f: None for f in FIELDS}
            self._vocab_text = ""
            return
        folder = self._gen_dir(self._generation)
        labels = np.load(folder / "labels.npy")
        if len(labels) != int(meta["count"]):
            raise self._corrupt("the label count does not match CURRENT")
        self._vocab_text = (folder / "vocab.txt").read_text(encoding="utf-8")
        self._fields = {f: _FieldMatrix(folder / f) if f in meta["fields"] else None for f in FIELDS}
        self._labels = labels

    def _gen_dir(self, generation: int) -> Path:
        return self.directory / f"gen-{generation:08d}"

    # --------------------------------------------------------------- changes

    def _check_writable(self) -> None:
        if self._closed:
            raise ValueError("lexical store is closed")
        if self.readonly:
            raise ValueError("lexical store was opened read-only")

    def add(self, docs: Sequence[LexicalDoc]) -> None:
        """Queue documents (a label added again replaces its document)."""
        self._check_writable()
        for doc in docs:
            self._adds[int(doc.label)] = doc

    def delete(self, labels: Sequence[int]) -> None:
        """Queue deletions; unknown labels are ignored."""
        self._check_writable()
        for label in labels:
            label = int(label)
            self._adds.pop(label, None)
            self._deletes.add(label)

    def __len__(self) -> int:
        """Live documents, counting uncommitted changes."""
        if self._closed:
            raise ValueError("lexical store is closed")
        if not self._adds and not self._deletes:
            return len(self._labels)
        touched = np.fromiter(self._deletes | set(self._adds), dtype=np.int64)
        return len(self._labels) - int(np.isin(self._labels, touched).sum()) + len(self._adds)

    # ---------------------------------------------------------------- commit

    def commit(self) -> None:
        """Rebuild the matrices with the queued changes as a new generation, then switch to it."""
        self._check_writable()
        if not self._adds and not self._deletes:
            return
        if self._corpus is None:
            path = self._gen_dir(self._generation) / "corpus.npz"
            self._corpus = Corpus.load(path) if self._generation else Corpus.empty()
        corpus = self._corpus.updated(self._deletes, list(self._adds.values()))
        generation = self._generation + 1
        folder = self._gen_dir(generation)
        shutil.rmtree(folder, ignore_errors=True)  # a crashed commit's leftovers
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        fields = self._write_generation(tmp, corpus)
        _fsync_tree(tmp)
        os.replace(tmp, folder)
        meta = {"format": FORMAT, "generation": generation, "count": len(corpus), "fields": fields}
        pending = self.directory / (CURRENT + ".tmp")
        with open(pending, "w") as out:
            json.dump(meta, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(pending, self.directory / CURRENT)  # the commit point
        _fsync_dir(self.directory)
        self._corpus, self._adds, self._deletes = corpus, {}, set()
        self._load(meta)
        for name in os.listdir(self.directory):
            if name.startswith("gen-") and name != folder.name:
                shutil.rmtree(self.directory / name, ignore_errors=True)

    def _write_generation(self, folder: Path, corpus: Corpus) -> list[str]:
        """Write one generation's files; returns the fields that have a matrix."""
        import bm25s

        corpus.save(folder / "corpus.npz")
        np.save(folder / "labels.npy", corpus.labels)
        (folder / "vocab.txt").write_text("\n".join(corpus.vocab), encoding="utf-8")
        vocab = {token: i for i, token in enumerate(corpus.vocab)}
        written = []
        for f in FIELDS:
            if not len(corpus.ids[f]):
                continue  # no document has this field: nothing to score
            model = bm25s.BM25(k1=self.k1, b=self.b[f], method="lucene")
            model.index((corpus.documents(f), vocab), create_empty_token=False, show_progress=False)
            model.save(str(folder / f), show_progress=False)
            written.append(f)
        return written

    # ---------------------------------------------------------------- search

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(label, score)`` pairs, best first; the score is the boosted sum over fields."""
        if self._closed:
            raise ValueError("lexical store is closed")
        n = len(self._labels)
        if k <= 0 or not n:
            return []
        if self._vocab is None:
            words = self._vocab_text.split("\n") if self._vocab_text else []
            self._vocab = {token: i for i, token in enumerate(words)}
        ids = [self._vocab[t] for t in dict.fromkeys(query_tokens) if t in self._vocab]
        if not ids:
            return []
        total = np.zeros(n, dtype=np.float32)
        for f, matrix in self._fields.items():
            if matrix is not None:
                total += self.boosts[f] * matrix.scores(ids, n)
        hits = np.flatnonzero(total > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-total[hits], k - 1)[:k]]
        # Best first; equal scores by label, so results do not depend on row order.
        order = sorted(hits.tolist(), key=lambda i: (-float(total[i]), int(self._labels[i])))
        return [(int(self._labels[i]), float(total[i])) for i in order]

    # ----------------------------------------------------------------- close

    def close(self) -> None:
        """Release memory; uncommitted changes are dropped."""
        self._closed = True
        self._adds, self._deletes, self._corpus = {}, set(), None
        self._fields = {f: None for f in FIELDS}

    def __enter__(self) -> "Bm25sLexicalStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
