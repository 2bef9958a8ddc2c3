"""The ``postgres`` keyword store: BM25 over coderag's code tokens, computed in SQL.

Documents arrive tokenised (:class:`~coderag.protocols.LexicalDoc`), so the
store keeps postings, one row per (term, field, document) with the term's
frequency and the document's length in that field, and scores with the same
formula as the builtin ``whoosh`` store (per-field BM25 with per-field
``b``, summed with the field boosts of :data:`coderag.stores.whoosh_store.DEFAULT_BOOSTS`):

    score(d) = sum over query terms t and fields f of
               boost_f * (ln(N / (df_f(t) + 1)) + 1) * tf * (k1 + 1) / (tf + k1 * (1 - b_f + b_f * len_f / avglen_f))

times the number of times t appears in the query.  The same formula as
``whoosh`` rather than BM25F proper (fields' tf combined before saturation):
the field boosts were tuned for it, and it gives the default store's scores
to 1e-4 (the tests compare them), so switching stores does not move results.

One query fetches every posting of the query's terms through a covering
index (term, field) INCLUDE (label, tf, len), counts each term's document
frequency with a window over them and sums per document: no join, nothing
precomputed that a delete would have to rewrite.  N and the field lengths'
totals are kept by the writer in its transaction and read once per reader
(its snapshot does not change), so the per-field constants are parameters.
On the public corpus (15k chunks, 590k postings, k=100) that is ~2.5 ms a
query at the median; joining a stats table per posting took twice as long.

``scoring=tsrank`` instead uses PostgreSQL's own full text search: one
``tsvector`` per document (``setweight`` A/C/B for symbol/path/body), a GIN
index and ``ts_rank_cd`` over an OR ``tsquery``.  It has no IDF, so a common
word counts as much as a rare one.  Measured with ``bench/postgres_stores.py``
(public corpus, 1252 queries, hybrid search): MRR@10 0.380 against 0.517
for bm25 (0.518 for the default stores), and 49 ms a sentence query in the
store against 10 ms, since every matching document's tsvector is ranked.
It is kept for comparison and for databases that already tune text search.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from typing import Sequence

from coderag.errors import ConfigError
from coderag.protocols import LexicalDoc
from coderag.stores.whoosh_store import DEFAULT_BOOSTS
from coderag.stores.whoosh_store import DEFAULT_FIELD_B
from coderag_postgres.store_schema import Namespace
from coderag_postgres.store_schema import flag
from coderag_postgres.store_schema import table_names

FIELDS = ("symbol", "path", "body")
SCORINGS = ("bm25", "tsrank")
TS_WEIGHTS = {"symbol": "A", "path": "C", "body": "B"}
TS_NORMALIZATION = 2
"""``ts_rank_cd``'s length normalisation: rank / document length.  MRR@10 on 300 public corpus
queries (hybrid search): 0 (none) 0.276, 1 (1 + log length) 0.318, 2 0.366, 32 0.260."""
_COPY_BATCH = 2000


def _clean(text: str) -> str:
    # COPY's text format escapes with backslashes; PostgreSQL text holds no NUL.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return text.replace("\x00", "") if "\x00" in text else text


class PostgresLexicalStore:
    """BM25 keyword search over ``symbol``, ``path`` and ``body`` in PostgreSQL.

    :param directory: the store's folder (``<data dir>/lexical``); it names the namespace.
    :param readonly: search only; sees the state committed when it was opened.
    :param dsn: ``password_env``: see :mod:`coderag_postgres.db`.
    :param namespace: use this name instead of ``<host>:<directory>``.
    :param scoring: ``bm25`` (the default) or ``tsrank`` (PostgreSQL full text
        search); fixed when the namespace is created.
    :param field_boosts: ``k1``: ``b``: ``field_b``: as the ``whoosh`` store
        (bm25 only; changing them needs no re-index).
    """

    def __init__(self, directory: Path, readonly: bool = False, scoring: str = "bm25",
                 field_boosts: dict[str, float] | None = None, k1: float = 1.2, b: float = 0.75,
                 field_b: dict[str, float] | None = None, **options: Any) -> None:
        self.scoring = str(scoring).strip().lower()
        if self.scoring not in SCORINGS:
            raise ConfigError(f"coderag.lexicalstore.scoring must be one of {', '.join(SCORINGS)}, not {scoring!r}")
        self.boosts = {**DEFAULT_BOOSTS, **(field_boosts or {})}
        self.field_b = {**dict.fromkeys(FIELDS, float(b)), **DEFAULT_FIELD_B, **(field_b or {})}
        self.k1 = float(k1)
        if self.k1 <= 0 or not all(0 <= float(v) <= 1 for v in self.field_b.values()):
            raise ConfigError("the postgres lexical store needs k1 > 0 and 0 <= b <= 1")
        self.ns = Namespace("lexical", directory, options, flag(readonly), dim=None, layout=self.scoring,
                            create_tables=self._create_tables, check=self._check)
        self._stats: tuple[int, list[float]] | None = None
        self._indexed = self.ns.id is None or self.ns.readonly or self._has_indexes()

    @property
    def tables(self) -> tuple[str, str, str]:
        postings, docs, stats = table_names("lexical", self.ns.id or 0)
        return postings, docs, stats

    # ---------------------------------------------------------------- schema

    def _create_tables(self, conn: Any, ns_id: int) -> None:
        postings, docs, stats = table_names("lexical", ns_id)
        if self.scoring == "tsrank":
            conn.execute(f"CREATE TABLE {docs} (label bigint PRIMARY KEY, tsv tsvector NOT NULL)")
            return
        # No index yet: the first commit builds them over the whole first load (see commit()).
        conn.execute(f"CREATE TABLE {postings} (term text NOT NULL, field smallint NOT NULL, "
                     "label bigint NOT NULL, tf int NOT NULL, len int NOT NULL)")
        conn.execute(f"CREATE TABLE {docs} (label bigint PRIMARY KEY, lengths int[] NOT NULL)")
        conn.execute(f"CREATE TABLE {stats} (field smallint PRIMARY KEY, total bigint NOT NULL)")
        conn.execute(f"INSERT INTO {stats} SELECT generate_series(0, {len(FIELDS) - 1}), 0")

    def _check(self, dim: int | None, layout: str) -> str:
        return f"was built with scoring={layout}, not {self.scoring}" if layout != self.scoring else ""

    def _index_statements(self) -> list[str]:
        postings, docs, _ = self.tables
        if self.scoring == "tsrank":
            return [f"CREATE INDEX {docs}_tsv ON {docs} USING gin (tsv)"]
        # Covering: a query reads a term's postings from the index alone, contiguous, never the heap.
        return [f"CREATE INDEX {postings}_term ON {postings} (term, field) INCLUDE (label, tf, len)",
                f"CREATE INDEX {postings}_label ON {postings} (label)"]

    def _has_indexes(self) -> bool:
        postings, docs, _ = self.tables
        with self.ns.guard():
            found = self.ns.conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexname "
                                         "NOT LIKE '%%_pkey'", (docs if self.scoring == "tsrank" else postings,)
                                         ).fetchone()[0]
            self.ns.conn.commit()  # a metadata read, not the start of the write transaction
        return found == len(self._index_statements())

    # --------------------------------------------------------------- changes

    def add(self, docs: Sequence[LexicalDoc]) -> None:
        """Add documents; a label added again replaces its older document."""
        self.ns.check_writable()
        latest = {int(doc.label): doc for doc in docs}
        if not latest:
            return
        with self.ns.guard():
            self._delete(list(latest))
            if self.scoring == "tsrank":
                self._add_tsvectors(list(latest.values()))
            else:
                self._add_postings(list(latest.values()))
            self.ns.add_items(len(latest))

    def _add_postings(self, docs: list[LexicalDoc]) -> None:
        postings, table, stats = self.tables
        conn = self.ns.conn
        totals = [0] * len(FIELDS)
        cursor = conn.cursor()
        with cursor.copy(f"COPY {postings} (term, field, label, tf, len) FROM STDIN") as copy_postings:
            doc_rows: list[str] = []
            for start in range(0, len(docs), _COPY_BATCH):
                rows: list[str] = []
                for doc in docs[start:start + _COPY_BATCH]:
                    label = int(doc.label)
                    lengths = []
                    for field, text in enumerate((doc.symbol, doc.path, doc.body)):
                        tokens = _clean(text or "").split()
                        n = len(tokens)
                        lengths.append(n)
                        totals[field] += n
                        rows.extend(f"{term}\t{field}\t{label}\t{tf}\t{n}\n" for term, tf in Counter(tokens).items())
                    doc_rows.append(f"{label}\t{{{lengths[0]},{lengths[1]},{lengths[2]}}}\n")
                copy_postings.write("".join(rows))
        with cursor.copy(f"COPY {table} (label, lengths) FROM STDIN") as copy_docs:
            copy_docs.write("".join(doc_rows))
        self._add_totals(totals)

    def _add_totals(self, totals: list[int]) -> None:
        if any(totals):
            self.ns.conn.execute(f"UPDATE {self.tables[2]} s SET total = s.total + d.delta FROM "
                                 "unnest(%s::bigint[]) WITH ORDINALITY d(delta, i) WHERE s.field = d.i - 1",
                                 (totals,))

    def _add_tsvectors(self, docs: list[LexicalDoc]) -> None:
        conn = self.ns.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS coderag_lex_load "
                     "(label bigint, symbol text, path text, body text) ON COMMIT DELETE ROWS")
        with conn.cursor().copy("COPY coderag_lex_load FROM STDIN") as copy:
            for start in range(0, len(docs), _COPY_BATCH):
                copy.write("".join(f"{int(d.label)}\t{_clean(d.symbol or '')}\t{_clean(d.path or '')}\t"
                                   f"{_clean(d.body or '')}\n" for d in docs[start:start + _COPY_BATCH]))
        vector = " || ".join(f"setweight(to_tsvector('simple', {field}), '{TS_WEIGHTS[field]}')" for field in FIELDS)
        conn.execute(f"INSERT INTO {self.tables[1]} (label, tsv) SELECT label, {vector} FROM coderag_lex_load")
        conn.execute("TRUNCATE coderag_lex_load")

    def delete(self, labels: Sequence[int]) -> None:
        """Remove labels; unknown labels are ignored."""
        self.ns.check_writable()
        labels = [int(label) for label in labels]
        if labels:
            with self.ns.guard():
                self.ns.add_items(-self._delete(labels))

    def _delete(self, labels: list[int]) -> int:
        """Delete the documents of ``labels`` that exist; how many there were."""
        postings, docs, _ = self.tables
        conn = self.ns.conn
        if self.scoring == "tsrank":
            return conn.execute(f"DELETE FROM {docs} WHERE label = ANY(%s)", (labels,)).rowcount
        gone = conn.execute(f"DELETE FROM {docs} WHERE label = ANY(%s) RETURNING label, lengths",
                            (labels,)).fetchall()
        if gone:
            conn.execute(f"DELETE FROM {postings} WHERE label = ANY(%s)", ([label for label, _ in gone],))
            self._add_totals([-sum(lengths[f] for _, lengths in gone) for f in range(len(FIELDS))])
        return len(gone)

    def commit(self) -> None:
        """Make the changes visible and durable in one transaction (building the indexes on first commit)."""
        self.ns.check_writable()
        with self.ns.guard():
            if not self._indexed:
                self.ns.conn.execute("SELECT set_config('maintenance_work_mem', '256MB', true)")
                for statement in self._index_statements():
                    self.ns.conn.execute(statement)
            self.ns.conn.commit()
        self._indexed = True

    # ---------------------------------------------------------------- search

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(label, score)`` pairs, best first (ties by label)."""
        self.ns.check_open()
        counts = Counter(t for t in query_tokens if t and t.strip())
        if int(k) <= 0 or not counts or self.ns.id is None:
            return []
        try:
            return self._search(counts, int(k))
        except Exception:
            if not (self.ns.readonly and self.ns.is_broken()):
                raise
        self.ns.reconnect()  # the server restarted or ended an idle session: once more, on a new one
        self._stats = None
        return self._search(counts, int(k)) if self.ns.id is not None else []

    def _search(self, counts: Counter, k: int) -> list[tuple[int, float]]:
        with self.ns.guard():
            if self.scoring == "tsrank":
                rows = self._search_tsrank(list(counts), k)
            else:
                rows = self._search_bm25(counts, k)
        return [(int(label), float(score)) for label, score in rows if score > 0]

    def _field_stats(self) -> tuple[int, list[float]]:
        """``(N, average length per field)``; a reader's snapshot never changes, so it asks once."""
        if self.ns.readonly and self._stats is not None:
            return self._stats
        _, _, stats = self.tables
        n, totals = self.ns.conn.execute(
            f"SELECT ns.items, array_agg(s.total ORDER BY s.field) FROM coderag_store_namespaces ns, {stats} s "
            "WHERE ns.id = %s GROUP BY ns.items", (self.ns.id,)).fetchone() or (0, [])
        averages = [float(total) / n if n and total else 1.0 for total in totals]
        self._stats = (int(n), averages)
        return self._stats

    def _search_bm25(self, counts: Counter, k: int) -> list[tuple[Any, Any]]:
        n, averages = self._field_stats()
        if not n:
            return []
        postings = self.tables[0]
        terms = list(counts)
        # Per-field constants folded here, so the SQL does one multiply-add per posting:
        # tf * (k1 + 1) / (tf + k1 * (1 - b) + (k1 * b / avglen) * len).
        boosts = [float(self.boosts.get(f, 0)) * (self.k1 + 1) for f in FIELDS]
        norm0 = [self.k1 * (1 - self.field_b[f]) for f in FIELDS]
        norm1 = [self.k1 * self.field_b[f] / averages[i] for i, f in enumerate(FIELDS)]
        repeats = any(c != 1 for c in counts.values())
        weight = "(%(weights)s::float8[])[array_position(%(terms)s::text[], term)] * " if repeats else ""
        return self.ns.conn.execute(f"""
            WITH p AS (SELECT term, label, field, tf, len, count(*) OVER (PARTITION BY term, field) AS df
                       FROM {postings} WHERE term = ANY(%(terms)s) AND field = ANY(%(fields)s))
            SELECT label, sum({weight}(%(boosts)s::float8[])[field + 1] * (ln(%(n)s / (df + 1)) + 1) * tf
                              / (tf + (%(norm0)s::float8[])[field + 1] + (%(norm1)s::float8[])[field + 1] * len))
                   AS score
            FROM p GROUP BY label ORDER BY score DESC, label LIMIT %(k)s""", {
            "terms": terms, "weights": [float(counts[t]) for t in terms], "n": float(n),
            "fields": [i for i, f in enumerate(FIELDS) if boosts[i]], "boosts": boosts,
            "norm0": norm0, "norm1": norm1, "k": k,
        }).fetchall()

    def _search_tsrank(self, terms: list[str], k: int) -> list[tuple[Any, Any]]:
        top = max(self.boosts.values())
        # ts_rank_cd's weights are {D, C, B, A}: path is C, body B, symbol A, as boosts relative to the largest.
        weights = [0.1] + [float(self.boosts[f]) / top for f in ("path", "body", "symbol")]
        query = " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)
        return self.ns.conn.execute(
            f"SELECT label, ts_rank_cd(%s::float4[], tsv, query, {TS_NORMALIZATION}) AS score "
            f"FROM {self.tables[1]}, to_tsquery('simple', %s) query WHERE tsv @@ query "
            "ORDER BY score DESC, label LIMIT %s", (weights, query, k)).fetchall()

    def __len__(self) -> int:
        """Live documents, counting uncommitted adds and deletes."""
        return self.ns.items()

    def close(self) -> None:
        """Close the connection; uncommitted changes are rolled back.  Closing twice is harmless."""
        self.ns.close()

    def __enter__(self) -> "PostgresLexicalStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

