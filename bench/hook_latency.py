"""How long do coderag's hooks hold up a commit?  Measured on a real repository.

    python bench/hook_latency.py --source /path/to/big/repo --work /tmp/hook-bench [--runs 15]

Clones ``--source`` into ``--work`` (once), builds its index (once; minutes on
a large repository), then measures, for ``--runs`` commits each changing one
file:

* ``post-commit hook``: wall time of the installed post-commit hook run on
  its own (what git waits for after writing the commit);
* ``git commit`` with the installed hooks vs. with no hooks at all: the
  difference is what a user feels;
* ``pre-commit --staged``: wall time of ``git-coderag index --staged
  --background --quiet`` (the pre-commit framework hook's command, minus
  pre-commit's own start-up), with one file staged;
* ``fresh after``: from the end of ``git commit`` until the background
  update has made the index current (not blocking anyone; for reference).

Wall times depend on what else the machine runs, so CPU time (user + system
of the command and what it waited for; not the detached updater) is
reported too, with the load average.

Between runs the script waits until no background update is running, so
each measurement starts from an idle index.  Results are printed and written
as JSON next to this script (``out/hook_latency.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ENV = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
           GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
GIT_CODERAG = str(Path(sys.executable).parent / "git-coderag")


def git(repo: Path, *args: str, **kwargs) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True,
                          **kwargs).stdout


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + system) of each timed command and the children it waited for."""


def timed(command: list[str], cwd: Path, env: dict | None = None, name: str = "") -> float:
    """Wall seconds of ``command``; its CPU seconds go to :data:`CPU` under ``name``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env or ENV, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if name:
        CPU.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def wait_idle(repo: Path, timeout: float = 600) -> float:
    """Seconds until the index is at HEAD with no update running or pending."""
    from coderag.indexing.background import wait_until_idle
    from coderag.git.plumbing import Repo
    from coderag.ondisk.layout import IndexLocation

    start = time.perf_counter()
    loc = IndexLocation(Repo.discover(repo).index_dir())
    head = git(repo, "rev-parse", "HEAD").strip()
    while time.perf_counter() - start < timeout:
        wait_until_idle(loc, timeout=timeout)
        status = json.loads(subprocess.run([GIT_CODERAG, "status", "--json"], cwd=repo, capture_output=True,
                                           text=True).stdout)
        if status.get("commit") == head and not status["updating"] and not status.get("pending"):
            return time.perf_counter() - start
        time.sleep(0.05)
    raise SystemExit(f"the index did not reach HEAD within {timeout}s")


def touch(repo: Path, target: str, step: int) -> None:
    path = repo / target
    with open(path, "a") as handle:
        handle.write(f"\n# hook benchmark edit {step}\n")
    git(repo, "add", target)


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": round(ms[0], 1),
            "p90_ms": round(ms[min(len(ms) - 1, int(0.9 * len(ms)))], 1), "max_ms": round(ms[-1], 1),
            "runs": len(ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="repository to clone")
    parser.add_argument("--work", required=True, help="where the clone (and its index) live")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "hook_latency.json"))
    args = parser.parse_args()

    repo = Path(args.work) / "repo"
    if not repo.exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", args.source, str(repo)], check=True)
    files = git(repo, "ls-files").splitlines()
    target = next(f for f in files if f.endswith(".py"))
    build = None
    if subprocess.run([GIT_CODERAG, "status", "--json"], cwd=repo, capture_output=True, text=True,
                      env=ENV).stdout.find('"indexed": true') < 0:
        print(f"building the index of {len(files)} files (once)...", flush=True)
        build = timed([GIT_CODERAG, "index", "--quiet"], repo)
    subprocess.run([GIT_CODERAG, "install-hooks"], cwd=repo, check=True, capture_output=True)
    subprocess.run([GIT_CODERAG, "index", "--quiet"], cwd=repo, check=True, env=ENV)  # start at HEAD
    wait_idle(repo)
    status = json.loads(subprocess.run([GIT_CODERAG, "status", "--json"], cwd=repo, capture_output=True,
                                       text=True).stdout)

    hook = Path(git(repo, "rev-parse", "--git-path", "hooks").strip())
    hook = (hook if hook.is_absolute() else repo / hook) / "post-commit"
    no_hooks = dict(ENV)
    results: dict[str, list[float]] = {"post-commit hook": [], "git commit, coderag hooks": [],
                                       "git commit, no hooks": [], "pre-commit --staged": [], "fresh after": []}
    for step in range(args.runs):
        touch(repo, target, step)
        results["pre-commit --staged"].append(
            timed([GIT_CODERAG, "index", "--staged", "--background", "--quiet"], repo, name="pre-commit --staged"))
        # The staged update starts now; the commit's post-commit request coalesces with it.
        results["git commit, coderag hooks"].append(
            timed(["git", "commit", "-q", "-m", f"bench {step}"], repo, name="git commit, coderag hooks"))
        results["fresh after"].append(wait_idle(repo))

        touch(repo, target, 1000 + step)
        results["git commit, no hooks"].append(
            timed(["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"bench nohooks {step}"], repo,
                  name="git commit, no hooks"))
        results["post-commit hook"].append(timed([str(hook)], repo, no_hooks, name="post-commit hook"))
        wait_idle(repo)

    report = {
        "repository": args.source, "files": len(files), "chunks": status.get("chunks"),
        "index_build_seconds": round(build, 1) if build else None,
        "load_average_at_end": os.getloadavg(), "cpus": os.cpu_count(),
        "results": {name: summary(values) for name, values in results.items()},
        "cpu": {name: summary(values) for name, values in CPU.items()},
    }
    commit_with, commit_without = (report["results"]["git commit, coderag hooks"]["median_ms"],
                                   report["results"]["git commit, no hooks"]["median_ms"])
    report["commit_blocking_ms"] = round(commit_with - commit_without, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['files']} files, {report['chunks']} chunks; {args.runs} runs; load {report['load_average_at_end']}")
    for name, stats in report["results"].items():
        cpu = report["cpu"].get(name)
        print(f"  {name:<28} median {stats['median_ms']:8.1f} ms   p90 {stats['p90_ms']:8.1f} ms   "
              f"max {stats['max_ms']:8.1f} ms" + (f"   CPU median {cpu['median_ms']:6.1f} ms" if cpu else ""))
    print(f"  commit blocking time (median with hooks - without): {report['commit_blocking_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
