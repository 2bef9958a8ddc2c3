#!/usr/bin/env python3
"""The fleet on Dask against the same work done serially: bench-large's packages as separate repositories.

Each top-level folder of the corpus repository (bench-large: django, sympy,
sqlalchemy, ansible-core, networkx, pip, typescript, webpack, eslint) becomes
its own git repository.  A PostgreSQL 16 + pgvector server (the pgserver
wheel) is started in a temporary folder, and ``coderag-fleet index`` is run
as a user runs it:

1. ``--serial``: every repository one after another in one process, into an empty database;
2. the default, a 2-worker Dask ``LocalCluster``, into another empty database;
3. three repositories get a commit, and (2) is run again: only those three may be indexed.

    python bench/fleet_index.py                        # ../corpora/bench-large/repo
    python bench/fleet_index.py --corpus PATH --workers 2

Prints a JSON summary (with the load average) and writes ``bench/out/fleet-index.json``.

Each run also reports the machine's busy CPU seconds over its wall time
(``cores_busy``, from ``/proc/stat``: the fleet's processes, the Dask workers
and the PostgreSQL server together).  A cluster does at least the serial run's
CPU work on the same cores, so ``serial cores_busy / cpus`` bounds from below
the ratio any cluster of this machine can reach.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def split_corpus(corpus: Path, out: Path) -> list[Path]:
    """One repository per top-level folder of ``corpus``'s HEAD."""
    repos = []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir() and p.name != ".git"):
        repo = out / folder.name
        subprocess.run(["git", "-C", str(corpus), "archive", "--format=tar", f"HEAD:{folder.name}",
                        "-o", str(out / f"{folder.name}.tar")], check=True)
        repo.mkdir()
        subprocess.run(["tar", "-xf", str(out / f"{folder.name}.tar"), "-C", str(repo)], check=True)
        (out / f"{folder.name}.tar").unlink()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "import")
        repos.append(repo)
    return repos


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``None`` where there is no /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq [steal guest ...]: the first seven, less idle and iowait
    # (steal is time the host gave to others, not work done here; guest time is already in user).
    ticks = [int(f) for f in fields[:7]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def fleet(args: list[str]) -> tuple[float, dict, float | None]:
    """Wall seconds, the JSON report and the machine's busy CPU seconds of one fleet command."""
    cpu0, t0 = busy_cpu_seconds(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "coderag_postgres.fleet.cli", *args, "--json"],
                          capture_output=True, text=True)
    seconds, cpu1 = time.perf_counter() - t0, busy_cpu_seconds()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"coderag-fleet {' '.join(args)} failed: {proc.stderr.strip()}")
    return seconds, json.loads(proc.stdout), None if cpu0 is None or cpu1 is None else cpu1 - cpu0


def create_db(server, name: str) -> str:
    server.psql(f'CREATE DATABASE "{name}";')
    return server.get_uri().replace("/postgres?", f"/{name}?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "corpora" / "bench-large" / "repo")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(work))
    server = None
    try:
        (work / "repos").mkdir()
        repos = split_corpus(args.corpus.resolve(), work / "repos")
        (work / "repos.txt").write_text("".join(f"{r}\n" for r in repos))
        server = pgserver.get_server(work / "pg", cleanup_mode="stop")
        cache = str(work / "cache")
        common = ["--cache", cache]
        load_before = os.getloadavg()
        serial_s, serial, serial_cpu = fleet(["index", str(work / "repos.txt"), "--dsn", create_db(server, "serial"),
                                  "--serial", *common])
        dask_dsn = create_db(server, "dask")
        dask_s, dasked, dask_cpu = fleet(["index", str(work / "repos.txt"), "--dsn", dask_dsn,
                                "--workers", str(args.workers), *common])
        changed = [repos[0], repos[3], repos[6]]
        for repo in changed:
            target = next(p for p in sorted(repo.rglob("*.py")) + sorted(repo.rglob("*.js")) if p.is_file())
            target.write_text(target.read_text() + "\n\ndef fleet_bench_marker():\n    return 42\n")
            git(repo, "commit", "-qam", "change")
        rerun_s, rerun, _ = fleet(["index", str(work / "repos.txt"), "--dsn", dask_dsn,
                                "--workers", str(args.workers), *common])
        touched = sorted(r["name"] for r in rerun["repositories"] if r["status"] != "unchanged")
        summary = {
            "corpus": str(args.corpus),
            "repositories": len(repos),
            "workers": args.workers,
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "serial_s": round(serial_s, 2),
            "dask_s": round(dask_s, 2),
            "ratio": round(dask_s / serial_s, 3),
            "serial_cpu_s": None if serial_cpu is None else round(serial_cpu, 1),
            "dask_cpu_s": None if dask_cpu is None else round(dask_cpu, 1),
            "serial_cores_busy": None if serial_cpu is None else round(serial_cpu / serial_s, 2),
            "dask_cores_busy": None if dask_cpu is None else round(dask_cpu / dask_s, 2),
            # The cluster does at least the serial run's CPU work on the same cores.
            "ratio_floor_on_this_machine": None if serial_cpu is None else round(
                serial_cpu / (os.cpu_count() or 1) / serial_s, 3),
            "chunks": sum(r["chunks"] for r in dasked["repositories"]),
            "embedded_serial": sum(r["chunks_embedded"] for r in serial["repositories"]),
            "embedded_dask": sum(r["chunks_embedded"] for r in dasked["repositories"]),
            "failed": serial["failed"] + dasked["failed"] + rerun["failed"],
            "rerun_s": round(rerun_s, 2),
            "rerun_touched": touched,
            "rerun_expected": sorted(r.name for r in changed),
            "per_repo_serial_s": {r["name"]: r["seconds"] for r in serial["repositories"]},
            "per_repo_dask_s": {r["name"]: r["seconds"] for r in dasked["repositories"]},
        }
        print(json.dumps(summary, indent=2))
        (HERE / "out").mkdir(exist_ok=True)
        (HERE / "out" / "fleet-index.json").write_text(json.dumps(summary, indent=2))
    finally:
        if server is not None:
            server.cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
