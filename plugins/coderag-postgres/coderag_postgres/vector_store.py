"""The ``postgres`` vector store: a pgvector column with an HNSW index, cosine.

One table per store, ``coderag_vec_<namespace id>(label bigint primary key,
embedding vector(dim))`` (see :mod:`coderag_postgres.store_schema` for
namespaces, transactions and readers).  Additions are sent with one binary
``COPY`` per batch (the rows are packed by numpy, no per-float Python work).

A new table has no HNSW index until its first commit creates it: building the
graph over a whole first load is ten times faster than inserting the rows
one by one into an existing graph (15k random 256-dimensional vectors on 2
cores: COPY 0.14 s + build 4.8 s, against 48.6 s into an existing index),
and coderag's big loads (a first index, a full rebuild) always go into a new
namespace.  The build runs inside
the commit's transaction, so readers see no rows or all rows with their
index; ``CREATE INDEX`` takes a lock that does not block readers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np

from coderag.errors import ConfigError
from coderag_postgres.store_schema import Namespace
from coderag_postgres.store_schema import flag
from coderag_postgres.store_schema import table_names

MAX_INDEXED_DIM = 2000
"""pgvector's HNSW index takes ``vector`` columns of at most 2000 dimensions."""
MAX_EF_SEARCH = 1000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _copy_rows(labels: np.ndarray, vectors: np.ndarray) -> bytes:
    """``(label, embedding)`` rows in PostgreSQL's binary COPY format, packed in one numpy pass."""
    n, dim = vectors.shape
    row = np.dtype([("fields", ">i2"), ("label_len", ">i4"), ("label", ">i8"), ("vec_len", ">i4"),
                    ("dim", ">i2"), ("unused", ">i2"), ("values", ">f4", (dim,))])
    rows = np.zeros(n, dtype=row)
    rows["fields"], rows["label_len"], rows["label"] = 2, 8, labels
    rows["vec_len"], rows["dim"], rows["values"] = 4 + 4 * dim, dim, vectors  # pgvector's binary input
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(format(float(x), ".9g") for x in vector) + "]"


class PostgresVectorStore:
    """Cosine nearest neighbours in PostgreSQL with pgvector's HNSW index.

    :param directory: the store's folder (coderag's ``<data dir>/vectors``): it
        names the namespace; only a marker file is written there.
    :param dim: vector dimension; a namespace built with another raises
        :class:`~coderag.errors.IndexCorrupt`.
    :param readonly: search only; sees the state committed when it was opened.
    :param dsn: ``password_env``: see :mod:`coderag_postgres.db` (usually from
        ``git config coderag.postgres.dsn``).
    :param namespace: use this name instead of ``<host>:<directory>``.
    :param m: ``ef_construction``: HNSW graph parameters (pgvector's defaults 16 and 64).
    :param ef_search: search beam width, raised to ``2 * k`` for large ``k``.
    :param build_memory: ``maintenance_work_mem`` for the index build (a graph
        that does not fit builds far slower).
    """

    def __init__(self, directory: Path, dim: int, readonly: bool = False, m: int = 16,
                 ef_construction: int = 64, ef_search: int = 40, build_memory: str = "512MB",
                 **options: Any) -> None:
        self.dim = int(dim)
        if not 0 < self.dim <= MAX_INDEXED_DIM:
            raise ConfigError(f"the postgres vector store indexes 1 to {MAX_INDEXED_DIM} dimensions, not {dim}")
        self.m, self.ef_construction = int(m), int(ef_construction)
        self.ef_search = int(ef_search)
        if self.m < 2 or self.ef_construction < 2 * self.m or not 1 <= self.ef_search <= MAX_EF_SEARCH:
            raise ConfigError("the postgres vector store needs m >= 2, ef_construction >= 2 * m "
                              f"and 1 <= ef_search <= {MAX_EF_SEARCH}")
        self.build_memory = str(build_memory)
        self._ef_set = 0
        self.ns = Namespace("vectors", directory, options, flag(readonly), dim=self.dim, layout="hnsw",
                            create_tables=self._create_tables, check=self._check)
        self._indexed = self.ns.id is None or self.ns.readonly or self._has_index()

    @property
    def table(self) -> str:
        return table_names("vectors", self.ns.id)[0] if self.ns.id is not None else ""

    # ---------------------------------------------------------------- schema

    def _create_tables(self, conn: Any, ns_id: int) -> None:
        table = table_names("vectors", ns_id)[0]
        conn.execute(f"CREATE TABLE {table} (label bigint PRIMARY KEY, embedding vector({self.dim}) NOT NULL)")

    def _check(self, dim: int | None, layout: str) -> str:
        return f"holds {dim}-dimensional vectors, not {self.dim}" if dim != self.dim else ""

    def _has_index(self) -> bool:
        with self.ns.guard():
            row = self.ns.conn.execute("SELECT 1 FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                                       (self.table, "%USING hnsw%")).fetchone()
            self.ns.conn.commit()  # a metadata read, not the start of the write transaction
        return row is not None

    # --------------------------------------------------------------- changes

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under int64 labels; a label added again replaces its vector."""
        self.ns.check_writable()
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(labels), self.dim):
            raise ValueError(f"expected {len(labels)} vectors of {self.dim} dimensions, got shape {vectors.shape}")
        if not len(labels):
            return
        if len(np.unique(labels)) != len(labels):  # the last vector of a repeated label wins
            _, last = np.unique(labels[::-1], return_index=True)
            keep = np.sort(len(labels) - 1 - last)
            labels, vectors = labels[keep], vectors[keep]
        with self.ns.guard():
            conn = self.ns.conn
            replaced = conn.execute(f"DELETE FROM {self.table} WHERE label = ANY(%s)", (labels.tolist(),)).rowcount
            with conn.cursor().copy(f"COPY {self.table} (label, embedding) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_copy_rows(labels, vectors))
            self.ns.add_items(len(labels) - replaced)

    def delete(self, labels: Sequence[int]) -> None:
        """Remove labels; unknown labels are ignored."""
        self.ns.check_writable()
        labels = [int(label) for label in labels]
        if not labels:
            return
        with self.ns.guard():
            gone = self.ns.conn.execute(f"DELETE FROM {self.table} WHERE label = ANY(%s)", (labels,)).rowcount
            self.ns.add_items(-gone)

    def commit(self) -> None:
        """Make the changes visible and durable in one transaction (building the index on first commit)."""
        self.ns.check_writable()
        with self.ns.guard():
            if not self._indexed:
                conn = self.ns.conn
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (self.build_memory,))
                conn.execute(f"CREATE INDEX {self.table}_hnsw ON {self.table} USING hnsw "
                             f"(embedding vector_cosine_ops) WITH (m = {self.m}, "
                             f"ef_construction = {self.ef_construction})")
            self.ns.conn.commit()
        self._indexed = True

    # ---------------------------------------------------------------- search

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(label, cosine similarity)`` pairs, best first."""
        self.ns.check_open()
        k = int(k)
        if k <= 0 or self.ns.id is None:
            return []
        literal = _vector_literal(np.asarray(vector, dtype=np.float32).reshape(-1))
        try:
            return self._search(literal, k)
        except Exception:
            if not (self.ns.readonly and self.ns.is_broken()):
                raise
        self.ns.reconnect()  # the server restarted or ended an idle session: once more, on a new one
        self._ef_set = 0
        return self._search(literal, k) if self.ns.id is not None else []

    def _search(self, literal: str, k: int) -> list[tuple[int, float]]:
        ef = min(MAX_EF_SEARCH, max(self.ef_search, 2 * k))
        with self.ns.guard():
            conn = self.ns.conn
            if ef != self._ef_set:
                conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
                self._ef_set = ef
            rows = conn.execute(f"SELECT label, embedding <=> %s::vector AS distance FROM {self.table} "
                                "ORDER BY distance LIMIT %s", (literal, k)).fetchall()
        # A zero vector has no cosine (NaN): it is never a neighbour.
        return [(int(label), 1.0 - float(d)) for label, d in rows if d == d]

    def __len__(self) -> int:
        """Live vectors, counting uncommitted adds and deletes."""
        return self.ns.items()

    def close(self) -> None:
        """Close the connection; uncommitted changes are rolled back.  Closing twice is harmless."""
        self.ns.close()

    def __enter__(self) -> "PostgresVectorStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

