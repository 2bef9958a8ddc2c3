#!/usr/bin/env python3
"""Ranking ablations on the external benchmark: index each repository once, score many settings.

The external benchmark (``../shared/eval/external``: natural-language, architecture and symbol
questions on real repositories, NDCG@10 with file-level targets) is scored by its own
``score.py``; this script imports that scorer's task loader and metric, so its numbers are
the same, but it indexes every repository once and then scores each row in-process::

    BENCH_WORK=$PWD/external-work python bench/external_ablation.py --external ../shared/eval/external
    python bench/external_ablation.py --only default,"- file diversity" --repo zod --repo chi
    python bench/external_ablation.py --row "diversity 0.3=file_diversity:0.3"

Rows are search-time settings (``coderag.search.<weight>`` overrides and the search mode);
the repositories must have been written by the benchmark's ``prepare_repos.py``.  Prints a
Markdown table (mean over repositories, per category, per language) and writes
``bench/out/external-ablation.json``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from ablation import ROWS as DOCSTRING_ROWS  # noqa: E402
from ablation import parse_row  # noqa: E402

# The docstring-corpus ablation's rows (bench/ablation.py), those that matter for these questions.
ROWS: dict[str, tuple[str, dict[str, str]]] = {name: DOCSTRING_ROWS[name] for name in (
    "default", "lexical", "semantic", "- file diversity", "- file words", "- file coherence", "- file signals",
    "previous defaults", "- name words", "- test penalty", "- example penalty", "- symbol match")}
CATEGORIES = ("architecture", "semantic", "symbol")


def load_scorer(external: Path):
    spec = importlib.util.spec_from_file_location("external_score", external / "score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["external_score"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def index_repo(repo: Path, reindex: bool) -> float:
    command = [sys.executable, "-m", "coderag", "index", "--quiet"] + (["--full"] if reindex else [])
    start = time.perf_counter()
    subprocess.run(command, cwd=repo, check=True)
    return time.perf_counter() - start


def score_row(scorer, tasks_by_repo, repos: dict[str, Path], mode: str, weights: dict[str, str]) -> dict:
    from coderag import Index

    per_repo: dict[str, dict] = {}
    latencies: list[float] = []
    queries = []
    for name, tasks in tasks_by_repo.items():
        index = Index.open(repos[name], config={f"coderag.search.{k}": v for k, v in weights.items()})
        index.search("warm up the model and the stores", k=10, mode=mode)
        by_cat: dict[str, list[float]] = defaultdict(list)
        for task in tasks:
            start = time.perf_counter()
            found = index.search(task.query, k=scorer.TOP_K, mode=mode)
            latencies.append((time.perf_counter() - start) * 1000)
            hits = [scorer.Hit(h.path, h.start_line, h.end_line) for h in found]
            ndcg, ranks = scorer.ndcg_at_k(hits, task.targets)
            by_cat[task.category].append(ndcg)
            queries.append({"repo": name, "category": task.category, "query": task.query, "ndcg10": ndcg,
                            "ranks": ranks, "top": [h.path for h in found]})
        index.close()
        scores = [s for values in by_cat.values() for s in values]
        per_repo[name] = {"language": tasks[0].language, "ndcg10": statistics.fmean(scores),
                          "by_category": {c: statistics.fmean(v) for c, v in by_cat.items()}}
    by_category = {c: statistics.fmean([r["by_category"][c] for r in per_repo.values() if c in r["by_category"]])
                   for c in CATEGORIES if any(c in r["by_category"] for r in per_repo.values())}
    by_language: dict[str, list[float]] = defaultdict(list)
    for r in per_repo.values():
        by_language[r["language"]].append(r["ndcg10"])
    return {"mode": mode, "weights": weights, "ndcg10": statistics.fmean(r["ndcg10"] for r in per_repo.values()),
            "by_category": by_category,
            "by_language": {lang: statistics.fmean(v) for lang, v in sorted(by_language.items())},
            "repos": per_repo, "p50_ms": statistics.median(latencies), "queries": queries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--external", default=str(ROOT.parent / "shared" / "eval" / "external"),
                        help="the external benchmark's folder (score.py, annotations, repos.json)")
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--row", action="append", default=[], help="an extra row: NAME=key:value,...")
    parser.add_argument("--repo", action="append", default=[], help="only these repositories")
    parser.add_argument("--reindex", action="store_true", help="rebuild every index (--full) first")
    parser.add_argument("--name", default="external-ablation")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    scorer = load_scorer(Path(args.external).resolve())
    specs = scorer.load_specs()
    tasks_by_repo: dict[str, list] = defaultdict(list)
    for task in scorer.load_tasks(specs):
        if not args.repo or task.repo in args.repo:
            tasks_by_repo[task.repo].append(task)
    repos = {}
    index_s = {}
    for name in sorted(tasks_by_repo):
        root = scorer.REPOS_DIR / name
        if not (root / ".git").exists():
            raise SystemExit(f"{root} is missing: run the benchmark's prepare_repos.py first")
        repos[name] = root
        index_s[name] = index_repo(root, args.reindex)
    rows = {n: ROWS[n] for n in args.only.split(",")} if args.only else dict(ROWS)
    rows.update(parse_row(r) for r in args.row)
    langs = sorted({specs[n]["language"] for n in repos})
    print(f"{len(repos)} repositories, {sum(len(t) for t in tasks_by_repo.values())} queries, "
          f"index {sum(index_s.values()):.1f} s")
    print(f"| configuration | NDCG@10 | {' | '.join(CATEGORIES)} | {' | '.join(langs)} | p50 ms |")
    print("|" + " --- |" * (3 + len(CATEGORIES) + len(langs)))
    results = {}
    for name, (mode, weights) in rows.items():
        r = score_row(scorer, tasks_by_repo, repos, mode, weights)
        results[name] = r
        cats = " | ".join(f"{r['by_category'].get(c, 0):.3f}" for c in CATEGORIES)
        per_lang = " | ".join(f"{r['by_language'].get(lang, 0):.3f}" for lang in langs)
        print(f"| {name} | {r['ndcg10']:.3f} | {cats} | {per_lang} | {r['p50_ms']:.1f} |", flush=True)
    out = HERE / "out" / f"{args.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"index_s": index_s, "rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
