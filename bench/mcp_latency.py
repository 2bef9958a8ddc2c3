#!/usr/bin/env python3
"""Latency of the MCP server, measured through the MCP SDK's own client over stdio.

    python bench/mcp_latency.py REPO                 # an indexed clone, e.g. one made by bench/ablation.py
    python bench/mcp_latency.py REPO --queries 40 --starts 5

Two numbers:

* start to first answer: from spawning ``git coderag mcp`` to the first ``search`` result in the
  client's hands (process start, imports, the MCP handshake, opening the index, loading the model);
* ``search`` round trip: one ``call_tool("search")`` on a running server, from the client's call to
  its parsed answer, for sentences and bare names (the same query shapes as ``bench/cli_latency.py``).

Sentences come from the corpus queries next to the clone's source (``--corpus``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from corpus_queries import query_shapes

HERE = Path(__file__).resolve().parent


def percentiles(times: list[float]) -> dict:
    times = sorted(times)
    return {"n": len(times), "p50_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
            "max_ms": 1000 * times[-1]}


def server_parameters(repo: Path, cli: str) -> StdioServerParameters:
    command, *args = shlex.split(cli)
    return StdioServerParameters(command=command, args=[*args, "mcp"], cwd=str(repo), env=dict(os.environ))


def check(result) -> dict:
    if result.isError:
        raise SystemExit(f"the server answered with an error: {result.content[0].text}")
    return json.loads(result.content[0].text)


async def start_to_first_answer(repo: Path, cli: str, query: str) -> float:
    start = time.perf_counter()
    async with stdio_client(server_parameters(repo, cli)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            check(await session.call_tool("search", {"query": query, "k": 10}))
            return time.perf_counter() - start


async def round_trips(repo: Path, cli: str, shapes: dict[str, list[str]], rounds: int) -> dict:
    async with stdio_client(server_parameters(repo, cli)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            check(await session.call_tool("search", {"query": "warm up", "k": 10}))
            report = {}
            for shape, queries in shapes.items():
                times = []
                for _ in range(rounds):
                    for query in queries:
                        start = time.perf_counter()
                        answer = check(await session.call_tool("search", {"query": query, "k": 10}))
                        times.append(time.perf_counter() - start)
                        if answer["stale"]:
                            raise SystemExit("the index is stale: run `git coderag index` in the clone first")
                report[shape] = percentiles(times)
            return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--corpus", default=str(HERE.parent.parent / "corpora" / "public"))
    parser.add_argument("--queries", type=int, default=40, help="queries of each shape")
    parser.add_argument("--rounds", type=int, default=3, help="times each query is asked")
    parser.add_argument("--starts", type=int, default=5, help="server starts to time")
    parser.add_argument("--cli", default=f"{sys.executable} -m coderag")
    parser.add_argument("--name", default="mcp-latency")
    args = parser.parse_args(argv)

    shapes = query_shapes(args.corpus, args.queries)
    report: dict = {"cli": args.cli, "load_before": list(os.getloadavg())}
    starts = [asyncio.run(start_to_first_answer(args.repo, args.cli, shapes["sentence"][i % args.queries]))
              for i in range(args.starts)]
    report["start_to_first_answer"] = percentiles(starts)
    print(f"start to first answer  p50 {report['start_to_first_answer']['p50_ms']:.0f} ms   "
          f"max {report['start_to_first_answer']['max_ms']:.0f} ms   (n={len(starts)})")
    report.update(asyncio.run(round_trips(args.repo, args.cli, shapes, args.rounds)))
    for shape in shapes:
        row = report[shape]
        print(f"search {shape:10} p50 {row['p50_ms']:.1f} ms   p95 {row['p95_ms']:.1f} ms   "
              f"max {row['max_ms']:.1f} ms   (n={row['n']})")
    report["load_after"] = list(os.getloadavg())
    print(f"load average {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    (HERE / "out" / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
