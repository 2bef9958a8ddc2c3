#!/usr/bin/env python3
"""The ``postgres`` stores against coderag's default ones: search quality, search latency, index time.

Starts its own PostgreSQL 16 + pgvector (the ``pgserver`` wheel, installed by
``pip install -e 'plugins/coderag-postgres[test]'``) in a temporary folder, so
anyone can rerun it with no database at hand, then:

1. quality: ``bench/quality.py`` on the evaluation corpus for the default
   stores (``hnsw`` + ``whoosh``), the postgres stores (BM25 in SQL) and the
   postgres stores with ``coderag.lexicalstore.scoring=tsrank``; each run
   indexes a fresh clone (``index_wall_s``) and scores MRR@10 over every query;
2. latency: one clone of the corpus indexed with each configuration in turn
   (a full rebuild each time), then ``Index.open(clone).search(q, k=10)``
   in this process over ``--queries`` corpus sentences and the bare names they
   target (see ``bench/corpus_queries.py``), with the time spent inside the
   two stores' ``search`` measured apart; plus the wall time of an update
   after a commit that touches a few files.

::

    python bench/postgres_stores.py                            # everything (~15 min on 2 cores)
    python bench/postgres_stores.py --skip-quality --queries 100
    python bench/postgres_stores.py --corpus /work/corpora/public --limit 300

Prints a JSON summary and a markdown table; writes ``bench/out/postgres-stores.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

CONFIGS = {
    "default": [],
    "postgres": ["coderag.vectorstore=postgres", "coderag.lexicalstore=postgres"],
    "postgres-tsrank": ["coderag.vectorstore=postgres", "coderag.lexicalstore=postgres",
                        "coderag.lexicalstore.scoring=tsrank"],
}


def start_server(folder: Path):
    """A private PostgreSQL in ``folder`` (unix socket only); stopped when this process exits."""
    if not os.environ.get("XDG_RUNTIME_DIR"):  # pgserver asks platformdirs for one at import
        runtime = folder / "xdg"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pgserver
    return pgserver.get_server(folder / "pg", cleanup_mode="stop")


def fresh_database(server, name: str) -> str:
    import psycopg

    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.replace("/postgres?", f"/{name}?")


def settings_for(name: str, dsn: str) -> list[str]:
    return CONFIGS[name] + ([f"coderag.postgres.dsn={dsn}"] if name != "default" else [])


def run_quality(name: str, settings: list[str], corpus: Path, args) -> dict:
    command = [sys.executable, str(HERE / "quality.py"), "--name", f"stores-{name}",
               "--corpora", str(corpus.parent), "--spec", corpus.name]
    if args.eval_dir:
        command += ["--eval-dir", args.eval_dir]
    if args.limit:
        command += ["--limit", str(args.limit)]
    for item in settings:
        command += ["--config", item]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    data = json.loads((HERE / "out" / f"quality-stores-{name}.json").read_text())
    return {"mrr@10": round(data["metrics"]["all"]["mrr@10"], 4),
            "recall@10": round(data["metrics"]["all"]["recall@10"], 4),
            "index_wall_s": data.get("index_wall_s"), "harness_search_ms_p50": round(data["latency_ms"]["p50"], 2)}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def timed_index(repo: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "coderag", "index", *extra], cwd=repo, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"coderag index failed in {repo}: {proc.stderr.strip()[-500:]}")
    return round(time.perf_counter() - t0, 2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2)


def measure_latency(repo: Path, corpus: Path, count: int) -> dict:
    """In-process search latency on the clone's current index, with the stores' share measured apart."""
    from coderag import Index
    from corpus_queries import query_shapes

    shapes = query_shapes(corpus, count)
    index = Index.open(str(repo))
    index.search("warm up the model and the connections", k=10)
    reader = index._open_reader()
    store_time = {"vectors": 0.0, "lexical": 0.0}
    for kind in store_time:
        store = getattr(reader.stores, kind)
        inner = store.search

        def timed(*a, _inner=inner, _kind=kind, **kw):
            t0 = time.perf_counter()
            try:
                return _inner(*a, **kw)
            finally:
                store_time[_kind] += time.perf_counter() - t0

        store.search = timed
    out = {}
    for shape, queries in shapes.items():
        latencies, before = [], dict(store_time)
        for query in queries:
            t0 = time.perf_counter()
            index.search(query, k=10)
            latencies.append(time.perf_counter() - t0)
        out[shape] = {"n": len(queries), "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95),
                      **{f"{kind}_store_ms_mean": round(1000 * (store_time[kind] - before[kind]) / len(queries), 2)
                         for kind in store_time}}
    index.close()
    return out


def latency_runs(server, corpus: Path, names: list[str], count: int, work: Path) -> dict:
    repo = work / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(corpus / "repo"), str(repo)], check=True)
    results = {}
    for name in names:
        for key in ("coderag.vectorstore", "coderag.lexicalstore", "coderag.lexicalstore.scoring",
                    "coderag.postgres.dsn"):
            subprocess.run(["git", "-C", str(repo), "config", "--unset", key], capture_output=True)
        for item in settings_for(name, fresh_database(server, f"latency_{name.replace('-', '_')}")):
            key, _, value = item.partition("=")
            git(repo, "config", key, value)
        full = timed_index(repo, "--full")
        row = {"index_full_s": full, **measure_latency(repo, corpus, count)}
        # A commit touching a few files, as the commit hook would see it.
        files = [p for p in git(repo, "ls-files", "*.py").split() if p][:5]
        for path in files:
            with open(repo / path, "a", encoding="utf-8") as handle:
                handle.write(f"\n\ndef bench_added_{name.replace('-', '_')}_{len(results)}():\n    return 1\n")
        git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qam", "bench edit")
        row["index_update_s"] = timed_index(repo)
        results[name] = row
    return results


def markdown(summary: dict) -> str:
    lines = ["| stores | MRR@10 | recall@10 | index (s) | sentence p50 / p95 (ms) | bare name p50 / p95 (ms) "
             "| store ms (vec + lex, sentence) | update after 5-file commit (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name in CONFIGS:
        q = summary["quality"].get(name, {})
        lat = summary["latency"].get(name, {})
        s, b = lat.get("sentence", {}), lat.get("bare name", {})
        lines.append(
            f"| {name} | {q.get('mrr@10', '-')} | {q.get('recall@10', '-')} | "
            f"{q.get('index_wall_s', lat.get('index_full_s', '-'))} | {s.get('p50_ms', '-')} / {s.get('p95_ms', '-')} | "
            f"{b.get('p50_ms', '-')} / {b.get('p95_ms', '-')} | "
            f"{s.get('vectors_store_ms_mean', '-')} + {s.get('lexical_store_ms_mean', '-')} | "
            f"{lat.get('index_update_s', '-')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "corpora" / "public"),
                        help="a built evaluation corpus (repo/ and queries.jsonl)")
    parser.add_argument("--eval-dir", default="", help="the harness folder (quality.py's default if empty)")
    parser.add_argument("--limit", type=int, default=0, help="quality: a spread subset of queries (0: all)")
    parser.add_argument("--queries", type=int, default=200, help="latency: sentences (and as many bare names)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"any of {', '.join(CONFIGS)}")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus).resolve()
    names = [name for name in args.configs.split(",") if name]
    unknown = set(names) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configs: {', '.join(sorted(unknown))}")
    work = Path(tempfile.mkdtemp(prefix="pgbench-"))
    server = start_server(work)
    summary: dict = {"corpus": str(corpus), "quality": {}, "latency": {}}
    try:
        import psycopg

        with psycopg.connect(server.get_uri()) as conn:
            summary["server"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        if not args.skip_quality:
            for name in names:
                dsn = fresh_database(server, f"quality_{name.replace('-', '_')}")
                t0 = time.perf_counter()
                summary["quality"][name] = run_quality(name, settings_for(name, dsn), corpus, args)
                print(f"quality {name}: {summary['quality'][name]} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
        if not args.skip_latency:
            summary["latency"] = latency_runs(server, corpus, names, args.queries, work)
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "postgres-stores.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print()
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
