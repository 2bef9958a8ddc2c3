"""The manifest: the index's source of truth, in SQLite.

It records which files (path -> blob) and chunks (label -> span, symbol,
compressed text) are indexed, the embedding cache (chunk text hash ->
vector), and the settings that built the index.  The vector and lexical
stores are derived from it and may hold *more* labels than it lists; search
keeps only the labels the manifest calls live.

Consistency comes from generations.  Rows carry ``born`` and ``died``
generation numbers and ``meta.generation`` names the committed one.  An update
works on ``generation + 1``: it inserts rows born there, marks replaced rows
died there, commits the stores, and only then flips ``meta.generation`` in one
transaction.  A crash before the flip leaves rows of an uncommitted generation
that :meth:`Manifest.rollback_uncommitted` removes; readers never see them.
"""
from __future__ import annotations

import os
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from typing import Sequence

from coderag.errors import IndexCorrupt

FORMAT_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, blob TEXT NOT NULL, language TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    born INTEGER NOT NULL, died INTEGER
);
CREATE INDEX IF NOT EXISTS files_path ON files(path);
CREATE TABLE IF NOT EXISTS chunks (
    label INTEGER PRIMARY KEY, path TEXT NOT NULL, blob TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    language TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
    text_hash BLOB NOT NULL, text BLOB NOT NULL,
    born INTEGER NOT NULL, died INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_died ON chunks(died);
-- Covers the live-chunk count and the uncommitted-rows lookup every update makes
-- (a table scan of 200k rows with their texts costs ~70 ms; this index ~10 ms).
CREATE INDEX IF NOT EXISTS chunks_life ON chunks(born, died);
CREATE TABLE IF NOT EXISTS vectors (text_hash BLOB PRIMARY KEY, vector BLOB NOT NULL);
"""


@dataclass(frozen=True)
class FileRow:
    path: str
    blob: str
    language: str
    status: str
    reason: str


@dataclass(frozen=True)
class ChunkRow:
    label: int
    path: str
    blob: str
    start_line: int
    end_line: int
    language: str
    symbol: str
    kind: str
    text: str


def compress(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def decompress(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8", "surrogatepass")


class Manifest:
    """A connection to one index's manifest database."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if readonly and not path.exists():
            raise IndexCorrupt(f"index manifest is missing: {path}")
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None,
                                      check_same_thread=False)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            self.db.execute("SELECT count(*) FROM meta").fetchone()
            self._check_complete()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise IndexCorrupt(f"index manifest {path} is unreadable ({exc}); "
                               "run `git coderag index --full` to rebuild") from None

    def _check_complete(self) -> None:
        """Detect a truncated database file at open, cheaply.

        The header records the page count at the last checkpoint; a file
        shorter than that lost its tail.  The header can run ahead of the file
        for a moment while another process checkpoints, so a mismatch is
        confirmed with ``PRAGMA quick_check`` before calling the file damaged.
        """
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(100)
                size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            return
        if len(header) < 100:
            if size == 0 and not self.readonly:
                return  # a database created just now
            raise sqlite3.DatabaseError("file is shorter than its header")
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        valid = header[24:28] == header[92:96]
        if valid and size < pages * page_size:
            row = self.db.execute("PRAGMA quick_check(1)").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(f"file truncated ({size} of {pages * page_size} bytes)")

    # -- meta -----------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def get(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_many(self, values: dict[str, object]) -> None:
        self.db.executemany(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, str(v)) for k, v in values.items()],
        )

    @property
    def generation(self) -> int:
        return int(self.get("generation", "0"))

    def next_label(self) -> int:
        """First label never used: labels handed to stores are not reused, even after a rollback."""
        row = self.db.execute("SELECT max(label) FROM chunks").fetchone()
        return max(row[0] or 0, int(self.get("label_high", "0"))) + 1

    # -- reading at the committed generation ---------------------------------------
    def live_files(self, generation: int | None = None) -> dict[str, FileRow]:
        gen = self.generation if generation is None else generation
        rows = self.db.execute(
            "SELECT path, blob, language, status, reason FROM files "
            "WHERE born <= ? AND (died IS NULL OR died > ?)",
            (gen, gen),
        ).fetchall()
        return {r[0]: FileRow(*r) for r in rows}

    def files_at(self, paths: Sequence[str], generation: int | None = None) -> dict[str, FileRow]:
        """The live rows of these paths (those that have one)."""
        gen = self.generation if generation is None else generation
        out: dict[str, FileRow] = {}
        for start in range(0, len(paths), 900):
            part = list(paths[start:start + 900])
            marks = ",".join("?" * len(part))
            for r in self.db.execute(
                    f"SELECT path, blob, language, status, reason FROM files WHERE path IN ({marks}) "
                    "AND born <= ? AND (died IS NULL OR died > ?)", (*part, gen, gen)):
                out[r[0]] = FileRow(*r)
        return out

    def live_file_count(self, generation: int | None = None, status: str | None = None) -> int:
        """Number of live file rows (of one ``status`` if given)."""
        gen = self.generation if generation is None else generation
        where = "born <= ? AND (died IS NULL OR died > ?)" + (" AND status = ?" if status else "")
        return self.db.execute(f"SELECT count(*) FROM files WHERE {where}",
                               (gen, gen, *([status] if status else []))).fetchone()[0]

    def chunks_by_label(self, labels: Sequence[int], generation: int, with_text: bool = True) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        text_col = "text" if with_text else "x''"
        for start in range(0, len(labels), 900):
            part = [int(x) for x in labels[start:start + 900]]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                f"SELECT label, path, blob, start_line, end_line, language, symbol, kind, {text_col} "
                f"FROM chunks WHERE label IN ({marks}) AND born <= ? AND (died IS NULL OR died > ?)",
                (*part, generation, generation),
            ):
                text = decompress(row[8]) if with_text else ""
                out[row[0]] = ChunkRow(*row[:8], text)
        return out

    def find_symbol(self, name: str, generation: int, k: int) -> list[dict]:
        """Up to ``k`` live definitions named ``name``, best tier first.

        Tiers: the symbol or its last dotted part equals ``name``; the same,
        ignoring case; ``name`` is a part of the symbol (ignoring case).
        """
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            "SELECT path, start_line, end_line, language, symbol, kind FROM chunks "
            "WHERE symbol LIKE ? ESCAPE '\\' AND symbol != '' AND born <= ? AND (died IS NULL OR died > ?) "
            "LIMIT 5000", (pattern, generation, generation)).fetchall()
        lowered = name.lower()

        def tier(symbol: str) -> int:
            leaf = symbol.rsplit(".", 1)[-1]
            if name in (symbol, leaf):
                return 0
            if lowered in (symbol.lower(), leaf.lower()):
                return 1
            return 2

        ranked = sorted(rows, key=lambda r: (tier(r[4]), len(r[4]), r[0], r[1]))
        keys = ("path", "start_line", "end_line", "language", "symbol", "kind")
        return [{**dict(zip(keys, r)), "match": ("exact", "case-insensitive", "sub-token")[tier(r[4])]}
                for r in ranked[:k]]

    def live_chunk_count(self, generation: int | None = None) -> int:
        """Number of chunks live at ``generation`` (default: the committed one)."""
        gen = self.generation if generation is None else generation
        return self.db.execute("SELECT count(*) FROM chunks WHERE born <= ? AND (died IS NULL OR died > ?)",
                               (gen, gen)).fetchone()[0]

    def counts(self, generation: int | None = None) -> dict[str, int]:
        gen = self.generation if generation is None else generation
        alive = "born <= ? AND (died IS NULL OR died > ?)"
        files = self.db.execute(f"SELECT status, count(*) FROM files WHERE {alive} GROUP BY status",
                                (gen, gen)).fetchall()
        chunks = self.db.execute(f"SELECT count(*) FROM chunks WHERE {alive}", (gen, gen)).fetchone()[0]
        result = {"files_" + status: n for status, n in files}
        result["files"] = sum(n for _, n in files)
        result["chunks"] = chunks
        return result

    def chunk_labels_for_paths(self, paths: Iterable[str], generation: int) -> list[int]:
        labels: list[int] = []
        paths = list(paths)
        for start in range(0, len(paths), 900):
            part = paths[start:start + 900]
            marks = ",".join("?" * len(part))
            labels.extend(r[0] for r in self.db.execute(
                f"SELECT label FROM chunks WHERE path IN ({marks}) AND born <= ? AND (died IS NULL OR died > ?)",
                (*part, generation, generation)))
        return labels

    def cached_vectors(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for start in range(0, len(hashes), 900):
            part = list(hashes[start:start + 900])
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(
                f"SELECT text_hash, vector FROM vectors WHERE text_hash IN ({marks})", part).fetchall())
        return found

    def seed_vectors(self, previous: Path) -> None:
        """Copy the embedding cache of another manifest built with the same model (a rebuild)."""
        try:
            self.db.execute("ATTACH DATABASE ? AS previous", (f"file:{previous}?mode=ro",))
        except sqlite3.Error:
            return  # unreadable: the rebuild embeds again, which is only slower
        try:
            self.begin()
            self.db.execute("INSERT OR IGNORE INTO vectors SELECT text_hash, vector FROM previous.vectors")
            self.commit()
        except sqlite3.Error:
            self.rollback()
        finally:
            self.db.execute("DETACH DATABASE previous")

    # -- writing generation + 1 ------------------------------------------------------
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def commit_if_open(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def kill_path(self, path: str, generation: int) -> None:
        """Mark a path's live file and chunk rows as dying in ``generation``."""
        self.db.execute("UPDATE files SET died = ? WHERE path = ? AND died IS NULL", (generation, path))
        self.db.execute("UPDATE chunks SET died = ? WHERE path = ? AND died IS NULL", (generation, path))

    def add_file(self, row: FileRow, generation: int) -> None:
        self.db.execute(
            "INSERT INTO files(path, blob, language, status, reason, born) VALUES (?, ?, ?, ?, ?, ?)",
            (row.path, row.blob, row.language, row.status, row.reason, generation),
        )

    def add_chunks(self, rows: Sequence[tuple], generation: int) -> None:
        """Insert ``(label, path, blob, start, end, language, symbol, kind, text_hash, ztext)`` rows."""
        self.db.executemany(
            "INSERT INTO chunks(label, path, blob, start_line, end_line, language, symbol, kind, "
            "text_hash, text, born) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(*r, generation) for r in rows],
        )

    def add_vectors(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO vectors(text_hash, vector) VALUES (?, ?)", items)

    def uncommitted_labels(self) -> list[int]:
        gen = self.generation
        return [r[0] for r in self.db.execute("SELECT label FROM chunks WHERE born > ?", (gen,))]

    def dead_labels(self) -> list[int]:
        gen = self.generation
        return [r[0] for r in self.db.execute("SELECT label FROM chunks WHERE died <= ?", (gen,))]

    def rollback_uncommitted(self) -> None:
        """Forget rows of a generation that never committed (a crashed update)."""
        gen = self.generation
        self.set_many({"label_high": self.next_label() - 1})
        self.db.execute("DELETE FROM chunks WHERE born > ?", (gen,))
        self.db.execute("DELETE FROM files WHERE born > ?", (gen,))
        self.db.execute("UPDATE chunks SET died = NULL WHERE died > ?", (gen,))
        self.db.execute("UPDATE files SET died = NULL WHERE died > ?", (gen,))

    def purge_dead_before(self, generation: int) -> None:
        """Drop rows that died before ``generation`` (their labels already left the stores)."""
        self.db.execute("DELETE FROM chunks WHERE died < ?", (generation,))
        self.db.execute("DELETE FROM files WHERE died < ?", (generation,))

    def flip(self, generation: int, meta: dict[str, object]) -> None:
        """Make ``generation`` the committed one (the atomic step of an update)."""
        self.set_many({**meta, "generation": generation, "updated_at": time.time()})

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass
