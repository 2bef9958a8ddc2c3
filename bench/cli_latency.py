#!/usr/bin/env python3
"""End-to-end latency of ``git coderag search`` (a new process per query), by query shape.

    python bench/cli_latency.py REPO                 # an indexed clone, e.g. one made by bench/ablation.py
    python bench/cli_latency.py REPO --queries 20 --cli "git coderag"

Sentences come from the corpus queries next to the clone's source (``--corpus``); bare names are the
last component of the definitions those queries target.  Each command's wall time includes Python's
start, imports, opening the index, loading the model (sentences only) and printing JSON.

It also reports the search path's import time: the median over 5 runs of the top-level imports'
cumulative time that ``python -X importtime -m coderag search`` prints.

Commands run with Python's bytecode cache on, as on a user's machine: ``PYTHONDONTWRITEBYTECODE``
is removed from their environment (with it set, an editable install compiles every coderag module
from source on every command, ~45 ms); ``--no-bytecode-cache`` keeps it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from corpus_queries import query_shapes

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--corpus", default=str(HERE.parent.parent / "corpora" / "public"))
    parser.add_argument("--queries", type=int, default=15, help="queries of each shape")
    parser.add_argument("--cli", default=f"{sys.executable} -m coderag")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if set")
    args = parser.parse_args(argv)

    shapes = query_shapes(args.corpus, args.queries)
    command = shlex.split(args.cli)
    env = dict(os.environ)
    if not args.no_bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([*command, "search", "--json", "warm the page cache"], cwd=args.repo, capture_output=True,
                   env=env)
    report: dict = {"cli": args.cli, "bytecode_cache": "PYTHONDONTWRITEBYTECODE" not in env,
                    "load_before": list(os.getloadavg())}
    for shape, queries in shapes.items():
        times = []
        for query in queries:
            start = time.perf_counter()
            subprocess.run([*command, "search", "--json", "-k", "10", query], cwd=args.repo, check=True,
                           capture_output=True, env=env)
            times.append(time.perf_counter() - start)
        times.sort()
        report[shape] = {"n": len(times), "p50_s": statistics.median(times),
                         "p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}
        print(f"{shape:10} p50 {report[shape]['p50_s']:.3f} s   p95 {report[shape]['p95_s']:.3f} s   (n={len(times)})")
    imports = sorted(import_ms(args.repo, env, shapes["sentence"][0]) for _ in range(5))
    report["search_import_ms_median"] = imports[2]
    print(f"search path imports (python -X importtime, top-level cumulative): median {imports[2]:.1f} ms")
    report["load_after"] = list(os.getloadavg())
    print(f"load average {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    (HERE / "out" / "cli-latency.json").write_text(json.dumps(report, indent=1))
    return 0


def import_ms(repo: Path, env: dict, query: str) -> float:
    """Sum of the top-level imports' cumulative microseconds in ``-X importtime``'s report, in ms."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "coderag", "search", "--json", query], cwd=repo,
                         env=env, capture_output=True, text=True, check=True).stderr
    rows = re.findall(r"^import time:\s+\d+ \|\s+(\d+) \| (\S)", err, flags=re.M)
    return sum(int(cumulative) for cumulative, first in rows) / 1000  # a name right after "| " is top-level


if __name__ == "__main__":
    sys.exit(main())
