"""The fleet's tables, versioned: ``coderag_schema`` holds the ``fleet`` component's version.

Rows follow generations, as in coderag's own manifest: a file or chunk row is
live in generation ``g`` of its repository when ``born <= g`` and (``died`` is
null or ``died > g``).  A repository's ``generation`` moves forward in one
statement at the end of an update, so a reader sees the whole old tree or the
whole new one.  Vectors are keyed by text hash, per model, and shared by every
repository: identical code in many repositories is embedded once.
"""
from __future__ import annotations

from coderag_postgres import db

COMPONENT = "fleet"

MIGRATIONS = [
    # 0 -> 1
    """
    CREATE TABLE fleet_models (
        id serial PRIMARY KEY,
        model_id text UNIQUE NOT NULL,
        dim int NOT NULL
    );
    CREATE TABLE fleet_repos (
        id serial PRIMARY KEY,
        name text UNIQUE NOT NULL,
        source text NOT NULL,
        ref text NOT NULL DEFAULT 'HEAD',
        identity text NOT NULL DEFAULT '',
        model int REFERENCES fleet_models(id),
        generation bigint NOT NULL DEFAULT 0,
        writer text NOT NULL DEFAULT '',
        commit text NOT NULL DEFAULT '',
        tree text NOT NULL DEFAULT '',
        files int NOT NULL DEFAULT 0,
        chunks int NOT NULL DEFAULT 0,
        indexed_at timestamptz,
        seconds real,
        last_error text NOT NULL DEFAULT '',
        last_error_at timestamptz
    );
    CREATE TABLE fleet_files (
        repo int NOT NULL REFERENCES fleet_repos(id) ON DELETE CASCADE,
        path text NOT NULL,
        blob text NOT NULL,
        language text NOT NULL,
        status text NOT NULL,
        reason text NOT NULL DEFAULT '',
        born bigint NOT NULL,
        died bigint
    );
    CREATE INDEX fleet_files_repo_path ON fleet_files (repo, path);
    CREATE TABLE fleet_chunks (
        id bigserial PRIMARY KEY,
        repo int NOT NULL REFERENCES fleet_repos(id) ON DELETE CASCADE,
        path text NOT NULL,
        start_line int NOT NULL,
        end_line int NOT NULL,
        language text NOT NULL,
        symbol text NOT NULL,
        kind text NOT NULL,
        text_hash bytea NOT NULL,
        text text NOT NULL,
        tsv tsvector NOT NULL,
        born bigint NOT NULL,
        died bigint
    );
    CREATE INDEX fleet_chunks_repo_path ON fleet_chunks (repo, path);
    CREATE INDEX fleet_chunks_hash ON fleet_chunks (text_hash);
    CREATE INDEX fleet_chunks_tsv ON fleet_chunks USING gin (tsv);
    """,
]


def vectors_table(model: int) -> str:
    """The table of one model's vectors (its dimension is fixed, as an HNSW index needs)."""
    return f"fleet_vectors_{int(model)}"


def ensure(conn) -> None:
    """Create the fleet's tables in an empty database, or check their version."""
    db.ensure_schema(conn, COMPONENT, MIGRATIONS)


def migrate(conn) -> tuple[int, int]:
    """Bring the fleet's tables to this version; ``(version before, version after)``."""
    return db.migrate_schema(conn, COMPONENT, MIGRATIONS)


def model_id(conn, model_name: str, dim: int) -> int:
    """The id of an embedding model, creating its vector table on first use (its HNSW index comes later)."""
    row = conn.execute("SELECT id, dim FROM fleet_models WHERE model_id = %s", (model_name,)).fetchone()
    if row is not None:
        if row[1] != dim:
            raise db.ConfigError(f"model {model_name} is recorded with {row[1]} dimensions, the embedder "
                                 f"gives {dim}")
        return row[0]
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('coderag fleet models'))")
        row = conn.execute("SELECT id FROM fleet_models WHERE model_id = %s", (model_name,)).fetchone()
        if row is not None:
            return row[0]
        model = conn.execute("INSERT INTO fleet_models (model_id, dim) VALUES (%s, %s) RETURNING id",
                             (model_name, dim)).fetchone()[0]
        table = vectors_table(model)
        conn.execute(f"CREATE TABLE {table} (text_hash bytea PRIMARY KEY, embedding vector({int(dim)}) NOT NULL)")
    return model


def build_vector_indexes(conn) -> list[str]:
    """Build the HNSW index of every model's vector table that has none; the tables indexed.

    A first load is written with no HNSW index and indexed once at the end of the
    run: pgvector builds an index about 10x faster than it inserts the same rows
    into one (15k vectors: 4.8 s against 48.6 s), and in parallel.  Until then a
    search scans the table exactly.  Later, smaller updates insert into the index.
    ``CONCURRENTLY`` keeps the table writable and searchable meanwhile.
    """
    built = []
    # Two runs ending together would both build and deadlock (CONCURRENTLY waits for every open
    # transaction, a waiting locker's too): the second leaves the build to the first.
    if not conn.execute("SELECT pg_try_advisory_lock(hashtext('coderag fleet vector indexes'))").fetchone()[0]:
        return built
    try:
        built = _build_missing(conn)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('coderag fleet vector indexes'))")
    return built


def _build_missing(conn) -> list[str]:
    built = []
    for (model,) in conn.execute("SELECT id FROM fleet_models ORDER BY id").fetchall():
        table = vectors_table(model)
        if conn.execute("SELECT to_regclass(%s)", (f"{table}_hnsw",)).fetchone()[0] is not None:
            continue
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        conn.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {table}_hnsw ON {table} "
                     "USING hnsw (embedding vector_cosine_ops)")
        built.append(table)
    return built
