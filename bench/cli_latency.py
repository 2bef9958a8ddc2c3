#!/usr/bin/env python3
"""End-to-end latency of ``git coderag search`` (a new process per query), by query shape.

    python bench/cli_latency.py REPO                 # an indexed clone, e.g. one made by bench/ablation.py
    python bench/cli_latency.py REPO --queries 20 --cli "git coderag"

Sentences come from the corpus queries next to the clone's source (``--corpus``); bare names are the
last component of the definitions those queries target.  Each command's wall time includes Python's
start, imports, opening the index, loading the model (sentences only) and printing JSON.
"""
from __future__ import annotations

import argparse
import json
import os
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
    args = parser.parse_args(argv)

    shapes = query_shapes(args.corpus, args.queries)
    command = shlex.split(args.cli)
    subprocess.run([*command, "search", "--json", "warm the page cache"], cwd=args.repo, capture_output=True)
    report: dict = {"cli": args.cli, "load_before": list(os.getloadavg())}
    for shape, queries in shapes.items():
        times = []
        for query in queries:
            start = time.perf_counter()
            subprocess.run([*command, "search", "--json", "-k", "10", query], cwd=args.repo, check=True,
                           capture_output=True)
            times.append(time.perf_counter() - start)
        times.sort()
        report[shape] = {"n": len(times), "p50_s": statistics.median(times),
                         "p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}
        print(f"{shape:10} p50 {report[shape]['p50_s']:.3f} s   p95 {report[shape]['p95_s']:.3f} s   (n={len(times)})")
    report["load_after"] = list(os.getloadavg())
    print(f"load average {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    (HERE / "out" / "cli-latency.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
