"""Hybrid search across every repository of a fleet, ranked by coderag's own fusion and signals.

Keyword candidates come from the chunks' weighted ``tsvector`` (symbol, path,
body: coderag's code tokens), vector candidates from the model's pgvector
HNSW index; both are read in one REPEATABLE READ snapshot, each chunk checked
live in its repository's current generation, so a search during an update
sees the whole old tree or the whole new one.  The two lists then go through
:func:`coderag.search.fusion.rank_labels`, exactly as a single index ranks.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from coderag.errors import ConfigError

from coderag_postgres import db
from coderag_postgres.fleet import schema
from coderag_postgres.fleet.writer import vector_literal

CANDIDATES = 100
# Equal scores are ordered by where the chunk is, not by its row id: ids depend on the order the
# rows were written (a cluster writes in another order than a serial build), places do not.
_PLACE = "r.name, c.path, c.start_line"
_TOKEN = re.compile(r"^\w+$")
_LIVE = "c.born <= r.generation AND (c.died IS NULL OR c.died > r.generation)"


@dataclass
class FleetHit:
    """One result: a span of a file in a repository at its indexed commit."""

    repository: str
    commit: str
    path: str
    start_line: int
    end_line: int
    score: float
    language: str
    symbol: str
    kind: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "score": round(float(self.score), 6)}


def _filters(repos: str | None, language: str | None) -> tuple[str, list]:
    clauses, params = [], []
    if repos:
        # Globs match repository names (``github.com/acme/*``); LIKE does it in the database.
        clauses.append("r.name LIKE %s")
        params.append(repos.replace("%", r"\%").replace("_", r"\_").replace("*", "%").replace("?", "_"))
    if language:
        clauses.append("c.language = %s")
        params.append(language)
    return "".join(f" AND {c}" for c in clauses), params


def search(conn, query: str, k: int = 10, *, repos: str | None = None, path: str | None = None,
           language: str | None = None, mode: str = "hybrid", settings=None, embedder=None) -> list[FleetHit]:
    """The ``k`` best hits for ``query`` over the fleet's repositories."""
    from coderag.ondisk.manifest import ChunkRow
    from coderag.search.fusion import Candidates
    from coderag.search.fusion import rank_labels
    from coderag.search.query import parse_query

    if not query or not query.strip():
        raise ConfigError("empty query")
    if k <= 0:
        return []
    parsed = parse_query(query)
    pool = max(CANDIDATES, 3 * k) * (4 if (path or repos or language) else 1)
    where, params = _filters(repos, language)
    lexical: list[tuple[int, float]] = []
    semantic: list[tuple[int, float]] = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tokens = [t for t in dict.fromkeys(parsed.terms + parsed.expansions) if _TOKEN.match(t)]
        if mode in ("hybrid", "lexical") and tokens:
            tsquery = " | ".join(f"'{t}'" for t in tokens)
            lexical = [(int(i), float(s)) for i, s in conn.execute(
                "SELECT c.id, ts_rank(c.tsv, q, 1) FROM fleet_chunks c JOIN fleet_repos r ON r.id = c.repo, "
                f"to_tsquery('simple', %s) q WHERE c.tsv @@ q AND {_LIVE}{where} ORDER BY 2 DESC, {_PLACE} LIMIT %s",
                [tsquery, *params, pool]).fetchall()]
        if mode == "semantic" or (mode == "hybrid" and not parsed.is_symbol):
            semantic = _semantic(conn, query, pool, where, params, embedder)
        ids = list(dict.fromkeys([i for i, _ in lexical] + [i for i, _ in semantic]))
        rows: dict[int, ChunkRow] = {}
        where_from: dict[int, tuple[str, str]] = {}
        if ids:
            for cid, name, commit, cpath, start, end, lang, symbol, kind, text in conn.execute(
                    "SELECT c.id, r.name, r.commit, c.path, c.start_line, c.end_line, c.language, c.symbol, "
                    "c.kind, c.text FROM fleet_chunks c JOIN fleet_repos r ON r.id = c.repo "
                    "WHERE c.id = ANY(%s)", (ids,)).fetchall():
                if path and not fnmatch.fnmatch(cpath, path):
                    continue
                # The repository leads the path, so the ranker's per-file rules stay per repository.
                rows[cid] = ChunkRow(cid, f"{name}/{cpath}", "", start, end, lang, symbol, kind, text)
                where_from[cid] = (name, commit)
    weights = getattr(settings, "weights", None) or {}
    ranked = rank_labels(query, Candidates(lexical, semantic), rows, k, mode, weights,
                         tie_key=lambda cid: (rows[cid].path, rows[cid].start_line))
    hits = []
    for cid, score in ranked:
        row, (name, commit) = rows[cid], where_from[cid]
        hits.append(FleetHit(name, commit, row.path[len(name) + 1:], row.start_line, row.end_line, score,
                             row.language, row.symbol, row.kind, row.text))
    return hits


def _semantic(conn, query: str, pool: int, where: str, params: list, embedder) -> list[tuple[int, float]]:
    """Chunks whose vector is near the query's, in every model's table the repositories use."""
    out: list[tuple[int, float]] = []
    models = conn.execute("SELECT m.id, m.model_id FROM fleet_models m WHERE EXISTS "
                          "(SELECT 1 FROM fleet_repos r WHERE r.model = m.id)").fetchall()
    for model, model_name in models:
        if embedder is None or embedder.model_id != model_name:
            continue  # vectors of another model cannot be compared with this query's
        table = schema.vectors_table(model)
        conn.execute("SET LOCAL hnsw.ef_search = %s" % int(min(1000, max(40, pool))))
        vector = vector_literal(embedder.embed_query(query))
        out.extend((int(i), float(s)) for i, s in conn.execute(
            f"WITH near AS (SELECT text_hash, 1 - (embedding <=> %s::vector) AS score FROM {table} "
            "ORDER BY embedding <=> %s::vector LIMIT %s) "
            "SELECT c.id, near.score FROM near JOIN fleet_chunks c ON c.text_hash = near.text_hash "
            f"JOIN fleet_repos r ON r.id = c.repo WHERE r.model = %s AND {_LIVE}{where} "
            f"ORDER BY near.score DESC, {_PLACE} LIMIT %s",
            [vector, vector, pool, model, *params, pool]).fetchall())
    return out


def status(conn) -> list[dict[str, Any]]:
    """Each repository: its indexed commit, files, chunks, when, and its last error."""
    rows = conn.execute(
        "SELECT name, source, ref, commit, generation, files, chunks, indexed_at, seconds, last_error, "
        "last_error_at FROM fleet_repos ORDER BY name").fetchall()
    keys = ("name", "source", "ref", "commit", "generation", "files", "chunks", "indexed_at", "seconds",
            "last_error", "last_error_at")
    out = []
    for row in rows:
        item = dict(zip(keys, row))
        for key in ("indexed_at", "last_error_at"):
            item[key] = item[key].isoformat(timespec="seconds") if item[key] else None
        out.append(item)
    return out


def open_reader(dsn: str, password_env: str = ""):
    """An autocommit connection for searches; a database with no fleet in it is refused (nothing is created)."""
    conn = db.connect(dsn, password_env, autocommit=True)
    try:
        have = db.schema_version(conn, schema.COMPONENT)
        if have == 0:
            raise ConfigError("this database holds no fleet yet: run `coderag-fleet index repos.txt` first")
        if have != len(schema.MIGRATIONS):
            schema.ensure(conn)  # says which way the versions differ
    except BaseException:
        conn.close()
        raise
    return conn
