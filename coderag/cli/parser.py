"""The ``git coderag`` argument parser: every command and flag, in one place."""
from __future__ import annotations

import argparse

from coderag import __version__

EPILOG = """commands:
  index            build or update the index (incremental; --full rebuilds)
  search QUERY     find code; --json for programs
  status           what is indexed, and whether it is behind HEAD
  install-hooks    keep the index current on commit/checkout/merge/rewrite
  uninstall-hooks  remove coderag's git hooks (chained hooks are restored)
  plugins          installed backends and the plugins that provide them
  watch            keep the index current while you edit (working tree)
  mcp              an MCP server for coding agents (stdio, or --http HOST:PORT)

configuration (git config): coderag.chunker, coderag.embedder, coderag.vectorstore,
coderag.lexicalstore (backend names), coderag.<kind>.<option> (backend options, e.g.
coderag.embedder.model = a model2vec folder), coderag.maxfilesize, coderag.workers.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="git coderag",
        description="Git-native hybrid code search: BM25 + static embeddings, kept current by git hooks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"coderag {__version__}")
    parser.add_argument("-C", dest="directory", default=".", help="run as if started in this directory")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="build or update the index")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--staged", action="store_true", help="index the staging area instead of HEAD")
    target.add_argument("--rev", default="HEAD", help="index this revision (default HEAD)")
    p.add_argument("--full", action="store_true", help="rebuild from scratch")
    p.add_argument("--background", action="store_true",
                   help="return at once and update in a detached process (used by git hooks)")
    p.add_argument("--no-wait", action="store_true", help="exit (status 3) if another update is running")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--stats", action="store_true", help="print throughput and per-stage timings")
    p.add_argument("--json", action="store_true", help="print the update report as JSON")

    p = sub.add_parser("search", help="search the index")
    p.add_argument("query", nargs="+", help="words or a symbol name")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--mode", choices=("hybrid", "lexical", "semantic"), default="hybrid")
    p.add_argument("--path", help="only paths matching this glob (e.g. 'src/*.py')")
    p.add_argument("--lang", help="only this language (python, javascript, go, ...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--wait", action="store_true", help="wait for a running update to finish first")
    p.add_argument("--no-snippet", action="store_true", help="only locations, no code")

    p = sub.add_parser("status", help="show what is indexed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("install-hooks", help="install git hooks that keep the index current")
    p.add_argument("--force", action="store_true", help="replace hooks that coderag cannot chain")
    sub.add_parser("uninstall-hooks", help="remove coderag's git hooks")

    p = sub.add_parser("plugins", help="list plugins and the backends they provide")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("mcp", help="serve coding agents over the Model Context Protocol (stdio)")
    p.add_argument("--http", metavar="HOST:PORT",
                   help="serve streamable HTTP on this address instead of stdio (e.g. 127.0.0.1:8765)")

    p = sub.add_parser("watch", help="update the index as files change in the work tree")
    p.add_argument("--quiet", "-q", action="store_true")
    return parser
