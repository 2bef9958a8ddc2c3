#!/usr/bin/env python3
"""Search quality on the code-search benchmark, in one command.

Builds the corpus (once; downloads are cached by the harness) and scores
coderag through the harness's `cli` system, which indexes with
`python -m coderag index` and searches through the Python API::

    python bench/quality.py                         # public corpus, all queries
    python bench/quality.py --limit 300             # a quick, evenly spread subset
    python bench/quality.py --config coderag.search.semantic=0   # an ablation

The harness lives in the shared evaluation folder (``--eval-dir``, default
``../shared/eval`` next to this repository).  Writes ``bench/out/quality-<name>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--spec", default="public", help="spec name in EVAL_DIR/specs or a path")
    parser.add_argument("--corpora", default=str(ROOT.parent / "corpora"), help="where built corpora live")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--config", action="append", default=[],
                        help="KEY=VALUE coderag git-config setting applied to the corpus clone")
    parser.add_argument("--name", default="", help="label for the output file")
    args = parser.parse_args()

    eval_dir = Path(args.eval_dir).resolve()
    spec = Path(args.spec) if args.spec.endswith(".json") else eval_dir / "specs" / f"{args.spec}.json"
    corpus = Path(args.corpora).resolve() / spec.stem
    if not (corpus / "queries.jsonl").exists():
        subprocess.run([sys.executable, str(eval_dir / "build_corpus.py"), "--spec", str(spec),
                        "--out", str(corpus)], check=True)
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    name = args.name or spec.stem
    report = out_dir / f"quality-{name}.json"
    env = dict(os.environ)
    # The harness clones the corpus and runs `git coderag index` there; settings reach
    # that clone through git's environment config (GIT_CONFIG_COUNT/KEY_n/VALUE_n).
    for i, item in enumerate(args.config):
        key, _, value = item.partition("=")
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    if args.config:
        env["GIT_CONFIG_COUNT"] = str(len(args.config))
    command = [sys.executable, str(eval_dir / "run_eval.py"), "--corpus", str(corpus), "--system", "cli",
               "--cli-cmd", f"{sys.executable} -m coderag", "--out", str(report)]
    if args.limit:
        command += ["--limit", str(args.limit)]
    subprocess.run(command, check=True, cwd=str(eval_dir), env=env)
    data = json.loads(report.read_text())
    groups = ("all", *sorted(key for key in data["metrics"] if key.startswith("lang:")))
    summary = {key: data["metrics"][key] for key in groups}
    print(json.dumps({"latency_ms": data["latency_ms"], "index_wall_s": data.get("index_wall_s"),
                      "metrics": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
