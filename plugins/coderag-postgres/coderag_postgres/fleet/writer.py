"""One repository's rows in the fleet database, written generation by generation.

A writer holds the repository's advisory lock for the whole update, so two
machines updating the same repository take turns (the second waits, then finds
little left to do).  Rows of the next generation are written in batches, each
its own transaction, and become visible together when :meth:`finish` moves the
repository's ``generation`` forward.  A writer that dies, or loses its
connection, leaves rows of a generation nobody reads; the next writer removes
them first (:meth:`begin`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from coderag.errors import CoderagError

from coderag_postgres.fleet import schema

LOCK_CLASS = 0x636F6465  # first key of the two-key advisory lock: "code"


def clean_text(text: str) -> str:
    """Text PostgreSQL accepts: no NUL character, no lone surrogate."""
    return text.replace("\0", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def vector_literal(row: np.ndarray) -> str:
    """pgvector's text form of one vector."""
    return "[" + ",".join(f"{x:.6g}" for x in row.tolist()) + "]"


def parse_vector(text: str) -> np.ndarray:
    return np.array(text.strip("[]").split(","), dtype=np.float32)


class Superseded(CoderagError):
    """Another writer took the repository over (this one's coordinator died): its rows are not wanted."""


@dataclass
class LiveFile:
    blob: str
    status: str


class RepoWriter:
    """Writes one repository's next generation through ``conn`` (an autocommit psycopg connection)."""

    def __init__(self, conn, repo_id: int, model: int) -> None:
        self.conn = conn
        self.repo_id = repo_id
        self.model = model
        self.vectors_table = schema.vectors_table(model)
        self.generation = 0
        self.next = 0
        self.token = ""
        """This update's id: batches written on other workers carry it, and a stale one is refused."""

    # -- the lock ---------------------------------------------------------------------------------

    def lock(self, wait: bool = True) -> bool:
        """Take this repository's advisory lock (held by the connection's session)."""
        if wait:
            self.conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, self.repo_id))
            return True
        return bool(self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                      (LOCK_CLASS, self.repo_id)).fetchone()[0])

    def unlock(self) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self.repo_id))

    # -- the generation -----------------------------------------------------------------------------

    def begin(self) -> dict[str, LiveFile]:
        """Drop what an interrupted writer left, start generation ``g + 1``; the live files.

        The new token is set first: it waits for any batch of a dead writer still
        inserting (they hold the row in share mode), and refuses any that comes later,
        so nothing of the old writer can slip in after the clean-up.
        """
        self.token = uuid.uuid4().hex
        with self.conn.transaction():
            self.generation = self.conn.execute(
                "UPDATE fleet_repos SET writer = %s WHERE id = %s RETURNING generation",
                (self.token, self.repo_id)).fetchone()[0]
            self.next = self.generation + 1
            for table in ("fleet_files", "fleet_chunks"):
                self.conn.execute(f"DELETE FROM {table} WHERE repo = %s AND born > %s",
                                  (self.repo_id, self.generation))
                self.conn.execute(f"UPDATE {table} SET died = NULL WHERE repo = %s AND died > %s",
                                  (self.repo_id, self.generation))
            rows = self.conn.execute("SELECT path, blob, status FROM fleet_files "
                                     "WHERE repo = %s AND died IS NULL", (self.repo_id,)).fetchall()
        return {path: LiveFile(blob, status) for path, blob, status in rows}

    def kill_paths(self, paths: Sequence[str]) -> None:
        """Mark these paths' files and chunks dead from the next generation on."""
        if not paths:
            return
        with self.conn.transaction():
            for table in ("fleet_files", "fleet_chunks"):
                self.conn.execute(f"UPDATE {table} SET died = %s WHERE repo = %s AND path = ANY(%s) "
                                  "AND died IS NULL", (self.next, self.repo_id, list(paths)))

    def cached_vectors(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        """float16 bytes of the vectors the database already holds for these text hashes (any repository)."""
        if not hashes:
            return {}
        rows = self.conn.execute(f"SELECT text_hash, embedding::text FROM {self.vectors_table} "
                                 "WHERE text_hash = ANY(%s)", (list(set(hashes)),)).fetchall()
        return {bytes(h): parse_vector(text).astype(np.float16).tobytes() for h, text in rows}

    def add_batch(self, files: Sequence[tuple], rows: Sequence[tuple], lexical: Sequence[tuple[str, str, str]],
                  vectors: np.ndarray, new_vectors: Sequence[int]) -> None:
        """One batch in one transaction: file rows ``(path, blob, language, status, reason)``, chunk rows
        ``(path, start, end, language, symbol, kind, text_hash, text)`` with their keyword fields and vectors."""
        with self.conn.transaction():
            holder = self.conn.execute("SELECT writer FROM fleet_repos WHERE id = %s FOR SHARE",
                                       (self.repo_id,)).fetchone()
            if holder is None or holder[0] != self.token:
                raise Superseded("another update of this repository took over; this batch is dropped")
            with self.conn.cursor() as cur:
                with cur.copy("COPY fleet_files (repo, path, blob, language, status, reason, born) "
                              "FROM STDIN") as copy:
                    for path, blob, language, status, reason in files:
                        copy.write_row((self.repo_id, clean_text(path), blob, language, status,
                                        clean_text(reason), self.next))
                if rows:
                    # Keyword documents become a tsvector with the fields weighted as the local store boosts them.
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS fleet_incoming (path text, start_line int, "
                                "end_line int, language text, symbol text, kind text, text_hash bytea, "
                                "text text, sym text, pth text, body text) ON COMMIT DELETE ROWS")
                    with cur.copy("COPY fleet_incoming FROM STDIN") as copy:
                        for row, (sym, pth, body) in zip(rows, lexical):
                            path, start, end, language, symbol, kind, digest, text = row
                            copy.write_row((clean_text(path), start, end, language, clean_text(symbol), kind,
                                            digest, clean_text(text), sym, pth, body))
                    cur.execute(
                        "INSERT INTO fleet_chunks (repo, path, start_line, end_line, language, symbol, kind, "
                        "text_hash, text, tsv, born) SELECT %s, path, start_line, end_line, language, symbol, "
                        "kind, text_hash, text, setweight(to_tsvector('simple', sym), 'A') || "
                        "setweight(to_tsvector('simple', pth), 'B') || setweight(to_tsvector('simple', body), "
                        "'D'), %s FROM fleet_incoming", (self.repo_id, self.next))
                if len(new_vectors):
                    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS fleet_incoming_vectors "
                                f"(LIKE {self.vectors_table}) ON COMMIT DELETE ROWS")
                    with cur.copy("COPY fleet_incoming_vectors FROM STDIN") as copy:
                        for i in dict.fromkeys(new_vectors):
                            copy.write_row((rows[i][6], vector_literal(vectors[i])))
                    cur.execute(f"INSERT INTO {self.vectors_table} SELECT DISTINCT ON (text_hash) * "
                                "FROM fleet_incoming_vectors ON CONFLICT (text_hash) DO NOTHING")

    def finish(self, commit: str, tree: str, identity: str, seconds: float) -> dict[str, int]:
        """Make the new generation the one readers see, then drop rows no generation needs."""
        with self.conn.transaction():
            files, chunks = self.conn.execute(
                "SELECT (SELECT count(*) FROM fleet_files WHERE repo = %(r)s AND born <= %(g)s "
                "AND (died IS NULL OR died > %(g)s) AND status = 'indexed'), "
                "(SELECT count(*) FROM fleet_chunks WHERE repo = %(r)s AND born <= %(g)s "
                "AND (died IS NULL OR died > %(g)s))", {"r": self.repo_id, "g": self.next}).fetchone()
            self.conn.execute(
                "UPDATE fleet_repos SET generation = %s, commit = %s, tree = %s, identity = %s, model = %s, "
                "files = %s, chunks = %s, indexed_at = now(), seconds = %s, last_error = '', "
                "last_error_at = NULL WHERE id = %s",
                (self.next, commit, tree, identity, self.model, files, chunks, seconds, self.repo_id))
        with self.conn.transaction():
            for table in ("fleet_files", "fleet_chunks"):
                self.conn.execute(f"DELETE FROM {table} WHERE repo = %s AND died <= %s", (self.repo_id, self.next))
        self.generation = self.next
        return {"files": files, "chunks": chunks}

    def forget_all(self) -> None:
        """Kill every row (the settings changed: the next generation is built from nothing)."""
        with self.conn.transaction():
            for table in ("fleet_files", "fleet_chunks"):
                self.conn.execute(f"UPDATE {table} SET died = %s WHERE repo = %s AND died IS NULL",
                                  (self.next, self.repo_id))


def record_error(conn, repo_id: int, message: str) -> None:
    """Say on the repository's row why its last update failed (its indexed generation stays)."""
    with conn.transaction():
        conn.execute("UPDATE fleet_repos SET last_error = %s, last_error_at = now() WHERE id = %s",
                     (message[:500], repo_id))
