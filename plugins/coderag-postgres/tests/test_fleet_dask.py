"""The fleet on a real Dask LocalCluster (2 worker processes) and under concurrency and faults."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from fleet_repos import RETRY, WEBHOOK, commit, fleet, fleet_json, make_repo, many_files

LIVE = "born <= %(g)s AND (died IS NULL OR died > %(g)s)"


def live_chunks(dsn: str, name: str) -> tuple[int, int]:
    """``(generation, live chunk count)`` of one repository, read in one snapshot."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute("SELECT id, generation FROM fleet_repos WHERE name = %s", (name,)).fetchone()
        if row is None:
            return 0, 0
        count = conn.execute(f"SELECT count(*) FROM fleet_chunks WHERE repo = %(r)s AND {LIVE}",
                             {"r": row[0], "g": row[1]}).fetchone()[0]
        return row[1], count


def live_content(dsn: str, name: str) -> list[tuple]:
    """Every live chunk of one repository, with its vector, in place order."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        repo, gen, model = conn.execute("SELECT id, generation, model FROM fleet_repos WHERE name = %s",
                                        (name,)).fetchone()
        return conn.execute(
            "SELECT c.path, c.start_line, c.end_line, c.symbol, c.text_hash, v.embedding::text "
            f"FROM fleet_chunks c JOIN fleet_vectors_{int(model)} v ON v.text_hash = c.text_hash "
            "WHERE c.repo = %(r)s AND c.born <= %(g)s AND (c.died IS NULL OR c.died > %(g)s) "
            "ORDER BY c.path, c.start_line", {"r": repo, "g": gen}).fetchall()


def assert_consistent(dsn: str, name: str) -> None:
    """No row of an unfinished generation, no chunk twice."""
    with psycopg.connect(dsn) as conn:
        repo, gen = conn.execute("SELECT id, generation FROM fleet_repos WHERE name = %s", (name,)).fetchone()
        dupes = conn.execute(f"SELECT count(*) - count(DISTINCT (path, start_line, end_line)) FROM fleet_chunks "
                             f"WHERE repo = %(r)s AND {LIVE}", {"r": repo, "g": gen}).fetchone()[0]
        files = conn.execute(f"SELECT count(*) - count(DISTINCT path) FROM fleet_files WHERE repo = %(r)s "
                             f"AND {LIVE}", {"r": repo, "g": gen}).fetchone()[0]
    assert dupes == 0 and files == 0, f"{name}: {dupes} duplicated chunks, {files} duplicated files"


@pytest.fixture
def big(tmp_path):
    repo = make_repo(tmp_path / "big", {**many_files(600, "a"), "net/retry.py": RETRY})
    small = make_repo(tmp_path / "small", {"hooks/webhook.go": WEBHOOK})
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{repo}\n{small}\n")
    return repo, listing, tmp_path / "cache"


def test_cluster_index_matches_a_serial_index(big, pg_dsn, make_db, dask_cluster):
    repo, listing, cache = big
    serial_dsn = make_db("fleet_serial_ref")
    fleet("index", str(listing), "--dsn", serial_dsn, "--serial", "--cache", str(cache))
    report = fleet_json("index", str(listing), "--dsn", pg_dsn, "--scheduler", dask_cluster.scheduler_address,
                        "--split-files", "100", "--cache", str(cache))
    results = {r["name"]: r for r in report["repositories"]}
    assert results["big"]["batches"] > 2 and results["big"]["status"] == "indexed"
    assert live_chunks(pg_dsn, "big") == live_chunks(serial_dsn, "big")
    assert live_chunks(pg_dsn, "small") == live_chunks(serial_dsn, "small")
    assert_consistent(pg_dsn, "big")
    for name in ("big", "small"):
        assert live_content(pg_dsn, name) == live_content(serial_dsn, name)
    # Both hold the same chunks with the same vectors (above), so what is left to compare is the
    # best hit: below it, pgvector's HNSW graphs (built by parallel workers, with random levels)
    # find different weak candidates among 3,600 templated near-twins.
    expected = {"retry with exponential backoff": ("big", "net/retry.py"),
                "handler_a17_3": ("big", "pkg/mod_0017.py"), "verify webhook signature": ("small", "hooks/webhook.go")}
    for query, (name, path) in expected.items():
        for dsn in (pg_dsn, serial_dsn):
            best = fleet_json("search", query, "--dsn", dsn)["results"][0]
            assert (best["repository"], best["path"]) == (name, path), (query, dsn == pg_dsn, best)


def test_two_updaters_of_one_repository_take_turns(big, pg_dsn):
    repo, listing, cache = big
    procs = [subprocess.Popen([sys.executable, "-m", "coderag_postgres.fleet.cli", "index", str(listing),
                               "--dsn", pg_dsn, "--serial", "--cache", str(cache), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    import json

    statuses = sorted(next(r["status"] for r in json.loads(out)["repositories"] if r["name"] == "big")
                      for out, _ in outs)
    assert statuses == ["indexed", "unchanged"], "the second updater should wait, then find nothing to do"
    assert_consistent(pg_dsn, "big")
    assert live_chunks(pg_dsn, "big")[0] == 1


def test_search_during_an_update_sees_one_whole_generation(big, pg_dsn, tmp_path):
    repo, listing, cache = big
    fleet("index", str(listing), "--dsn", pg_dsn, "--serial", "--cache", str(cache))
    before = live_chunks(pg_dsn, "big")
    commit(repo, {**many_files(600, "b"), "extra/more.py": "def brand_new_function():\n    return 1\n"})
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(live_chunks(pg_dsn, "big"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        fleet("index", str(listing), "--dsn", pg_dsn, "--serial", "--cache", str(cache))
    finally:
        stop.set()
        watcher.join()
    after = live_chunks(pg_dsn, "big")
    assert after[0] == before[0] + 1
    assert len(seen) > 3
    assert set(seen) <= {before, after}, f"a reader saw part of an update: {sorted(set(seen) - {before, after})}"
    assert_consistent(pg_dsn, "big")


def test_a_worker_killed_mid_update_leaves_the_previous_generation(big, pg_dsn, make_db, dask_cluster):
    from distributed import Client

    repo, listing, cache = big
    fleet("index", str(listing), "--dsn", pg_dsn, "--serial", "--cache", str(cache))
    before = live_chunks(pg_dsn, "big")
    commit(repo, many_files(1500, "c"))
    proc = subprocess.Popen([sys.executable, "-m", "coderag_postgres.fleet.cli", "index", str(listing),
                             "--dsn", pg_dsn, "--scheduler", dask_cluster.scheduler_address, "--split-files", "0",
                             "--cache", str(cache), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    with Client(dask_cluster.scheduler_address) as client:
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            with psycopg.connect(pg_dsn) as conn:
                writing = conn.execute("SELECT count(*) FROM fleet_files f JOIN fleet_repos r ON r.id = f.repo "
                                       "WHERE r.name = 'big' AND f.born > r.generation").fetchone()[0]
            if writing:
                for address, keys in client.processing().items():
                    if any("coderag-fleet-big" in str(key) for key in keys):
                        victim = client.run(os.getpid, workers=[address])[address]
            time.sleep(0.05)
        assert victim is not None, "the update finished before a worker could be killed"
        os.kill(victim, signal.SIGKILL)
        assert live_chunks(pg_dsn, "big") == before, "the killed update's rows are visible"
        out, err = proc.communicate(timeout=300)
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err
    assert_consistent(pg_dsn, "big")
    # Dask ran the task again on a live worker, or it is reported: either way a rerun completes it.
    fleet("index", str(listing), "--dsn", pg_dsn, "--serial", "--cache", str(cache))
    reference = make_db("fleet_kill_ref")
    fleet("index", str(listing), "--dsn", reference, "--serial", "--cache", str(cache))
    assert live_chunks(pg_dsn, "big")[1] == live_chunks(reference, "big")[1]
    assert_consistent(pg_dsn, "big")
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute("SELECT count(*) FROM fleet_chunks c JOIN fleet_repos r ON r.id = c.repo "
                            "WHERE c.born > r.generation").fetchone()[0]
    assert left == 0, "rows of the killed update were never cleaned up"
