"""The ``openai`` embedder against a real OpenAI-compatible server on 127.0.0.1 (coderag.testing.embedding_server)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("httpx")
from coderag.testing.embedding_server import EmbeddingServer  # noqa: E402

SECRET = "sk-test-4f9a0c2e7d1b"


def many_files(count: int = 24) -> dict[str, str]:
    """Files with a few distinct functions each: enough chunks for many small requests."""
    words = ["parse", "render", "fetch", "retry", "cache", "merge", "split", "encode", "decode", "scan"]
    files = {}
    for i in range(count):
        a, b = words[i % len(words)], words[(i * 3 + 1) % len(words)]
        files[f"pkg/mod{i:02d}.py"] = (
            f'def {a}_{i}(value):\n    """{a.title()} the value {i}."""\n    return value + {i}\n\n\n'
            f'def {b}_{i}_twice(items):\n    """{b.title()} every item twice."""\n'
            f'    return [{b}_item(x) for x in items for _ in range(2)]\n'
        )
    return files


@pytest.fixture
def server():
    with EmbeddingServer(dim=32) as srv:
        yield srv


def configure(repo, server, **options):
    repo.git("config", "coderag.embedder", "openai")
    repo.git("config", "coderag.embedder.url", server.url)
    repo.git("config", "coderag.embedder.model", "fake-embed")
    for key, value in options.items():
        repo.git("config", f"coderag.embedder.{key.replace('_', '-')}", str(value))


def index(repo, *args, env=None) -> dict:
    result = repo.coderag("index", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_line_error(result) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_batches_and_concurrency_stay_within_the_limits_and_search_works(make_repo, server):
    repo = make_repo(many_files(40))
    configure(repo, server, batch_size=4, in_flight=3)
    server.delay = 0.02
    report = index(repo)
    assert report["chunks_added"] == 80 and report["errors"] == {}
    sizes = [r.size for r in server.requests]
    assert max(sizes) <= 4
    assert 2 <= server.max_seen_concurrent <= 3  # several at once, never above the limit
    assert report["service"]["requests"] == len(server.requests)

    found = json.loads(repo.coderag("search", "--json", "-k", "3", "merge every item twice", check=True).stdout)
    assert found["results"] and found["results"][0]["symbol"].startswith("merge_")


def test_the_embedding_cache_means_no_request_for_a_text_seen_before(make_repo, server):
    repo = make_repo(many_files(12))
    configure(repo, server)
    index(repo)
    assert server.requests
    server.reset()
    assert index(repo, "--full")["chunks_embedded"] == 0
    repo.git("mv", "pkg/mod03.py", "pkg/renamed.py")
    repo.commit(message="rename")
    assert index(repo)["chunks_cached"] == 2
    repo.git("revert", "--no-edit", "HEAD")
    index(repo)
    repo.git("config", "coderag.chunker.max-lines", "120")  # another chunker setting: a rebuild
    assert "chunker" in index(repo)["rebuilt_because"]
    assert server.requests == []  # no embedding request at all, not even a probe


def test_rate_limits_and_server_errors_are_retried_until_every_chunk_is_embedded(make_repo):
    with EmbeddingServer(dim=32, fault="429", fault_rate=0.3, retry_after=0.05, seed=3) as server:
        repo = make_repo(many_files(30))
        configure(repo, server, batch_size=5)
        server.fail_next = ["500", "drop", "500"]
        report = index(repo)
        assert report["errors"] == {} and report["chunks_embedded"] == 60
        answered = [r.answered for r in server.requests]
        assert answered.count("429") >= 2 and "drop" in answered
        assert report["service"]["retries"] >= answered.count("429")
        status = json.loads(repo.coderag("status", "--json", check=True).stdout)
        assert status["chunks"] == 60


def test_after_the_retry_budget_the_files_wait_for_the_next_update(make_repo, server):
    repo = make_repo(many_files(6))
    configure(repo, server, batch_size=2, retries=1)
    index(repo)  # learn the model; then every request fails
    repo.commit({f"extra/new{i}.py": f"def added_{i}():\n    return {i}\n" for i in range(4)})
    server.fault, server.fault_rate = "500", 1.0
    report = index(repo)
    assert report["errors"] == {"embed": 4}
    assert "kept failing" in report["error_examples"][0]["reason"]
    assert json.loads(repo.coderag("search", "--json", "--mode", "lexical", "parse the value",
                                   check=True).stdout)["results"]
    line = one_line_error(repo.coderag("search", "parse the value"))  # the query needs the service too
    assert "kept failing" in line
    server.fault_rate = 0.0
    report = index(repo)
    assert report["errors"] == {} and report["files_added"] == 4


def test_a_batch_the_server_finds_too_large_is_split(make_repo):
    with EmbeddingServer(dim=32, max_batch=3) as server:
        repo = make_repo(many_files(8))
        configure(repo, server, batch_size=8)
        report = index(repo)
        assert report["errors"] == {} and report["chunks_embedded"] == 16
        assert max(r.size for r in server.requests if r.answered == "200") <= 3


@pytest.mark.parametrize(("fault", "says"), [
    ("html", "HTML page"),
    ("not_json", "not JSON"),
    ("no_data", "data[].embedding"),
    ("wrong_count", "vectors for"),
    ("nan", "NaN"),
    ("ragged", "different sizes"),
    ("strings", "non-numeric"),
    ("401", "refused the request (401"),
])
def test_bad_answers_stop_the_update_with_one_line_and_leave_the_index(make_repo, server, fault, says):
    repo = make_repo(many_files(4))
    configure(repo, server)
    index(repo)
    before = json.loads(repo.coderag("search", "--json", "parse the value", check=True).stdout)["results"]
    repo.commit({"pkg/late.py": "def late_arrival():\n    return 'late'\n"})
    server.fail_next = [fault] * 8
    line = one_line_error(repo.coderag("index"))
    assert says in line
    server.fail_next = []
    after = json.loads(repo.coderag("search", "--json", "parse the value", check=True).stdout)["results"]
    assert after == before


def test_unreachable_server_and_bad_settings_are_one_line(make_repo, server):
    repo = make_repo(many_files(2))
    configure(repo, server)
    repo.git("config", "coderag.embedder.url", "http://127.0.0.1:9/v1")
    assert "cannot reach the embedding server http://127.0.0.1:9/v1" in one_line_error(repo.coderag("index"))
    repo.git("config", "coderag.embedder.url", "not-a-url")
    assert "coderag.embedder.url" in one_line_error(repo.coderag("index"))
    repo.git("config", "coderag.embedder.url", server.url)
    repo.git("config", "coderag.embedder.api-key", SECRET)
    line = one_line_error(repo.coderag("index"))
    assert "environment variable" in line and SECRET not in line
    repo.git("config", "--unset", "coderag.embedder.api-key")
    repo.git("config", "coderag.embedder.api-key-env", "CODERAG_TEST_MISSING_KEY")
    assert "CODERAG_TEST_MISSING_KEY, which is not set" in one_line_error(repo.coderag("index"))


def test_a_server_that_changes_its_model_or_size_makes_the_update_rebuild(make_repo, server):
    repo = make_repo(many_files(5))
    configure(repo, server)
    index(repo)
    server.model = "fake-embed-v2"
    repo.commit({"pkg/more.py": "def more():\n    return 1\n"})
    report = index(repo)
    assert "fake-embed-v2" in report["rebuilt_because"] and report["chunks_embedded"] == 11
    server.dim = 48
    repo.commit({"pkg/more.py": "def more():\n    return 2\n"})
    report = index(repo)
    assert "48-d" in report["rebuilt_because"]
    assert json.loads(repo.coderag("search", "--json", "render", check=True).stdout)["results"]


def test_the_api_key_reaches_the_server_and_nothing_else(make_repo, tmp_path):
    with EmbeddingServer(dim=32, api_key=SECRET) as server:
        repo = make_repo(many_files(3))
        configure(repo, server, api_key_env="CODERAG_TEST_KEY")
        env = {"CODERAG_TEST_KEY": SECRET}
        outputs = [json.dumps(index(repo, env=env))]
        outputs.append(repo.coderag("status", "--json", env=env).stdout)
        outputs.append(repo.coderag("search", "--json", "parse", env=env).stdout)
        repo.commit({"pkg/keyed.py": "def keyed():\n    return 'k'\n"})
        wrong = repo.coderag("index", env={"CODERAG_TEST_KEY": SECRET + "x"})
        outputs.append(one_line_error(wrong))
        assert "401" in outputs[-1]
        assert not any(SECRET in text for text in outputs)
        index_dir = Path(repo.root) / ".git" / "coderag"
        assert not any(SECRET.encode() in f.read_bytes() for f in index_dir.rglob("*") if f.is_file())


def test_the_progress_bar_shows_requests_in_flight_retries_and_tokens(make_repo, server):
    import io

    from coderag import Index
    from coderag.cli.progress import TerminalProgress

    repo = make_repo(many_files(10))
    configure(repo, server, batch_size=4)
    server.fail_next = ["ok", "429"]  # the probe answers, then one rate limit to retry
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    Index.open(repo.root).update(progress=progress)
    progress.close()
    drawn = stream.getvalue()
    assert "requests" in drawn and "in flight" in drawn and "1 retries" in drawn and "tok/s" in drawn


@pytest.mark.parametrize("workers", ["1", "2"])
def test_texts_of_many_batches_are_packed_into_full_requests(make_repo, server, workers):
    # 60 files in batches of 7 files (9 batches, 14 texts each): one request per batch would
    # leave part-full requests behind every batch; packed, only the update's last one is.
    repo = make_repo(many_files(60))
    configure(repo, server, batch_size=16, in_flight=3)
    repo.git("config", "coderag.workers", workers)
    repo.git("config", "coderag.batchfiles", "7")
    report = index(repo)
    assert report["chunks_added"] == 120 and report["errors"] == {}
    probe, *sizes = [r.size for r in server.requests]  # a first build asks the vector size once
    assert probe == 1 and sum(sizes) == report["chunks_embedded"] == 120
    assert sizes[:-1] == [16] * (len(sizes) - 1) and 0 < sizes[-1] <= 16 and len(sizes) == 8
    assert report["service"]["requests"] == len(server.requests)
    assert server.max_seen_concurrent <= 3
    found = json.loads(repo.coderag("search", "--json", "-k", "3", "merge every item twice", check=True).stdout)
    assert found["results"][0]["symbol"].startswith("merge_")

    # A rename and an edit: only the edited file's texts are sent, in one request.
    repo.git("mv", "pkg/mod01.py", "pkg/renamed01.py")
    repo.commit({"pkg/mod02.py": 'def brand_new(value):\n    """A brand new function."""\n    return value\n'})
    server.requests.clear()
    report = index(repo)
    assert [r.size for r in server.requests] == [1] and report["chunks_embedded"] == 1


def test_a_failing_text_in_a_packed_request_fails_only_its_files(make_repo, server):
    repo = make_repo(many_files(30))
    configure(repo, server, batch_size=8, in_flight=2, retries=1)
    repo.git("config", "coderag.workers", "2")
    repo.git("config", "coderag.batchfiles", "4")
    server.reject_text = "_7_twice"  # the server cannot take this one text
    report = index(repo)
    assert report["errors"] == {"embed": 1} and report["error_examples"][0]["path"] == "pkg/mod07.py"
    assert report["chunks_added"] == 58
    server.reject_text = None
    report = index(repo)  # the next update retries just that file
    assert report["files_added"] == 1 and report["errors"] == {}


def test_ctrl_c_while_requests_retry_ends_promptly_and_keeps_the_index(make_repo, server):
    # Every request answers 500, so each would retry with growing backoff for ~30 s: Ctrl-C must
    # not wait that out, and the previous index must stay as it was.
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = make_repo(many_files(8))
    configure(repo, server, batch_size=4, in_flight=2)
    index(repo)
    repo.commit(many_files(40))
    server.fault, server.fault_rate = "500", 1.0
    server.requests.clear()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-m", "coderag", "index"], cwd=repo.root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while sum(r.answered == "500" for r in server.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(r.answered == "500" for r in server.requests) >= 3  # retrying, in backoff
    interrupted = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5, "waited out the retries"
    assert child.returncode == 130 and "interrupted; the index is unchanged" in stderr
    assert "Traceback" not in stderr
    server.fault = None
    status = json.loads(repo.coderag("status", "--json", check=True).stdout)
    assert status["chunks"] == 16  # the 8 files of the first index, nothing of the interrupted one
