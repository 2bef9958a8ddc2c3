"""The postgres vector and keyword stores: coderag's conformance kit, their own rules, and a real repository."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coderag.errors import ConfigError
from coderag.errors import IndexBusy
from coderag.errors import IndexCorrupt
from coderag.errors import StoreUnavailable
from coderag.protocols import LexicalDoc
from coderag.testing import LexicalStoreContract
from coderag.testing import VectorStoreContract
from coderag_postgres.lexical_store import PostgresLexicalStore
from coderag_postgres.vector_store import PostgresVectorStore

SECRET = "s3cret-pw-123"


class TestPostgresVectorStore(VectorStoreContract):
    @pytest.fixture
    def factory(self, coderag_factory):
        return coderag_factory("vector_store", "postgres")

    @pytest.fixture
    def options(self, pg_dsn):
        return {"dsn": pg_dsn}


class TestPostgresLexicalStore(LexicalStoreContract):
    @pytest.fixture
    def factory(self, coderag_factory):
        return coderag_factory("lexical_store", "postgres")

    @pytest.fixture
    def options(self, pg_dsn):
        return {"dsn": pg_dsn}


class TestPostgresTsrankStore(LexicalStoreContract):
    @pytest.fixture
    def factory(self, coderag_factory):
        return coderag_factory("lexical_store", "postgres")

    @pytest.fixture
    def options(self, pg_dsn):
        return {"dsn": pg_dsn, "scoring": "tsrank"}


# --------------------------------------------------------------------------- helpers


def sql(dsn: str, query: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def tables(dsn: str, prefix: str = "coderag_") -> set[str]:
    return {name for (name,) in sql(dsn, "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",))}


def namespaces(dsn: str) -> list[tuple]:
    return sql(dsn, "SELECT id, kind, location, repository, dim, layout, items "
                    "FROM coderag_store_namespaces ORDER BY id")


def vectors(labels, dim: int = 8) -> np.ndarray:
    rows = np.array([np.random.default_rng(int(label)).standard_normal(dim) for label in labels], dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def add_vectors(store, labels) -> None:
    store.add(np.asarray(labels, dtype=np.int64), vectors(labels, store.dim))


def wait_backend_gone(dsn: str, pid: int) -> None:
    for _ in range(200):
        if not sql(dsn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)):
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} is still alive")


# --------------------------------------------------------------------------- store rules


def test_namespaces_are_per_directory(pg_dsn, tmp_path):
    a = PostgresVectorStore(tmp_path / "a", dim=8, dsn=pg_dsn)
    b = PostgresVectorStore(tmp_path / "b", dim=8, dsn=pg_dsn)
    add_vectors(a, [1, 2, 3])
    add_vectors(b, [7])
    a.commit(), b.commit()
    assert (len(a), len(b)) == (3, 1)
    assert [label for label, _ in b.search(vectors([1])[0], 10)] == [7]
    a.close(), b.close()
    rows = namespaces(pg_dsn)
    assert [(kind, location.split(":", 1)[1], dim, items) for _, kind, location, _, dim, _, items in rows] == [
        ("vectors", str((tmp_path / "a").resolve()), 8, 3), ("vectors", str((tmp_path / "b").resolve()), 8, 1)]
    assert (tmp_path / "a" / "POSTGRES_NAMESPACE").read_text().startswith("coderag-postgres vectors namespace")


def test_dsn_and_repository_name_from_git_config(pg_dsn, tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for key, value in (("coderag.postgres.dsn", pg_dsn),
                       ("remote.origin.url", f"https://alice:{SECRET}@git.example.com/team/app.git")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    store = PostgresLexicalStore(repo / ".git" / "coderag" / "data-1" / "lexical")  # no dsn option
    store.add([LexicalDoc(1, "slugify", "util strings go", "func slugify title")])
    store.commit()
    store.close()
    (row,) = namespaces(pg_dsn)
    assert row[3] == "https://git.example.com/team/app.git" and row[5] == "bm25"


def test_readonly_open_writes_nothing_to_the_database(pg_dsn, tmp_path):
    (tmp_path / "s").mkdir()
    for reader in (PostgresVectorStore(tmp_path / "s", dim=8, dsn=pg_dsn, readonly=True),
                   PostgresLexicalStore(tmp_path / "s", dsn=pg_dsn, readonly=True)):
        assert len(reader) == 0 and reader.search(vectors([1])[0] if reader.__class__ is PostgresVectorStore
                                                  else ["tok"], 5) == []
        reader.close()
    assert tables(pg_dsn) == set()


def test_first_commit_builds_the_indexes(pg_dsn, tmp_path):
    store = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    add_vectors(store, range(1, 301))
    lexical = PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn)
    lexical.add([LexicalDoc(i, f"name{i}", "a py", f"body word{i}") for i in range(1, 51)])
    indexes = "SELECT indexdef FROM pg_indexes WHERE tablename ~ '^coderag_(vec|lex)_' AND indexname NOT LIKE '%%pkey'"
    assert sql(pg_dsn, indexes) == []
    store.commit(), lexical.commit()
    found = " ".join(d for (d,) in sql(pg_dsn, indexes))
    assert "USING hnsw (embedding vector_cosine_ops)" in found and "INCLUDE (label, tf, len)" in found
    add_vectors(store, [301])  # later additions go into the existing graph
    store.commit()
    assert store.search(vectors([301])[0], 1)[0][0] == 301
    store.close(), lexical.close()


def test_namespaces_of_deleted_directories_are_dropped(pg_dsn, tmp_path):
    import shutil

    old = PostgresLexicalStore(tmp_path / "old", dsn=pg_dsn)
    old.add([LexicalDoc(1, "a", "b", "c")])
    old.commit(), old.close()
    busy = PostgresLexicalStore(tmp_path / "busy", dsn=pg_dsn)
    busy.add([LexicalDoc(1, "a", "b", "c")])
    busy.commit(), busy.close()
    reader = PostgresLexicalStore(tmp_path / "busy", dsn=pg_dsn, readonly=True)
    assert reader.search(["a"], 5)  # its transaction now holds a lock on busy's tables
    shutil.rmtree(tmp_path / "old"), shutil.rmtree(tmp_path / "busy")
    started = time.perf_counter()
    PostgresLexicalStore(tmp_path / "new", dsn=pg_dsn).close()
    assert time.perf_counter() - started < 5, "a reader's lock must not stall the writer"
    assert [loc.rsplit("/", 1)[1] for _, _, loc, *_ in namespaces(pg_dsn)] == ["busy", "new"]
    assert not any(name.startswith("coderag_lex_1_") for name in tables(pg_dsn))
    reader.close()
    PostgresLexicalStore(tmp_path / "newer", dsn=pg_dsn).close()  # the reader is gone: busy goes too
    assert [loc.rsplit("/", 1)[1] for _, _, loc, *_ in namespaces(pg_dsn)] == ["new", "newer"]


def test_a_directory_made_again_starts_empty(pg_dsn, tmp_path):
    import shutil

    store = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    add_vectors(store, [1, 2])
    store.commit(), store.close()
    shutil.rmtree(tmp_path / "v")
    assert len(PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn, readonly=True)) == 0
    again = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    assert len(again) == 0
    again.close()


def test_mismatched_namespaces_are_one_line_errors(pg_dsn, tmp_path):
    PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn).close()
    for readonly in (False, True):
        with pytest.raises(IndexCorrupt, match="holds 8-dimensional vectors, not 16; rebuild") as info:
            PostgresVectorStore(tmp_path / "v", dim=16, dsn=pg_dsn, readonly=readonly)
        assert "\n" not in str(info.value)
    PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn).close()
    with pytest.raises(IndexCorrupt, match="scoring=bm25, not tsrank"):
        PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn, scoring="tsrank")
    with pytest.raises(ConfigError, match="scoring must be one of"):
        PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn, scoring="bm42")
    with pytest.raises(ConfigError, match="no PostgreSQL DSN"):
        PostgresLexicalStore(tmp_path / "l")


@pytest.mark.parametrize("where", ["closed port", "unknown role"])
def test_connection_errors_are_one_line_without_the_password(pg_dsn, tmp_path, where):
    if where == "closed port":
        dsn = f"postgresql://coderag:{SECRET}@127.0.0.1:1/coderag"
    else:
        dsn = pg_dsn.replace("postgresql://postgres:@", f"postgresql://nosuch:{SECRET}@")
    for make in (lambda: PostgresVectorStore(tmp_path / "v", dim=8, dsn=dsn),
                 lambda: PostgresLexicalStore(tmp_path / "l", dsn=f"host=127.0.0.1 port=1 user=coderag "
                                              f"password={SECRET} dbname=coderag" if where == "closed port" else dsn)):
        with pytest.raises(StoreUnavailable) as info:
            make()
        message = str(info.value)
        assert SECRET not in message and "\n" not in message and message.startswith("PostgreSQL (")


def test_a_dropped_connection_is_store_unavailable_and_loses_only_uncommitted(pg_dsn, tmp_path):
    store = PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn)
    store.add([LexicalDoc(i, f"sym{i}", "a py", "shared body") for i in range(1, 6)])
    store.commit()
    store.add([LexicalDoc(9, "sym9", "a py", "shared body")])
    pid = store.ns.conn.info.backend_pid
    sql(pg_dsn, "SELECT pg_terminate_backend(%s)", (pid,))
    wait_backend_gone(pg_dsn, pid)
    with pytest.raises(StoreUnavailable) as info:
        store.add([LexicalDoc(10, "sym10", "a py", "shared body")])
        store.commit()
    assert "\n" not in str(info.value)
    store.close()
    reader = PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn, readonly=True)
    assert len(reader) == 5 and reader.search(["sym9"], 5) == []
    reader.close()


def test_a_reader_reconnects_when_its_session_ends(pg_dsn, tmp_path):
    store = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    add_vectors(store, range(1, 11))
    store.commit(), store.close()
    reader = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn, readonly=True)
    assert reader.search(vectors([4])[0], 3)[0][0] == 4
    pid = reader.ns.conn.info.backend_pid
    sql(pg_dsn, "SELECT pg_terminate_backend(%s)", (pid,))  # a restart, or idle_in_transaction_session_timeout
    wait_backend_gone(pg_dsn, pid)
    assert reader.search(vectors([4])[0], 3)[0][0] == 4
    reader.close()


def test_a_second_writer_is_refused(pg_dsn, tmp_path):
    first = PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    with pytest.raises(IndexBusy):
        PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn)
    first.close()
    PostgresVectorStore(tmp_path / "v", dim=8, dsn=pg_dsn).close()


KILLED_WRITER = """
import sys, numpy as np
from coderag_postgres.vector_store import PostgresVectorStore
from coderag_postgres.lexical_store import PostgresLexicalStore
from coderag.protocols import LexicalDoc
dsn, folder = sys.argv[1], sys.argv[2]
vec = PostgresVectorStore(folder + "/v", dim=4, dsn=dsn)
lex = PostgresLexicalStore(folder + "/l", dsn=dsn)
def add(labels):
    vec.add(np.array(labels, dtype=np.int64), np.tile(np.float32([1, 0, 0, 0]), (len(labels), 1)))
    lex.add([LexicalDoc(l, f"name{l}", "a py", "shared") for l in labels])
add(list(range(1, 21))); vec.commit(); lex.commit()
vec.delete(list(range(1, 11))); lex.delete(list(range(1, 11)))
add(list(range(21, 2021)))
print(vec.ns.conn.info.backend_pid, lex.ns.conn.info.backend_pid, flush=True)
sys.stdin.read()
"""


def test_a_killed_writer_leaves_the_last_commit(pg_dsn, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, pg_dsn, str(tmp_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(pids) == 2, "the child failed before its uncommitted changes"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    for pid in pids:
        wait_backend_gone(pg_dsn, pid)
    vec = PostgresVectorStore(tmp_path / "v", dim=4, dsn=pg_dsn, readonly=True)
    lex = PostgresLexicalStore(tmp_path / "l", dsn=pg_dsn, readonly=True)
    assert len(vec) == len(lex) == 20
    assert sorted(label for label, _ in vec.search(np.float32([1, 0, 0, 0]), 50)) == list(range(1, 21))
    assert [label for label, _ in lex.search(["name5"], 5)] == [5] and lex.search(["name30"], 5) == []
    vec.close(), lex.close()
    writer = PostgresVectorStore(tmp_path / "v", dim=4, dsn=pg_dsn)  # its lock died with it
    assert len(writer) == 20
    writer.close()


def test_bm25_scores_are_the_whoosh_stores_scores(pg_dsn, tmp_path):
    from coderag.stores.whoosh_store import WhooshLexicalStore

    docs = [LexicalDoc(10, "retry with backoff", "net http client py", "def retry with backoff func attempts"),
            LexicalDoc(11, "parse http header", "net http client py", "def parse http header line name value"),
            LexicalDoc(12, "slugify", "util strings go", "func slugify title lower replace"),
            LexicalDoc(13, "", "readme md", "sample repository used by the tests http")]
    whoosh = WhooshLexicalStore(tmp_path / "w")
    postgres = PostgresLexicalStore(tmp_path / "p", dsn=pg_dsn)
    for store in (whoosh, postgres):
        store.add(docs)
        store.commit()
    for query in (["http", "header"], ["slugify"], ["retry", "http", "tests"]):
        ours, theirs = postgres.search(query, 10), whoosh.search(query, 10)
        assert [label for label, _ in ours] == [label for label, _ in theirs], query
        assert [score for _, score in ours] == pytest.approx([score for _, score in theirs], rel=1e-4), query
    weighted = dict(postgres.search(["http", "http", "header"], 10))  # repeated tokens weigh more
    once = dict(postgres.search(["http", "header"], 10))
    assert weighted[13] > once[13] and weighted[11] > once[11]
    whoosh.close(), postgres.close()


def test_importing_the_stores_does_not_import_psycopg():
    code = ("import sys, coderag_postgres.vector_store, coderag_postgres.lexical_store; "
            "print('psycopg' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# --------------------------------------------------------------------------- end to end


FILES = {
    "net/http_client.py": '''import time


def retry_with_backoff(func, attempts=5, base_delay=0.5):
    """Call func, retrying with exponential backoff when it raises."""
    for attempt in range(attempts):
        try:
            return func()
        except OSError:
            time.sleep(base_delay * 2 ** attempt)
    raise RuntimeError("gave up")
''',
    "util/strings.go": '''package util

import "strings"

// Slugify turns a title into a URL slug.
func Slugify(title string) string {
	return strings.ReplaceAll(strings.ToLower(title), " ", "-")
}
''',
    "README.md": "# Sample\n\nA sample repository used by the tests.\n",
}


class Repo:
    """A throwaway git repository configured for the postgres stores, driven through the real CLI."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="T",
                        GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com")
        root.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              check=True).stdout

    def commit(self, files: dict[str, str], remove: tuple[str, ...] = ()) -> None:
        for name, text in files.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text(text)
        for name in remove:
            (self.root / name).unlink()
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "change")

    def coderag(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "coderag", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True)

    def top_paths(self, query: str) -> list[str]:
        proc = self.coderag("search", "--json", "-k", "3", query)
        assert proc.returncode == 0, proc.stderr
        return [hit["path"] for hit in json.loads(proc.stdout)["results"]]


@pytest.fixture
def repo(tmp_path, pg_dsn):
    repo = Repo(tmp_path / "repo", tmp_path)
    for key, value in (("coderag.vectorstore", "postgres"), ("coderag.lexicalstore", "postgres"),
                       ("coderag.postgres.dsn", pg_dsn)):
        repo.git("config", key, value)
    repo.commit(FILES)
    return repo


def test_end_to_end_index_update_rebuild(repo, pg_dsn):
    assert repo.coderag("index").returncode == 0
    assert repo.top_paths("retry with exponential backoff")[0] == "net/http_client.py"
    assert repo.top_paths("Slugify")[0] == "util/strings.go"
    first = {kind: ns_id for ns_id, kind, *_ in namespaces(pg_dsn)}
    assert set(first) == {"vectors", "lexical"}

    repo.commit({"auth/tokens.py": "def rotate_refresh_token(session):\n"
                                   "    \"\"\"Issue a new refresh token and revoke the old one.\"\"\"\n"
                                   "    session.revoke()\n    return session.issue()\n"}, remove=("util/strings.go",))
    assert repo.coderag("index").returncode == 0
    assert repo.top_paths("rotate the refresh token")[0] == "auth/tokens.py"
    assert "util/strings.go" not in repo.top_paths("Slugify")
    assert {kind: ns_id for ns_id, kind, *_ in namespaces(pg_dsn)} == first, "an update reuses its namespaces"

    assert repo.coderag("index", "--full").returncode == 0
    assert repo.top_paths("rotate the refresh token")[0] == "auth/tokens.py"
    # The rebuild removed the old data directory after closing its stores; the next writer to
    # open on this host (here the next update) drops the old namespaces' tables.
    repo.commit({"README.md": "# Sample\n\nChanged.\n"})
    assert repo.coderag("index").returncode == 0
    rows = namespaces(pg_dsn)
    assert len(rows) == 2 and not {ns_id for ns_id, *_ in rows} & set(first.values())
    names = tables(pg_dsn)
    assert f"coderag_vec_{first['vectors']}" not in names
    assert not any(name.startswith(f"coderag_lex_{first['lexical']}_") for name in names)
    assert repo.top_paths("retry with exponential backoff")[0] == "net/http_client.py"


def test_end_to_end_unreachable_database_is_one_line(repo):
    assert repo.coderag("index").returncode == 0
    repo.commit({"README.md": "# Sample\n\nChanged.\n"})
    repo.git("config", "coderag.postgres.dsn", f"postgresql://coderag:{SECRET}@127.0.0.1:1/coderag")
    for args in (("index",), ("search", "retry")):
        proc = repo.coderag(*args)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "PostgreSQL" in lines[0], proc.stderr
        assert SECRET not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
