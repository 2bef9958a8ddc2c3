#!/usr/bin/env python3
"""Indexing through the ``openai`` embedder against a loopback embeddings server.

    python bench/remote_embedding.py                      # the public corpus repository
    python bench/remote_embedding.py --corpus ../corpora/bench-large --delay 0.05

The server (``coderag.testing.embedding_server``) adds ``--delay`` seconds to every request and
serves at most ``--server-concurrency`` requests at a time, like a GPU server with a queue.  Rows:

* a cold ``git coderag index`` of a fresh clone with 1 request in flight, then with 8;
* with 8 in flight, 20% of requests answered 429 (``Retry-After: 0.1``);
* a second ``git coderag index --full`` against the same server (the embedding cache);
* 1 and 8 in flight again with 128 texts per request instead of the default 64.

Each row is the installed command line in a clone, default settings plus the embedder's.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from coderag.testing.embedding_server import EmbeddingServer

HERE = Path(__file__).resolve().parent


def clone(corpus: Path, work: Path, name: str) -> Path:
    target = work / name
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["git", "clone", "-q", str(corpus / "repo"), str(target)], check=True)
    return target


def index(repo: Path, server: EmbeddingServer, in_flight: int, *extra: str, batch_size: int = 64) -> dict:
    for key, value in (("coderag.embedder", "openai"), ("coderag.embedder.url", server.url),
                       ("coderag.embedder.model", "bench-embed"), ("coderag.embedder.in-flight", str(in_flight)),
                       ("coderag.embedder.batch-size", str(batch_size))):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    server.reset()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "coderag", "index", "--json", *extra], cwd=repo,
                            capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"index failed: {result.stderr.strip()}")
    report = json.loads(result.stdout)
    answered = [r.answered for r in server.requests]
    return {"wall_s": round(wall, 2), "requests": len(answered), "answered_429": answered.count("429"),
            "max_concurrent_seen": server.max_seen_concurrent, "chunks": report["chunks_added"],
            "chunks_embedded": report["chunks_embedded"], "errors": report["errors"],
            "retries": report["service"].get("retries", 0), "embed_busy_s": round(report["seconds"]["embed"], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(HERE.parent.parent / "corpora" / "public"))
    parser.add_argument("--work", default=str(HERE / "out" / "work"))
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--server-concurrency", type=int, default=8)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--name", default="remote-embedding")
    args = parser.parse_args(argv)
    corpus, work = Path(args.corpus).resolve(), Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"corpus": corpus.name, "delay_s": args.delay, "server_concurrency": args.server_concurrency,
                    "dim": args.dim, "load_before": list(os.getloadavg()), "rows": {}}
    rows = report["rows"]
    with EmbeddingServer(dim=args.dim, delay=args.delay, max_concurrent=args.server_concurrency) as server:
        rows["1 in flight"] = index(clone(corpus, work, "remote-1"), server, 1)
        repo = clone(corpus, work, "remote-8")
        rows["8 in flight"] = index(repo, server, 8)
        rows["8 in flight, --full again (cache)"] = index(repo, server, 8, "--full")
        rows["1 in flight, batch-size 128"] = index(clone(corpus, work, "remote-1-128"), server, 1, batch_size=128)
        rows["8 in flight, batch-size 128"] = index(clone(corpus, work, "remote-8-128"), server, 8, batch_size=128)
    with EmbeddingServer(dim=args.dim, delay=args.delay, max_concurrent=args.server_concurrency, fault="429",
                         fault_rate=0.2, retry_after=0.1, seed=1) as server:
        rows["8 in flight, 20% answered 429"] = index(clone(corpus, work, "remote-429"), server, 8)
    report["load_after"] = list(os.getloadavg())
    base, fast = rows["1 in flight"], rows["8 in flight"]
    report["speedup_8_vs_1"] = round(base["wall_s"] / fast["wall_s"], 2)
    report["extra_wall_with_429"] = round(rows["8 in flight, 20% answered 429"]["wall_s"] / fast["wall_s"] - 1, 3)
    report["requests_per_chunk_bound"] = round(fast["chunks"] / 64, 1)
    for name, row in rows.items():
        print(f"{name:36} {row['wall_s']:7.2f} s  {row['requests']:5} requests  {row['answered_429']:4} x 429  "
              f"max {row['max_concurrent_seen']} at once  {row['chunks_embedded']} embedded  errors {row['errors']}")
    print(f"8 vs 1 in flight: {report['speedup_8_vs_1']}x; with 429s: +{100 * report['extra_wall_with_429']:.0f}% "
          f"wall; chunks/64 = {report['requests_per_chunk_bound']}")
    print(f"load average {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    (HERE / "out" / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
