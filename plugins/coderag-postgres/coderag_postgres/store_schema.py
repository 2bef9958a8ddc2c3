"""The stores' tables: one namespace row per store directory, and the connection rules both stores share.

Every store opened on a directory is a row of ``coderag_store_namespaces``
keyed by ``(kind, location)``; ``location`` is ``<hostname>:<directory>``
(or the ``namespace`` option), so many repositories, clones and hosts share a
database without meeting.  A namespace's data lives in tables named after its
id (``coderag_vec_<id>``, ``coderag_lex_<id>_*``), created by the writer that
creates the row.

coderag deletes a data directory after a full rebuild and never opens its
stores again, so the writer's open also drops the namespaces of this host
whose directory is gone (:func:`collect_garbage`): one query and a ``stat``
per namespace of the host.

:class:`Namespace` is the connection side both stores share: a writer holds
one connection whose first change opens the transaction that ``commit()``
commits; a reader holds one read-only REPEATABLE READ transaction from its
open, so it sees the state committed when it was opened, whatever the
writer does next.  Any psycopg error leaves as one line of
:class:`~coderag.errors.StoreUnavailable`.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path
from typing import Any
from typing import Callable
from typing import Iterator

from coderag.errors import ConfigError
from coderag.errors import IndexBusy
from coderag.errors import IndexCorrupt
from coderag.errors import StoreUnavailable
from coderag_postgres import db

COMPONENT = "stores"

MIGRATIONS = [
    # 0 -> 1
    """
    CREATE TABLE coderag_store_namespaces (
        id serial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('vectors', 'lexical')),
        location text NOT NULL,
        repository text NOT NULL DEFAULT '',
        dim int,
        layout text NOT NULL DEFAULT '',
        items bigint NOT NULL DEFAULT 0,
        created timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, location)
    );
    """,
]
"""``migrations[i]`` takes the ``stores`` component from version ``i`` to ``i + 1``.

``items`` is the store's ``len()``, kept by the writer in its transaction (a
``count(*)`` would scan the table on every reader open); ``layout`` records
what a lexical namespace was built for (``bm25`` or ``tsrank``)."""

GC_LOCK = "coderag store gc"
WRITER_LOCK = "coderag store writer"
MARKER = "POSTGRES_NAMESPACE"
"""A file in the store's directory naming its namespace, for people (the database is the truth)."""

_URL_USER = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def flag(value: Any) -> bool:
    """A boolean option that may arrive from git config as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def table_names(kind: str, ns_id: int) -> list[str]:
    """Every table of namespace ``ns_id`` of ``kind`` (what garbage collection drops)."""
    if kind == "vectors":
        return [f"coderag_vec_{int(ns_id)}"]
    return [f"coderag_lex_{int(ns_id)}_{part}" for part in ("postings", "docs", "stats")]


def host() -> str:
    return socket.gethostname()


def location_of(directory: Path, namespace: str = "") -> str:
    """The namespace key: the ``namespace`` option, else ``<hostname>:<resolved directory>``."""
    return str(namespace) if namespace else f"{host()}:{Path(directory).resolve()}"


def repository_name(directory: Path) -> str:
    """A display name for the repository owning ``directory``: its origin URL without credentials, or its path."""
    git_dir = db.git_dir_of(Path(directory).resolve())
    if git_dir is None:
        return ""
    url = db._git_config(git_dir, "remote.origin.url")
    if url:
        return db.redact(_URL_USER.sub(r"\1", url))
    return str(git_dir.parent if git_dir.name == ".git" else git_dir)


def collect_garbage(conn: Any, kind: str) -> list[int]:
    """Drop this host's ``kind`` namespaces whose directory is gone; the ids dropped.

    Runs inside the caller's transaction.  One writer of the host collects at a
    time (a try-lock: the others skip it rather than wait), and a namespace whose
    tables a reader still holds is left for next time rather than waited for.
    """
    import psycopg

    if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (GC_LOCK,)).fetchone()[0]:
        return []
    prefix = f"{host()}:"
    rows = conn.execute("SELECT id, location FROM coderag_store_namespaces WHERE kind = %s "
                        "AND starts_with(location, %s)", (kind, prefix + "/")).fetchall()
    doomed = [(ns_id, loc) for ns_id, loc in rows if not os.path.exists(loc[len(prefix):])]
    if not doomed:
        return []
    before = conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
    conn.execute("SELECT set_config('lock_timeout', '200ms', true)")
    dropped = []
    for ns_id, _ in doomed:
        try:
            with conn.transaction():  # a savepoint: one busy namespace does not undo the others
                drop_namespace(conn, kind, ns_id)
            dropped.append(ns_id)
        except psycopg.errors.LockNotAvailable:
            continue
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
    return dropped


def drop_namespace(conn: Any, kind: str, ns_id: int) -> None:
    for table in table_names(kind, ns_id):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute("DELETE FROM coderag_store_namespaces WHERE id = %s", (ns_id,))


def schema_version(conn: Any) -> int | None:
    """The ``stores`` schema version, read without writing (``None``: never created here)."""
    if conn.execute("SELECT to_regclass('coderag_schema') IS NULL").fetchone()[0]:
        return None
    row = conn.execute("SELECT version FROM coderag_schema WHERE component = %s", (COMPONENT,)).fetchone()
    return row[0] if row else None


class Namespace:
    """One store's namespace and connection (see the module notes).

    :param kind: ``"vectors"`` or ``"lexical"``.
    :param create_tables: ``create_tables(conn, ns_id)`` creates a new namespace's tables.
    :param check: ``check(dim, layout)`` says what is wrong with an existing namespace (``""``: nothing),
        raised as :class:`~coderag.errors.IndexCorrupt`.
    """

    def __init__(self, kind: str, directory: Path, options: dict[str, Any], readonly: bool, *,
                 dim: int | None, layout: str, create_tables: Callable[[Any, int], None],
                 check: Callable[[int | None, str], str]) -> None:
        self.kind = kind
        self.directory = Path(directory)
        self.readonly = readonly
        self.explicit = bool(options.get("namespace"))
        self.location = location_of(self.directory, str(options.get("namespace") or ""))
        self._dim, self._layout, self._create_tables, self._check = dim, layout, create_tables, check
        self.dsn, self._password_env = db.resolve_dsn(options, self.directory)
        self.conn: Any = None
        self.id: int | None = None
        self.closed = False
        try:
            with self.guard():
                self._open()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- open

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn any psycopg error into one line of :class:`StoreUnavailable` (no password, no traceback)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise StoreUnavailable(db.describe(exc, self.dsn)) from None

    def _open(self) -> None:
        if self.readonly:
            # A directory that was never created holds no store: no connection, nothing written.
            if self.explicit or self.directory.is_dir():
                self._open_reader()
            return
        existed = self.directory.is_dir()
        self.conn = db.connect(self.dsn, self._password_env)
        db.ensure_schema(self.conn, COMPONENT, MIGRATIONS)
        with self.conn.transaction():
            collect_garbage(self.conn, self.kind)
            row = self.conn.execute("SELECT id, dim, layout FROM coderag_store_namespaces "
                                    "WHERE kind = %s AND location = %s FOR UPDATE",
                                    (self.kind, self.location)).fetchone()
            if row is not None and not existed and not self.explicit:
                # The directory was deleted and made again: its old store went with it.
                drop_namespace(self.conn, self.kind, row[0])
                row = None
            if row is None:
                self.id = self.conn.execute(
                    "INSERT INTO coderag_store_namespaces (kind, location, repository, dim, layout) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (self.kind, self.location, repository_name(self.directory), self._dim, self._layout),
                ).fetchone()[0]
                self._create_tables(self.conn, self.id)
            else:
                self.id = row[0]
                self._raise_if_unfit(row[1], row[2])
        # coderag holds a lock per repository; this one also covers namespaces shared by name.
        if not self.conn.execute("SELECT pg_try_advisory_lock(hashtext(%s), %s)",
                                 (WRITER_LOCK, self.id)).fetchone()[0]:
            raise IndexBusy(f"the PostgreSQL {self.kind} store {self.location} is open by another writer")
        self.conn.commit()  # the next statement (the first change) opens the write transaction
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self.directory / MARKER
        if not marker.exists():
            marker.write_text(f"coderag-postgres {self.kind} namespace {self.id} in {db.redact(self.dsn)}\n")

    def _open_reader(self) -> None:
        from psycopg import IsolationLevel

        conn = db.connect(self.dsn, self._password_env)
        try:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            # The first statement takes the snapshot this reader keeps until it closes.
            version = schema_version(conn)
            row = None
            if version is not None:
                if version > len(MIGRATIONS):
                    raise ConfigError(f"the database's {COMPONENT} schema is version {version}, newer than "
                                      f"this coderag-postgres knows ({len(MIGRATIONS)}): upgrade coderag-postgres")
                row = conn.execute("SELECT id, dim, layout FROM coderag_store_namespaces "
                                   "WHERE kind = %s AND location = %s", (self.kind, self.location)).fetchone()
            if row is None:  # nothing committed yet: an empty store
                conn.close()
                return
            self._raise_if_unfit(row[1], row[2])
        except BaseException:
            conn.close()
            raise
        self.conn, self.id = conn, row[0]

    def _raise_if_unfit(self, dim: int | None, layout: str) -> None:
        problem = self._check(dim, layout)
        if problem:
            raise IndexCorrupt(f"the PostgreSQL {self.kind} store {self.location} {problem}; rebuild the index")

    def reconnect(self) -> None:
        """A reader whose connection died (server restart, idle timeout) takes a new one and a new snapshot."""
        self.close_connection()
        self.closed = False
        self._open_reader()

    def is_broken(self) -> bool:
        return self.conn is not None and (self.conn.closed or self.conn.broken)

    # ---------------------------------------------------------------- use

    def check_writable(self) -> None:
        if self.closed:
            raise ValueError(f"the {self.kind} store is closed")
        if self.readonly:
            raise ValueError(f"the {self.kind} store was opened read-only")

    def check_open(self) -> None:
        if self.closed:
            raise ValueError(f"the {self.kind} store is closed")

    def items(self) -> int:
        """``len()`` of the store: the namespace's item count, uncommitted changes included."""
        self.check_open()
        if self.id is None:
            return 0
        with self.guard():
            row = self.conn.execute("SELECT items FROM coderag_store_namespaces WHERE id = %s",
                                    (self.id,)).fetchone()
        if row is None:
            raise IndexCorrupt(f"the PostgreSQL {self.kind} store {self.location} was dropped; rebuild the index")
        return int(row[0])

    def add_items(self, delta: int) -> None:
        if delta:
            self.conn.execute("UPDATE coderag_store_namespaces SET items = items + %s WHERE id = %s",
                              (int(delta), self.id))

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn is not None and self.conn.info.transaction_status != TransactionStatus.IDLE

    def commit(self) -> None:
        self.check_writable()
        with self.guard():
            self.conn.commit()

    def close_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.rollback()  # a writer's uncommitted changes are dropped
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self.close_connection()
        self.closed = True
