#!/usr/bin/env python3
"""Indexing speed and memory on a large repository, in one command.

Measures, on a private clone of the benchmark corpus (``bench-large``: 15,900
files, 209 MB; built by the shared harness when missing):

* ``cold``: a full index with the default settings (workers from the CPU count);
* ``cold-1w``: the same with ``coderag.workers=1`` (everything in one process);
* ``commit``: ``git coderag index`` after a 10-file commit on top (a new process,
  start-up included, as a git hook would run it);
* ``embed-only``: one process embedding every chunk's text with the same model,
  nothing else (the work no pipeline can avoid); chunking for it is not timed;
* ``cold-3x``: a full index of the corpus duplicated under three prefixes
  (memory must not grow with the repository).

For each index run: wall and CPU seconds (the process and its workers), the
peak of the whole process tree's resident memory (sampled every 50 ms; pages
shared by forked workers counted once per process, so an upper bound) and its
proportional share (PSS, shared pages split), files, chunks, errors by stage,
the per-stage busy times coderag reports, and the load average before and
after (the machine may be shared)::

    python bench/index_speed.py                      # everything, ~10-20 minutes on 2 cores
    python bench/index_speed.py --runs cold,commit   # a subset
    python bench/index_speed.py --corpus PATH        # any git repository

Writes ``bench/out/index-speed-<name>.json`` and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = ("cold", "cold-1w", "commit", "embed-only", "cold-3x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "corpora" / "bench-large" / "repo"),
                        help="a git repository to index (default: the bench-large corpus)")
    parser.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"),
                        help="the shared harness, used to build the corpus when it is missing")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--scratch", default="", help="where clones go (default: a temporary folder)")
    parser.add_argument("--name", default="bench-large")
    parser.add_argument("--config", action="append", default=[], help="KEY=VALUE git config for every clone")
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")

    corpus = Path(args.corpus).resolve()
    if not (corpus / ".git").exists() and args.name == "bench-large":
        eval_dir = Path(args.eval_dir).resolve()
        subprocess.run([sys.executable, str(eval_dir / "build_corpus.py"), "--spec",
                        str(eval_dir / "specs" / "bench-large.json"), "--out", str(corpus.parent)], check=True)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="coderag-speed-"))
    scratch.mkdir(parents=True, exist_ok=True)
    config = [item.partition("=")[::2] for item in args.config]
    results: dict[str, dict] = {"machine": machine(), "corpus": str(corpus), "runs": {}}
    try:
        for run in runs:
            print(f"== {run} (load {load()})", file=sys.stderr, flush=True)
            results["runs"][run] = RUNNERS[run](corpus, scratch, config)
            print(json.dumps(results["runs"][run], indent=1)[:1500], file=sys.stderr, flush=True)
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    summarise(results)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"index-speed-{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


# ---------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------


def clone(corpus: Path, scratch: Path, name: str, config: list[tuple[str, str]]) -> Path:
    target = scratch / name
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(corpus), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "reset", "-q"], check=True)  # a staging area, no work tree files
    for key, value in config:
        git(target, "config", key, value)
    return target


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True,
                          check=True).stdout.decode().strip()


def run_cold(corpus: Path, scratch: Path, config, extra=(), name: str = "cold") -> dict:
    repo = clone(corpus, scratch, name, config)
    for key, value in extra:
        git(repo, "config", key, value)
    result = index(repo)
    shutil.rmtree(repo / ".git" / "coderag", ignore_errors=True)
    return result


def run_cold_one_worker(corpus: Path, scratch: Path, config) -> dict:
    return run_cold(corpus, scratch, config, extra=[("coderag.workers", "1")], name="cold-1w")


def run_commit(corpus: Path, scratch: Path, config) -> dict:
    """Index, commit edits to 10 files, then time the update a post-commit hook would run."""
    repo = clone(corpus, scratch, "commit", config)
    index(repo, stats=False)
    python = [p for p in git(repo, "ls-files").splitlines() if p.endswith(".py")]
    paths = python[:: max(1, len(python) // 10)][:10]  # spread over the tree, as a real commit might not be
    for i, path in enumerate(paths):  # edit through the object database: the clone has no work tree
        text = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True,
                              check=True).stdout + f"\n\ndef bench_edit_{i}(value):\n    return value * {i}\n".encode()
        blob = git(repo, "hash-object", "-w", "--stdin", input=text)
        git(repo, "update-index", "--cacheinfo", f"100644,{blob},{path}")
    tree = git(repo, "write-tree")
    commit = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "ten edits")
    git(repo, "update-ref", "HEAD", commit)
    result = index(repo)
    result["files_changed"] = len(paths)
    shutil.rmtree(repo / ".git" / "coderag", ignore_errors=True)
    return result


def run_tripled(corpus: Path, scratch: Path, config) -> dict:
    """The corpus three times, under a/, b/ and c/: same kind of content, three times the size."""
    repo = clone(corpus, scratch, "cold-3x", config)
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    env = dict(os.environ, GIT_INDEX_FILE=str(repo / ".git" / "index-3x"))
    for prefix in ("a/", "b/", "c/"):
        subprocess.run(["git", "-C", str(repo), "read-tree", f"--prefix={prefix}", tree], env=env, check=True)
    tripled = subprocess.run(["git", "-C", str(repo), "write-tree"], env=env, capture_output=True,
                             check=True).stdout.decode().strip()
    git(repo, "update-ref", "HEAD", git(repo, "commit-tree", tripled, "-m", "three copies"))
    git(repo, "reset", "-q")
    result = index(repo)
    shutil.rmtree(repo, ignore_errors=True)
    return result


def run_embed_only(corpus: Path, scratch: Path, config) -> dict:
    """Chunk every file (not timed), then time one process embedding every chunk's text."""
    code = r'''
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])  # the bench folder
from chunk_texts import embedding_texts
from coderag.config import load_settings
from coderag.indexing.file_pipeline import BatchWorker
texts, _ = embedding_texts(sys.argv[1])
worker = BatchWorker(sys.argv[1], load_settings(Path(sys.argv[1])), None)
unique = list(dict.fromkeys(texts))
embed = worker.embedder.embed_documents
t0, c0 = time.perf_counter(), time.process_time()
for start in range(0, len(unique), 2000):
    embed(unique[start:start + 2000])
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "chunks": len(texts),
                  "unique_texts": len(unique), "mb": sum(len(t.encode()) for t in unique) / 1e6}))
'''
    repo = clone(corpus, scratch, "embed-only", config)
    before = load()
    proc = subprocess.run([sys.executable, "-c", code, str(repo), str(HERE)], capture_output=True, text=True,
                          check=True, env=single_threaded_env())
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(load_before=before, load_after=load())
    shutil.rmtree(repo, ignore_errors=True)
    return result


RUNNERS = {"cold": run_cold, "cold-1w": run_cold_one_worker, "commit": run_commit,
           "embed-only": run_embed_only, "cold-3x": run_tripled}


# ---------------------------------------------------------------------------
# measuring one `git coderag index`
# ---------------------------------------------------------------------------


def single_threaded_env() -> dict[str, str]:
    # One thread per process for the tokenizer and BLAS, as in coderag's workers.
    return dict(os.environ, TOKENIZERS_PARALLELISM="false", OPENBLAS_NUM_THREADS="1")


def index(repo: Path, stats: bool = True) -> dict:
    """Run ``python -m coderag index --json`` in ``repo``; wall, CPU and sampled tree memory."""
    before = load()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "coderag", "index", "--json"], cwd=str(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=single_threaded_env())
    sampler = TreeMemory(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"coderag index failed ({proc.returncode}): {err.strip()[-2000:]}")
    report = json.loads(out)
    result = {
        "wall_s": round(wall, 2),
        "cpu_s": report.get("cpu_seconds"),
        "peak_tree_rss_mb": sampler.peak_rss_mb,
        "peak_tree_pss_mb": sampler.peak_pss_mb,
        "pss_by_process_at_peak_mb": sampler.pss_at_peak,
        "rss_by_process_at_peak_mb": sampler.rss_at_peak,
        "peak_process_rss_mb": report.get("peak_rss_mb"),
        # The writer's CPU, then each worker's (git subprocesses are too short-lived to show)
        "cpu_by_process_s": [round(sampler.cpu_s.get(proc.pid, 0.0), 1)] + sorted(
            (round(v, 1) for pid, v in sampler.cpu_s.items() if pid != proc.pid and v >= 1.0), reverse=True),
        "workers": report["workers"],
        "files": report["files_added"] + report["files_skipped"] + sum(report["errors"].values()),
        "files_indexed": report["files_added"],
        "files_skipped": report["files_skipped"],
        "chunks": report["chunks_added"],
        "chunks_embedded": report["chunks_embedded"],
        "errors": report["errors"],
        "mb_read": round(report["bytes_read"] / 1e6, 1),
        "stage_busy_s": {k: round(v, 2) for k, v in report["seconds"].items()},
        "load_before": before,
        "load_after": load(),
    }
    return result if stats else {"wall_s": result["wall_s"]}


class TreeMemory(threading.Thread):
    """Samples the summed RSS and PSS of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_mb = self.peak_pss_mb = 0.0
        self.pss_at_peak: list[float] = []  # each process's PSS (MB) when the total peaked
        self.rss_at_peak: list[tuple[int, str]] = []  # each process's RSS (MB) and name when the total peaked
        self.cpu_s: dict[int, float] = {}  # last seen user+system CPU seconds per process
        self._halt = threading.Event()
        self._pss_every = 5  # PSS makes the kernel walk page tables: sample it less often

    def run(self) -> None:
        tick = 0
        while not self._halt.is_set():
            pids = self._tree()
            rss = [(_status_kb(p, "VmRSS") / 1024, _name(p)) for p in pids]
            if sum(mb for mb, _ in rss) > self.peak_rss_mb:
                self.peak_rss_mb = sum(mb for mb, _ in rss)
                self.rss_at_peak = sorted(((round(mb), name) for mb, name in rss), reverse=True)
            for pid in pids:
                self.cpu_s[pid] = max(self.cpu_s.get(pid, 0.0), _cpu_s(pid))
            if tick % self._pss_every == 0:
                each = [_pss_kb(p) / 1024 for p in pids]
                if sum(each) > self.peak_pss_mb:
                    self.peak_pss_mb, self.pss_at_peak = sum(each), sorted((round(x) for x in each), reverse=True)
            tick += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.peak_rss_mb, self.peak_pss_mb = round(self.peak_rss_mb, 1), round(self.peak_pss_mb, 1)

    def _tree(self) -> list[int]:
        pids, frontier = [], [self.pid]
        while frontier:
            pid = frontier.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as handle:
                        frontier += [int(c) for c in handle.read().split()]
            except OSError:
                pass
        return pids


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace").rsplit("/", 1)[-1] for a in args[:3] if a]
    return " ".join(words)


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------------------
# context and summary
# ---------------------------------------------------------------------------


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def summarise(results: dict) -> None:
    runs = results["runs"]
    summary = {}
    if "cold" in runs and "cold-1w" in runs:
        summary["speedup_workers_vs_1"] = round(runs["cold-1w"]["wall_s"] / runs["cold"]["wall_s"], 2)
    if "cold" in runs and "embed-only" in runs:
        summary["cold_over_embed_only"] = round(runs["cold"]["wall_s"] / runs["embed-only"]["wall_s"], 2)
    if "cold" in runs and "cold-3x" in runs:
        for key in ("peak_tree_rss_mb", "peak_tree_pss_mb"):
            summary[f"3x_{key}_growth"] = round(runs["cold-3x"][key] / runs["cold"][key] - 1, 3)
    results["summary"] = summary


def table(results: dict) -> str:
    lines = ["| run | wall s | CPU s | peak RSS MB (tree / PSS) | workers | files | chunks | errors | load before → after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, run in results["runs"].items():
        if name == "embed-only":
            lines.append(f"| embed-only | {run['wall_s']:.1f} | {run['cpu_s']:.1f} | | 1 | | {run['chunks']} "
                         f"({run['unique_texts']} distinct, {run['mb']:.0f} MB) | | "
                         f"{run['load_before'][0]} → {run['load_after'][0]} |")
            continue
        errors = ", ".join(f"{k} {v}" for k, v in run.get("errors", {}).items()) or "0"
        lines.append(f"| {name} | {run['wall_s']:.2f} | {run['cpu_s'] or 0:.1f} | "
                     f"{run['peak_tree_rss_mb']:.0f} / {run['peak_tree_pss_mb']:.0f} | {run['workers']} | "
                     f"{run['files']} | {run['chunks']} | {errors} | "
                     f"{run['load_before'][0]} → {run['load_after'][0]} |")
    lines.append("")
    lines.append(", ".join(f"{k}: {v}" for k, v in results.get("summary", {}).items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
