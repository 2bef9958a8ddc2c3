#!/usr/bin/env python3
"""The vector store's commits after heavy churn: how long the foreground commit takes.

A shard of the ``hnsw`` store holds up to ~110k 256-d vectors.  Once its
deleted slots pass half of its live vectors, its graph must be rebuilt from
the live ones.  This script fills one shard, deletes ``--delete`` of it in one
commit (a reformatting or a vendored folder removed), then makes small
commits (``--add`` new vectors each) until the store has folded everything
back, timing every commit and searches in between::

    python bench/hnsw_churn.py                       # 110,000 vectors, 60% deleted
    python bench/hnsw_churn.py --vectors 50000 --delete 0.7

Prints a JSON summary (with the load average) and writes ``bench/out/hnsw-churn.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from coderag.stores.hnsw_store import HnswVectorStore  # noqa: E402


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    """Vectors near a few hundred centres: code's embeddings have many close neighbours."""
    picks = centers[rng.integers(0, len(centers), n)]
    return (picks + 0.35 * rng.normal(size=picks.shape)).astype(np.float32)


def search_ms(store: HnswVectorStore, queries: np.ndarray) -> float:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        store.search(q, 10)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=int, default=110_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--delete", type=float, default=0.6, help="share of the vectors deleted in one commit")
    parser.add_argument("--add", type=int, default=100, help="new vectors in each later commit")
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(300, args.dim))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hnsw-churn-") as tmp:
        store = HnswVectorStore(Path(tmp) / "v", dim=args.dim)
        t0 = time.perf_counter()
        store.add(np.arange(args.vectors), clustered(rng, centers, args.vectors))
        store.commit()
        build_s = time.perf_counter() - t0
        if store.needs_compaction:
            store.compact()  # everything in graphs before the churn
        queries = clustered(rng, centers, 100)
        search_before = search_ms(store, queries)
        gone = rng.choice(args.vectors, int(args.delete * args.vectors), replace=False)
        t0 = time.perf_counter()
        store.delete(gone.tolist())
        store.commit()
        churn_commit_s = time.perf_counter() - t0
        search_after_churn = search_ms(store, queries)
        later: list[float] = []
        label = args.vectors
        while len(later) < 50:
            store.add(np.arange(label, label + args.add), clustered(rng, centers, args.add))
            label += args.add
            t0 = time.perf_counter()
            store.commit()
            later.append(time.perf_counter() - t0)
            if not store.needs_compaction:
                break
        search_settled = search_ms(store, queries)
        live = len(store)
        in_graphs = store._graphs.live_count() - len(store._tombstones)
        store.close()
    summary = {
        "vectors": args.vectors, "dim": args.dim, "deleted": int(args.delete * args.vectors), "add": args.add,
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "cold_build_s": round(build_s, 2),
        "churn_commit_s": round(churn_commit_s, 2),
        "later_commits": len(later), "later_commit_max_s": round(max(later), 2),
        "later_commit_s": [round(x, 2) for x in later],
        "search_p50_ms": {"before": search_before, "after_churn": search_after_churn, "settled": search_settled},
        "live": live, "in_graphs": in_graphs,
        "foreground_commit_max_s": round(max([churn_commit_s, *later]), 2),
    }
    print(json.dumps(summary, indent=2))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"hnsw-churn{'-' + args.name if args.name else ''}.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
