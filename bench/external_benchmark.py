#!/usr/bin/env python3
"""The external benchmark, coderag against semble, in one run on one machine.

Runs the benchmark's own scorer (``score.py`` in ``../shared/eval/external``) twice in a row:
``score.py cli`` (coderag: a cold ``git coderag index`` of every prepared repository, then
``from coderag import Index`` searches) and ``score.py semble --model-path coderag/models/default``
(semble driven by coderag's bundled model, so both embed with the same static model).  Then
prints one Markdown report: NDCG@10 per repository side by side, per category, per language,
the repositories each one wins, cold index times and query p50, with the load average::

    BENCH_WORK=$PWD/external-work python bench/external_benchmark.py
    python bench/external_benchmark.py --semble-python /path/to/venv-with-semble/bin/python

Each index is built cold: the script deletes ``.git/coderag`` of every prepared repository
first.  Results go to ``bench/out/external-benchmark.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CATEGORIES = ("architecture", "semantic", "symbol")


def run_scorer(external: Path, python: str, system: str, out: Path, extra: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob(f"{system}-*.json"))
    command = [python, str(external / "score.py"), system, "--out", str(out), *extra]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=external)
    written = sorted(set(out.glob(f"{system}-*.json")) - before)
    return json.loads(written[-1].read_text())


def clear_indexes(work: Path) -> None:
    for repo in sorted((work / "repos").iterdir()):
        shutil.rmtree(repo / ".git" / "coderag", ignore_errors=True)


def report(ours: dict, peer: dict, load: tuple[float, float, float]) -> str:
    a = {r["repo"]: r for r in ours["repos"]}
    b = {r["repo"]: r for r in peer["repos"]}
    lines = [f"Load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", "",
             "| repository | language | coderag NDCG@10 | semble NDCG@10 | coderag index s | semble index s"
             " | coderag p50 ms | semble p50 ms |", "|" + " --- |" * 8]
    wins = 0
    for name in sorted(a):
        x, y = a[name], b.get(name, {})
        win = x["ndcg10"] > y.get("ndcg10", -1)
        wins += win
        lines.append(f"| {name} | {x['language']} | {'**' if win else ''}{x['ndcg10']:.3f}{'**' if win else ''}"
                     f" | {y.get('ndcg10', 0):.3f} | {x['index_s']:.2f} | {y.get('index_s', 0):.2f}"
                     f" | {x['p50_ms']:.2f} | {y.get('p50_ms', 0):.2f} |")
    sa, sb = ours["summary"], peer["summary"]
    lines += ["", f"coderag wins {wins} of {len(a)} repositories.", "",
              "| | coderag | semble |", "| --- | --- | --- |",
              f"| NDCG@10, mean over repositories | {sa['ndcg10']:.3f} | {sb['ndcg10']:.3f} |"]
    for cat in CATEGORIES:
        lines.append(f"| {cat} | {sa['by_category'].get(cat, 0):.3f} | {sb['by_category'].get(cat, 0):.3f} |")
    for lang in sorted(sa["by_language"]):
        lines.append(f"| {lang} | {sa['by_language'][lang]:.3f} | {sb['by_language'].get(lang, 0):.3f} |")
    lines.append(f"| cold index, total s | {sum(r['index_s'] for r in a.values()):.1f}"
                 f" | {sum(r.get('index_s', 0) for r in b.values()):.1f} |")
    worst = max(r["p50_ms"] for r in a.values())
    lines.append(f"| query p50 ms, worst repository | {worst:.2f} | {max(r['p50_ms'] for r in b.values()):.2f} |")
    return "\n".join(lines) + "\n"


def _summary(result: dict) -> dict:
    """The scorer's summary with by_category/by_language, recomputed from its repository rows."""
    from collections import defaultdict
    from statistics import fmean

    repos = result["repos"]
    by_lang = defaultdict(list)
    for r in repos:
        by_lang[r["language"]].append(r["ndcg10"])
    cats = {c: fmean([r["by_category"][c] for r in repos if c in r.get("by_category", {})])
            for c in CATEGORIES if any(c in r.get("by_category", {}) for r in repos)}
    return {"ndcg10": fmean(r["ndcg10"] for r in repos), "by_category": cats,
            "by_language": {k: fmean(v) for k, v in by_lang.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--external", default=str(ROOT.parent / "shared" / "eval" / "external"))
    parser.add_argument("--semble-python", default=sys.executable,
                        help="a Python with semble==0.7.0 installed (default: this one)")
    parser.add_argument("--skip-semble", action="store_true")
    parser.add_argument("--latency-runs", default="3")
    args = parser.parse_args(argv)
    external = Path(args.external).resolve()
    work = Path(os.environ.get("BENCH_WORK", "external-work")).resolve()
    os.environ["BENCH_WORK"] = str(work)
    load = os.getloadavg()
    clear_indexes(work)
    out = HERE / "out" / "external"
    ours = run_scorer(external, sys.executable, "cli", out, ["--latency-runs", args.latency_runs])
    peer = {"repos": [], "summary": {}}
    if not args.skip_semble:
        peer = run_scorer(external, args.semble_python, "semble",
                          out, ["--model-path", str(ROOT / "coderag" / "models" / "default"),
                                "--latency-runs", args.latency_runs])
    ours["summary"] = _summary(ours)
    peer["summary"] = _summary(peer) if peer["repos"] else {"ndcg10": 0, "by_category": {}, "by_language": {}}
    text = report(ours, peer, load)
    print(text)
    (HERE / "out" / "external-benchmark.md").write_text(text)
    (HERE / "out" / "external-benchmark.json").write_text(json.dumps({"coderag": ours, "semble": peer}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
