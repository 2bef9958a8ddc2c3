"""The query shapes the latency benchmarks ask: corpus sentences and the bare names they target."""
from __future__ import annotations

import json
from pathlib import Path


def query_shapes(corpus: str | Path, count: int) -> dict[str, list[str]]:
    """``count`` evenly spread corpus queries as sentences, and the last name of each one's target."""
    rows = [json.loads(line) for line in (Path(corpus) / "queries.jsonl").open(encoding="utf-8")]
    picked = [rows[i * len(rows) // count] for i in range(count)]
    return {
        "sentence": [q["query"] for q in picked],
        "bare name": [q["id"].rsplit("::", 1)[-1].rsplit(".", 1)[-1] for q in picked],
    }
