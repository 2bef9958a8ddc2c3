"""``coderag-fleet``: index many repositories into PostgreSQL on Dask, search and inspect them.

    coderag-fleet index repos.txt --dsn postgresql://... [--scheduler tcp://sched:8786]
    coderag-fleet search "where do we verify webhook signatures" --dsn postgresql://...
    coderag-fleet status --dsn postgresql://...
    coderag-fleet migrate --dsn postgresql://...

The DSN may also come from ``$CODERAG_POSTGRES_DSN``; a password belongs in
``PGPASSWORD``, ``~/.pgpass`` or the variable ``--password-env`` names, never
on the command line.  Errors are one line and a non-zero exit.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from coderag.errors import CoderagError
from coderag.errors import ConfigError

from coderag_postgres import db

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coderag" / "fleet"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coderag-fleet", description="coderag across many repositories, "
                                     "in one PostgreSQL database")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dsn", default=os.environ.get(db.DSN_ENV, ""),
                       help=f"PostgreSQL connection string (default ${db.DSN_ENV})")
        p.add_argument("--password-env", default="", help="environment variable holding the password")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("index", help="index (or update) every repository a repos.txt lists")
    p.add_argument("repos", type=Path, help="one git URL or path a line, optionally a ref and `as NAME`")
    common(p)
    p.add_argument("--scheduler", default="", help="a Dask scheduler address (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster (default 2)")
    p.add_argument("--serial", action="store_true", help="no cluster: one repository after another, here")
    p.add_argument("--split-files", type=int, default=None, metavar="N",
                   help="spread a repository with more than N files to index over the cluster's workers "
                        "(default 1500; 0 never splits)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where remote repositories are mirrored")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="a coderag setting for every repository (coderag.embedder.model=...)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="hybrid search across the fleet's repositories")
    p.add_argument("query")
    common(p)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repo", default=None, help="only repositories whose name matches this glob")
    p.add_argument("--path", default=None, help="only files whose path matches this glob")
    p.add_argument("--language", default=None)
    p.add_argument("--mode", choices=("hybrid", "lexical", "semantic"), default="hybrid")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="the settings the fleet was indexed with (its embedder)")

    p = sub.add_parser("status", help="each repository: indexed commit, files, chunks, last error")
    common(p)

    p = sub.add_parser("migrate", help="create or upgrade the fleet's tables")
    common(p)
    return parser


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("coderag."):
            raise ConfigError(f"--config wants coderag.KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def cmd_index(args) -> int:
    from coderag_postgres.fleet import cluster
    from coderag_postgres.fleet.sources import parse_repos_file

    specs = parse_repos_file(args.repos)
    overrides = _overrides(args.config)
    args.cache.mkdir(parents=True, exist_ok=True)
    bar = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(specs), unit="repo", desc="repositories", file=sys.stderr)

    def progress(result) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{result.name}: {result.status}")
            bar.update(1)

    db.connect(args.dsn, args.password_env).close()  # a wrong DSN fails here, once, not in every task
    if args.serial:
        results = cluster.index_serially(specs, args.dsn, str(args.cache), overrides, args.password_env, progress)
    else:
        results = cluster.index_on_dask(specs, args.dsn, str(args.cache), overrides, args.password_env,
                                        scheduler=args.scheduler, workers=args.workers, progress=progress,
                                        **({} if args.split_files is None else {"split_files": args.split_files}))
    if bar is not None:
        bar.close()
    cluster.build_indexes(args.dsn, args.password_env)
    failed = [r for r in results if r.status == "error"]
    if args.json:
        print(json.dumps({"repositories": [r.to_dict() for r in results], "failed": len(failed)}, indent=2))
    else:
        for r in results:
            if r.status == "error":
                print(f"{r.name}: error: {r.error}")
            else:
                print(f"{r.name}: {r.status} {r.commit[:12]} ({r.files_changed} files changed, "
                      f"{r.chunks_added} chunks, {r.chunks_embedded} embedded, {r.seconds:.1f} s)")
    return 1 if failed else 0


def cmd_search(args) -> int:
    from coderag.plugins import create_backend

    from coderag_postgres.fleet.indexer import fleet_settings
    from coderag_postgres.fleet.search import open_reader
    from coderag_postgres.fleet.search import search

    settings = fleet_settings(_overrides(args.config), Path.cwd())
    embedder = create_backend("embedder", settings.backends["embedder"], **settings.options["embedder"])
    conn = open_reader(args.dsn, args.password_env)
    try:
        hits = search(conn, args.query, args.k, repos=args.repo, path=args.path, language=args.language,
                      mode=args.mode, settings=settings, embedder=embedder)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"query": args.query, "results": [h.to_dict() for h in hits]}, indent=2))
        return 0
    for hit in hits:
        label = f" {hit.symbol}" if hit.symbol else ""
        print(f"{hit.repository}@{hit.commit[:12]}:{hit.path}:{hit.start_line}-{hit.end_line}{label}  "
              f"({hit.score:.3f})")
        for line in hit.text.splitlines()[:3]:
            print(f"    {line}")
    return 0


def cmd_status(args) -> int:
    from coderag_postgres.fleet.search import open_reader
    from coderag_postgres.fleet.search import status

    conn = open_reader(args.dsn, args.password_env)
    try:
        rows = status(conn)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"repositories": rows}, indent=2))
        return 0
    for row in rows:
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        commit = row["commit"][:12] or "(not indexed)"
        print(f"{row['name']}: {commit} {row['files']} files {row['chunks']} chunks "
              f"indexed {row['indexed_at'] or 'never'}{error}")
    return 0


def cmd_migrate(args) -> int:
    from coderag_postgres.fleet import schema

    conn = db.connect(args.dsn, args.password_env, autocommit=True)
    try:
        before, after = schema.migrate(conn)
    finally:
        conn.close()
    print(f"fleet schema: version {before} -> {after}" if before != after else f"fleet schema: version {after}, "
          "nothing to do")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not args.dsn:
            raise ConfigError(f"no database: pass --dsn postgresql://... or set ${db.DSN_ENV}")
        return {"index": cmd_index, "search": cmd_search, "status": cmd_status, "migrate": cmd_migrate}[
            args.command](args)
    except CoderagError as exc:
        print(f"coderag-fleet: {db.redact(str(exc).splitlines()[0])}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("coderag-fleet: interrupted (every repository keeps its last complete generation)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
