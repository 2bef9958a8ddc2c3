"""The fleet end to end: real repositories, a real PostgreSQL, the real command line (serial runs)."""
from __future__ import annotations

import psycopg
import pytest

from fleet_repos import RETRY, SLUG, WEBHOOK, commit, fleet, fleet_json, make_repo


@pytest.fixture
def repos(tmp_path):
    alpha = make_repo(tmp_path / "alpha", {"src/retry.py": RETRY, "README.md": "# alpha\n\nRetries.\n"})
    beta = make_repo(tmp_path / "beta", {"hooks/webhook.go": WEBHOOK, "vendor/retry.py": RETRY})
    gamma = make_repo(tmp_path / "gamma", {"web/slug.js": SLUG})
    listing = tmp_path / "repos.txt"
    listing.write_text("# the team's repositories\nalpha\nbeta main\ngamma HEAD as web-frontend\n")
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "listing": listing, "cache": tmp_path / "cache"}


def index(repos, dsn, *extra, check=True):
    return fleet_json("index", str(repos["listing"]), "--dsn", dsn, "--serial", "--cache", str(repos["cache"]),
                      *extra, check=check)


def by_name(report):
    return {r["name"]: r for r in report["repositories"]}


def test_index_search_and_status(repos, pg_dsn):
    report = by_name(index(repos, pg_dsn))
    assert set(report) == {"alpha", "beta", "web-frontend"}
    assert all(r["status"] == "indexed" for r in report.values()), report
    with psycopg.connect(pg_dsn) as conn:  # the first load is indexed once, at the end of the run
        assert conn.execute("SELECT to_regclass('fleet_vectors_1_hnsw')").fetchone()[0] is not None
    # beta's vendored copy of alpha's retry.py is the same text: embedded once for the whole fleet.
    assert report["beta"]["chunks_embedded"] < report["beta"]["chunks_added"]

    hits = fleet_json("search", "verify the signature of a webhook payload", "--dsn", pg_dsn)["results"]
    assert (hits[0]["repository"], hits[0]["path"]) == ("beta", "hooks/webhook.go")
    assert hits[0]["commit"] == report["beta"]["commit"]
    assert hits[0]["start_line"] <= 10 <= hits[0]["end_line"]

    hits = fleet_json("search", "retry_with_backoff", "--dsn", pg_dsn)["results"]
    assert {(h["repository"], h["path"]) for h in hits[:2]} == {("alpha", "src/retry.py"), ("beta", "vendor/retry.py")}
    only_alpha = fleet_json("search", "retry_with_backoff", "--dsn", pg_dsn, "--repo", "al*")["results"]
    assert {h["repository"] for h in only_alpha} == {"alpha"}
    go_only = fleet_json("search", "signature", "--dsn", pg_dsn, "--language", "go")["results"]
    assert go_only and {h["language"] for h in go_only} == {"go"}
    in_path = fleet_json("search", "retry", "--dsn", pg_dsn, "--path", "vendor/*")["results"]
    assert in_path and {h["path"] for h in in_path} == {"vendor/retry.py"}

    status = {r["name"]: r for r in fleet_json("status", "--dsn", pg_dsn)["repositories"]}
    assert status["web-frontend"]["files"] == 1 and status["web-frontend"]["chunks"] >= 1
    assert status["alpha"]["commit"] == report["alpha"]["commit"] and status["alpha"]["last_error"] == ""
    text = fleet("status", "--dsn", pg_dsn).stdout
    assert "alpha: " in text and "beta: " in text


def test_rerun_touches_only_changed_repositories(repos, pg_dsn):
    index(repos, pg_dsn)
    again = by_name(index(repos, pg_dsn))
    assert {r["status"] for r in again.values()} == {"unchanged"}

    commit(repos["alpha"], {"src/retry.py": None, "src/cache.py": "def lru_cache_get(key):\n    return key\n"})
    third = by_name(index(repos, pg_dsn))
    assert third["alpha"]["status"] == "indexed" and third["alpha"]["files_changed"] == 1
    assert third["alpha"]["files_removed"] == 1
    assert third["beta"]["status"] == third["web-frontend"]["status"] == "unchanged"
    hits = fleet_json("search", "retry_with_backoff", "--dsn", pg_dsn)["results"]
    assert ("alpha", "src/retry.py") not in {(h["repository"], h["path"]) for h in hits}, "a deleted file is found"
    assert fleet_json("search", "lru_cache_get", "--dsn", pg_dsn)["results"][0]["path"] == "src/cache.py"
    with psycopg.connect(pg_dsn) as conn:  # nothing of older generations is left behind
        dead = conn.execute("SELECT count(*) FROM fleet_chunks WHERE died IS NOT NULL").fetchone()[0]
    assert dead == 0


def test_a_failing_repository_is_reported_and_the_others_land(repos, pg_dsn, tmp_path):
    secret_url = "https://deploy:s3cr3t-token@git.invalid/team/private.git"
    repos["listing"].write_text(repos["listing"].read_text() + f"{tmp_path / 'missing'}\n{secret_url}\n")
    proc = fleet("index", str(repos["listing"]), "--dsn", pg_dsn, "--serial", "--cache", str(repos["cache"]),
                 check=False)
    assert proc.returncode == 1
    assert "s3cr3t" not in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    lines = {line.split(":")[0]: line for line in proc.stdout.splitlines()}
    assert "error" in lines["missing"] and "indexed" in lines["alpha"]
    assert "error" in lines["git.invalid/team/private"]
    status = {r["name"]: r for r in fleet_json("status", "--dsn", pg_dsn)["repositories"]}
    assert status["missing"]["last_error"] and status["missing"]["commit"] == ""
    assert status["git.invalid/team/private"]["source"] == "https://git.invalid/team/private.git"
    assert "s3cr3t" not in str(status)
    assert fleet_json("search", "slugifyTitle", "--dsn", pg_dsn)["results"][0]["repository"] == "web-frontend"


def test_bad_database_and_bad_input_are_one_line(repos, pg_dsn, tmp_path):
    for args in (["status", "--dsn", "postgresql://coderag:hunter2@127.0.0.1:1/fleet"],
                 ["search", "x", "--dsn", "postgresql://coderag:hunter2@127.0.0.1:1/fleet"],
                 ["index", str(tmp_path / "nope.txt"), "--dsn", pg_dsn],
                 ["status", "--dsn", pg_dsn],  # a database with no fleet in it yet
                 ["status"]):
        proc = fleet(*args, check=False, env={"CODERAG_POSTGRES_DSN": ""})
        assert proc.returncode != 0, args
        err = proc.stderr.strip()
        assert err.startswith("coderag-fleet: ") and len(err.splitlines()) == 1, err
        assert "hunter2" not in err and "Traceback" not in err
    (tmp_path / "dupes.txt").write_text(f"{repos['alpha']}\n{repos['alpha']}\n")
    proc = fleet("index", str(tmp_path / "dupes.txt"), "--dsn", pg_dsn, check=False)
    assert proc.returncode != 0 and "as OTHER-NAME" in proc.stderr


def test_schema_is_versioned_and_migrated_explicitly(repos, pg_dsn):
    assert "version 0 -> 1" in fleet("migrate", "--dsn", pg_dsn).stdout
    assert "nothing to do" in fleet("migrate", "--dsn", pg_dsn).stdout
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE coderag_schema SET version = 99 WHERE component = 'fleet'")
    proc = fleet("status", "--dsn", pg_dsn, check=False)
    assert proc.returncode != 0 and "newer" in proc.stderr


def test_equal_hits_rank_by_place_whatever_order_they_were_written(tmp_path, pg_dsn):
    # The same file in two repositories scores the same; the one indexed first has the lower row
    # ids, so ordering ties by id would put "zeta" first. Ties go by repository and path instead.
    zeta = make_repo(tmp_path / "zeta", {"lib/retry.py": RETRY})
    alpha = make_repo(tmp_path / "alpha", {"lib/retry.py": RETRY})
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{zeta}\n{alpha}\n")
    fleet("index", str(listing), "--dsn", pg_dsn, "--serial", "--cache", str(tmp_path / "cache"))
    for query in ("retry_with_backoff", "retry with exponential backoff"):
        hits = fleet_json("search", query, "--dsn", pg_dsn)["results"]
        assert hits[0]["score"] == hits[1]["score"], hits[:2]
        assert [h["repository"] for h in hits[:2]] == ["alpha", "zeta"], (query, hits[:2])
