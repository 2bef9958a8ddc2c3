#!/usr/bin/env python3
"""Search-quality ablations on a benchmark corpus: one index, many ranking settings.

Clones the corpus repository (built by ``bench/quality.py`` or the harness's
``build_corpus.py``), indexes it once through the command line, then scores
each configuration in-process with the harness's own hit rule (same path,
overlapping lines, span at most max(3 x target, 120) lines)::

    python bench/ablation.py                          # every row of the table, public corpus
    python bench/ablation.py --limit 400 --only default,lexical
    python bench/ablation.py --index-config coderag.chunker=windows --symbols-from CLONE_WITH_DEFINITIONS
    python bench/ablation.py --corpus ../corpora/bench-large

Rows are search-time settings (``coderag.search.<weight>`` overrides and the
search mode), so they need no re-index; settings that change the index
(chunker, model, store options) go in ``--index-config`` and get their own
clone.  Besides the corpus queries, ``symbols`` scores bare-name lookups made
from the index itself: every function/class/method name that is defined in
exactly one non-test file is a query whose answer is that definition.
Prints a Markdown table; writes ``bench/out/ablation-<name>.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ROWS: dict[str, tuple[str, dict[str, str]]] = {
    # name: (mode, coderag.search.* overrides)
    "default": ("hybrid", {}),
    "lexical": ("lexical", {}),
    "semantic": ("semantic", {}),
    "semantic 0.3": ("hybrid", {"semantic": "0.3"}),
    "semantic 1.0": ("hybrid", {"semantic": "1.0"}),
    "- name words": ("hybrid", {"name_words": "0"}),
    "- test penalty": ("hybrid", {"test_penalty": "0"}),
    "- example penalty": ("hybrid", {"example_penalty": "0"}),
    "- prose penalty": ("hybrid", {"prose_penalty": "0"}),
    "- stub penalty": ("hybrid", {"stub_penalty": "0"}),
    "- all signals": ("hybrid", {"name_words": "0", "symbol_exact": "0", "test_penalty": "0",
                                 "example_penalty": "0", "prose_penalty": "0", "stub_penalty": "0"}),
    "- symbol match": ("hybrid", {"symbol_exact": "0"}),
    "- file diversity": ("hybrid", {"file_diversity": "0"}),
    "- file words": ("hybrid", {"file_words": "0"}),
    "- file coherence": ("hybrid", {"file_coherence": "0"}),
    "- file signals": ("hybrid", {"file_diversity": "0", "file_words": "0", "file_coherence": "0"}),
    "previous defaults": ("hybrid", {"semantic": "0.6", "test_penalty": "0.5", "example_penalty": "0.2",
                                     "file_diversity": "0", "file_words": "0", "file_coherence": "0"}),
}


def parse_row(text: str) -> tuple[str, tuple[str, dict[str, str]]]:
    """A ``--row``: ``NAME=key:value,key:value`` (``mode:lexical`` sets the mode)."""
    name, _, spec = text.partition("=")
    weights = dict(item.split(":", 1) for item in spec.split(",") if item)
    mode = weights.pop("mode", "hybrid")
    return name, (mode, weights)


def load_queries(corpus: Path, limit: int) -> list[dict]:
    queries = [json.loads(line) for line in (corpus / "queries.jsonl").open(encoding="utf-8")]
    if limit and limit < len(queries):  # the harness's evenly spread subset
        queries = [queries[i * len(queries) // limit] for i in range(limit)]
    return queries


def symbol_queries(index, limit: int) -> list[dict]:
    """Bare-name lookups whose answer is the only definition of that name (tests excluded)."""
    from coderag.search.ranking import is_test_path
    from coderag.search.ranking import leaf_name

    reader = index._open_reader()
    rows = reader.manifest.db.execute(
        "SELECT path, start_line, end_line, language, symbol FROM chunks WHERE kind IN ('function', 'method', "
        "'class') AND symbol != '' AND born <= ? AND (died IS NULL OR died > ?)",
        (reader.generation, reader.generation)).fetchall()
    defs: dict[str, list[tuple]] = defaultdict(list)
    for path, start, end, language, symbol in rows:
        if not is_test_path(path):
            defs[leaf_name(symbol).lower()].append((path, start, end, language, leaf_name(symbol)))
    names = sorted(n for n, d in defs.items() if len({p for p, *_ in d}) == 1 and len(n) >= 5
                   and not n.startswith("_"))
    # A stable, spread-out sample (sorted by a hash, not by name).
    names.sort(key=lambda n: hashlib.blake2b(n.encode(), digest_size=8).digest())
    out = []
    for name in names[:limit]:
        path, start, end, language, spelled = min(defs[name], key=lambda d: d[1])
        out.append({"query": spelled, "path": path, "start_line": start, "end_line": end, "lang": language})
    return out


def is_hit(hit, target: dict) -> bool:
    t_len = target["end_line"] - target["start_line"] + 1
    return (hit.path == target["path"] and hit.end_line - hit.start_line + 1 <= max(3 * t_len, 120)
            and hit.start_line <= target["end_line"] and hit.end_line >= target["start_line"])


def score(index, queries: list[dict], mode: str, k: int = 10) -> dict:
    ranks, by_lang, lat = [], defaultdict(list), []
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q["query"], k=k, mode=mode)
        lat.append((time.perf_counter() - start) * 1000)
        rank = next((i for i, h in enumerate(hits, 1) if is_hit(h, q)), None)
        ranks.append(rank)
        by_lang[q["lang"]].append(rank)

    def mrr(rs):
        return sum(1 / r for r in rs if r) / max(len(rs), 1)

    return {"n": len(ranks), "mrr": mrr(ranks), "r1": sum(r == 1 for r in ranks) / len(ranks),
            "r10": sum(r is not None for r in ranks) / len(ranks),
            "ndcg": sum(1 / math.log2(r + 1) for r in ranks if r) / len(ranks),
            "lang_mrr": {lang: mrr(rs) for lang, rs in sorted(by_lang.items())},
            "p50_ms": statistics.median(lat)}


def prepare(corpus: Path, work: Path, index_config: list[str]) -> Path:
    """A clone of the corpus repository with a built index (reused when it exists)."""
    tag = hashlib.blake2b("\n".join(index_config).encode(), digest_size=4).hexdigest()
    clone = work / f"{corpus.name}-{tag}"
    if not (clone / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(corpus / "repo"), str(clone)], check=True)
        for item in index_config:
            key, _, value = item.partition("=")
            subprocess.run(["git", "-C", str(clone), "config", key, value], check=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "coderag", "index", "--quiet"], cwd=clone, check=True)
    print(f"index ready in {time.perf_counter() - start:.1f} s: {clone}", file=sys.stderr)
    return clone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "corpora" / "public"))
    parser.add_argument("--work", default=str(HERE / "out" / "work"), help="where clones and indexes live")
    parser.add_argument("--limit", type=int, default=0, help="evenly spread subset of the corpus queries")
    parser.add_argument("--symbols", type=int, default=300, help="bare-name lookups (0: none)")
    parser.add_argument("--symbols-from", default="",
                        help="an indexed clone to take the lookups' definitions from (for a windows-only index)")
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--index-config", action="append", default=[], help="KEY=VALUE set before indexing")
    parser.add_argument("--row", action="append", default=[], help="an extra row: NAME=key:value,...")
    parser.add_argument("--name", default="")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from coderag import Index

    corpus = Path(args.corpus).resolve()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    clone = prepare(corpus, work, args.index_config)
    queries = load_queries(corpus, args.limit)
    rows = {n: ROWS[n] for n in args.only.split(",")} if args.only else dict(ROWS)
    rows.update(parse_row(extra) for extra in args.row)
    source = Path(args.symbols_from) if args.symbols_from else clone
    symbols = symbol_queries(Index.open(source), args.symbols) if args.symbols else []
    results = {}
    langs = sorted({q["lang"] for q in queries})
    print(f"corpus {corpus.name} ({len(queries)} queries, {len(symbols)} symbol lookups)"
          + (f", index config {' '.join(args.index_config)}" if args.index_config else ""))
    short = {"javascript": "JS", "python": "Py", "typescript": "TS"}
    print(f"| configuration | MRR@10 | R@1 | R@10 | nDCG@10 | {' | '.join(short.get(l, l) + ' MRR' for l in langs)}"
          " | p50 ms | symbols R@1 |")
    print("|" + " --- |" * (7 + len(langs)))
    for name, (mode, weights) in rows.items():
        index = Index.open(clone, config={f"coderag.search.{k}": v for k, v in weights.items()})
        index.search("warm up the model and the stores", k=10, mode=mode)
        result = score(index, queries, mode)
        sym = score(index, symbols, mode) if symbols else None
        index.close()
        results[name] = {"mode": mode, "weights": weights, **result, "symbols": sym}
        per_lang = " | ".join(f"{result['lang_mrr'].get(l, 0):.3f}" for l in langs)
        sym_cell = f"{sym['r1']:.3f}" if sym else "-"
        print(f"| {name} | {result['mrr']:.3f} | {result['r1']:.3f} | {result['r10']:.3f} | {result['ndcg']:.3f}"
              f" | {per_lang} | {result['p50_ms']:.1f} | {sym_cell} |", flush=True)
    out = HERE / "out" / f"ablation-{args.name or corpus.name}.json"
    out.write_text(json.dumps({"corpus": str(corpus), "index_config": args.index_config, "rows": results},
                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
