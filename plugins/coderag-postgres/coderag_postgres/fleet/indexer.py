"""One repository's fleet update: diff its tree against the database, index what changed, switch.

The per-file work is coderag's own (:class:`coderag.indexing.file_pipeline.BatchWorker`:
decode, chunk, keyword documents, embed), with the embedding cache read from
the database, so a text any repository already has is never embedded again.
Big updates are cut into batches; on a Dask cluster the batches of a big
repository run on every worker while this task holds the repository's lock.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Callable

from coderag.errors import CoderagError
from coderag.indexing.file_pipeline import BatchWorker
from coderag.indexing.file_pipeline import split_readable
from coderag.ondisk.manifest import decompress

from coderag_postgres import db
from coderag_postgres.fleet import schema
from coderag_postgres.fleet import sources
from coderag_postgres.fleet.writer import RepoWriter
from coderag_postgres.fleet.writer import record_error

BATCH_FILES = 200
SPLIT_FILES = 1500
"""A repository with more files to index than this is split into batches across the cluster's workers."""


@dataclass
class RepoResult:
    """What one repository's update did (``error`` set when it failed; its last generation stays)."""

    name: str
    status: str = "indexed"
    """``indexed``, ``unchanged`` or ``error``."""
    commit: str = ""
    files_changed: int = 0
    files_removed: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0
    files: int = 0
    chunks: int = 0
    seconds: float = 0.0
    error: str = ""
    batches: int = 0
    file_errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fleet_settings(overrides: dict[str, str] | None, folder: Path):
    """The fleet's settings: coderag's defaults and ``--config`` values, the same for every repository."""
    from coderag.config import load_settings

    return load_settings(folder, overrides or {})


def identity_of(settings, embedder) -> str:
    from coderag.indexing.update import settings_identity

    wanted = settings_identity(settings, embedder.model_id, embedder.dim)
    for kind in ("vector_store", "lexical_store"):  # the fleet's own tables, whatever a clone configures
        wanted.pop(kind, None)
    return json.dumps(wanted, sort_keys=True)


class FleetBatchWorker(BatchWorker):
    """coderag's batch worker, with the embedding cache in the fleet database."""

    def __init__(self, repo_root: str, settings, writer: RepoWriter | None = None) -> None:
        super().__init__(repo_root, settings, None)
        # Vectors are shared by text across the fleet: one blob at two paths (a vendored copy, a
        # fork) must be embedded once, so paths stay out of the embedded text here.
        self.with_path = False
        self.writer = writer

    def cached_vectors(self, hashes: list[bytes]) -> dict[bytes, bytes]:
        return self.writer.cached_vectors(hashes) if self.writer is not None else {}


def store_result(writer: RepoWriter, result) -> tuple[int, int, list[dict[str, str]]]:
    """Write one :class:`BatchResult`; ``(chunks added, chunks embedded, file errors)``."""
    files = [(f.path, f.blob, f.language or "", f.status, f.reason) for f in result.files]
    rows = [(r[0], r[2], r[3], r[4], r[5], r[6], r[7], decompress(r[8])) for r in result.rows]
    writer.add_batch(files, rows, result.lexical, result.vectors, result.new_vectors)
    errors = [{"path": f.path, "stage": f.stage, "reason": f.reason} for f in result.files if f.status == "error"]
    return len(rows), len(result.new_vectors), errors


def _register(conn, spec: sources.RepoSpec) -> int:
    return conn.execute(
        "INSERT INTO fleet_repos (name, source, ref) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
        "SET source = excluded.source, ref = excluded.ref RETURNING id",
        (spec.name, spec.shown_source, spec.ref)).fetchone()[0]


def index_repository(spec: sources.RepoSpec, dsn: str, cache_dir: str, overrides: dict[str, str] | None = None,
                     password_env: str = "", fan_out: Callable | None = None,
                     split_files: int = SPLIT_FILES) -> RepoResult:
    """Bring ``spec``'s rows up to date with its ref; never raises for a repository's own failure.

    ``fan_out(batches, context) -> iterator of (chunks, embedded, errors)`` runs batches
    elsewhere (the Dask runner passes one); without it they run here, one after another.
    """
    started = time.perf_counter()
    result = RepoResult(spec.name)
    conn = None
    repo_id = None
    try:
        conn = db.connect(dsn, password_env, autocommit=True)
        schema.ensure(conn)
        repo_id = _register(conn, spec)
        local = sources.local_copy(spec, Path(cache_dir))
        commit = sources.resolve_commit(local, spec.ref)
        result.commit = commit
        settings = fleet_settings(overrides, Path(cache_dir))
        worker = FleetBatchWorker(str(local), settings)
        embedder = worker.embedder
        model = schema.model_id(conn, embedder.model_id, embedder.dim)
        writer = RepoWriter(conn, repo_id, model)
        worker.writer = writer
        identity = identity_of(settings, embedder)
        writer.lock()
        try:
            _update(writer, worker, local, commit, identity, result, fan_out if split_files else None, dsn,
                    password_env, cache_dir, overrides, started, split_files)
        finally:
            writer.unlock()
    except Exception as exc:  # one repository's failure is reported; the others land
        result.status = "error"
        result.error = _one_line(exc, dsn)
        if conn is not None and repo_id is not None and not conn.closed:
            try:
                record_error(conn, repo_id, result.error)
            except Exception:
                pass
    finally:
        if conn is not None:
            conn.close()
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _one_line(exc: BaseException, dsn: str) -> str:
    if isinstance(exc, CoderagError):
        return db.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return db.describe(exc, dsn) if type(exc).__module__.startswith("psycopg") else db.redact(
        f"{type(exc).__name__}: {exc}".splitlines()[0])


def _update(writer: RepoWriter, worker: FleetBatchWorker, local: Path, commit: str, identity: str,
            result: RepoResult, fan_out, dsn: str, password_env: str, cache_dir: str, overrides,
            started: float, split_files: int) -> None:
    recorded = writer.conn.execute("SELECT commit, identity, generation FROM fleet_repos WHERE id = %s",
                                   (writer.repo_id,)).fetchone()
    live = writer.begin()
    has_errors = any(f.status == "error" for f in live.values())
    if recorded[0] == commit and recorded[1] == identity and recorded[2] > 0 and not has_errors:
        result.status = "unchanged"
        result.files, result.chunks = _counts(writer)
        return
    if recorded[1] and recorded[1] != identity:  # another chunker or model: start from nothing
        writer.forget_all()
        live = {}
    repo = worker.repo
    entries = repo.entries(commit)
    to_remove = [p for p, f in live.items() if p not in entries or entries[p].blob != f.blob or f.status == "error"]
    to_add = [e for p, e in entries.items() if p not in live or live[p].blob != e.blob or live[p].status == "error"]
    result.files_removed = sum(1 for p in to_remove if p not in entries)
    result.files_changed = len(to_add)
    writer.kill_paths(to_remove)
    skipped, readable, _ = split_readable(repo, to_add, worker.settings.max_file_bytes)
    skipped = [(path, blob, "", "skipped", reason) for path, blob, reason in skipped]
    if skipped:
        writer.add_batch(skipped, [], [], None, [])
    batches = [readable[i:i + BATCH_FILES] for i in range(0, len(readable), BATCH_FILES)]
    result.batches = len(batches)
    if fan_out is not None and len(readable) > split_files:
        context = {"source": str(local), "dsn": dsn, "password_env": password_env, "cache_dir": cache_dir,
                   "overrides": overrides, "repo_id": writer.repo_id, "model": writer.model,
                   "generation": writer.next, "token": writer.token}
        outcomes = fan_out(batches, context)
    else:
        outcomes = (store_result(writer, worker.run(batch)) for batch in batches)
    for chunks, embedded, errors in outcomes:
        result.chunks_added += chunks
        result.chunks_embedded += embedded
        result.file_errors.extend(errors[:20 - len(result.file_errors)])
    tree = repo.tree_of(commit) or ""
    counts = writer.finish(commit, tree, identity, round(time.perf_counter() - started, 3))
    result.files, result.chunks = counts["files"], counts["chunks"]


def _counts(writer: RepoWriter) -> tuple[int, int]:
    return writer.conn.execute("SELECT files, chunks FROM fleet_repos WHERE id = %s",
                               (writer.repo_id,)).fetchone()


# -- a batch run on another worker (the fan-out of a big repository) -----------------------------------

_WORKERS: dict[tuple, tuple] = {}


def run_batch(items: list[tuple[str, str]], context: dict[str, Any]) -> tuple[int, int, list[dict[str, str]]]:
    """Index one batch of a repository whose update another task holds the lock for."""
    key = (context["source"], context["dsn"], json.dumps(context["overrides"] or {}, sort_keys=True))
    cached = _WORKERS.get(key)
    if cached is None or cached[0].closed:
        conn = db.connect(context["dsn"], context["password_env"], autocommit=True)
        settings = fleet_settings(context["overrides"], Path(context["cache_dir"]))
        cached = (conn, FleetBatchWorker(context["source"], settings))
        _WORKERS[key] = cached
    conn, worker = cached
    writer = RepoWriter(conn, context["repo_id"], context["model"])
    writer.next, writer.token = context["generation"], context["token"]
    worker.writer = writer
    return store_result(writer, worker.run(items))
