"""The `git coderag` command line: output formats, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_index_search_and_json_schema(sample_repo):
    result = sample_repo.coderag("index")
    assert result.returncode == 0, result.stderr
    assert "indexed" in result.stdout
    out = sample_repo.coderag("search", "--json", "-k", "3", "parse http header")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    head = sample_repo.git("rev-parse", "HEAD").strip()
    assert data["commit"] == head and data["stale"] is False
    assert 1 <= len(data["results"]) <= 3
    first = data["results"][0]
    assert set(first) >= {"path", "start_line", "end_line", "score", "language", "symbol", "text"}
    assert first["path"] == "net/http_client.py" and first["symbol"] == "parse_http_header"
    assert isinstance(first["start_line"], int) and first["start_line"] <= first["end_line"]


def test_human_output_names_spans(sample_repo):
    sample_repo.coderag("index", check=True)
    out = sample_repo.coderag("search", "retry", "with", "backoff")
    assert out.returncode == 0
    assert out.stdout.splitlines()[0].startswith("net/http_client.py:4-11")
    assert "def retry_with_backoff" in out.stdout


def test_status_reports_staleness(sample_repo):
    sample_repo.coderag("index", check=True)
    sample_repo.commit({"extra.py": "def extra_function():\n    return 42\n"})
    status = json.loads(sample_repo.coderag("status", "--json").stdout)
    assert status["indexed"] and status["stale"] is True
    search = sample_repo.coderag("search", "extra function")
    assert "HEAD is" in search.stderr


def test_errors_are_one_line_without_traceback(tmp_path, make_repo, sample_repo):
    outside = subprocess.run([sys.executable, "-m", "coderag", "index"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert outside.returncode != 0 and "not a git repository" in outside.stderr
    cases = []
    empty = make_repo(None)
    cases.append(empty.coderag("index"))
    cases.append(sample_repo.coderag("search", "anything"))  # no index yet
    sample_repo.git("config", "coderag.embedder.model", str(tmp_path / "no-such-model"))
    cases.append(sample_repo.coderag("index"))
    sample_repo.git("config", "--unset", "coderag.embedder.model")
    sample_repo.git("config", "coderag.lexicalstore", "no-such-store")
    cases.append(sample_repo.coderag("index"))
    for result in [outside, *cases]:
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("coderag: error: ")
    assert "unknown lexical store 'no-such-store'" in cases[-1].stderr
    assert "model folder not found" in cases[-2].stderr


def test_help_documents_every_command():
    out = subprocess.run([sys.executable, "-m", "coderag", "--help"], capture_output=True, text=True)
    for command in ("index", "search", "status", "install-hooks", "uninstall-hooks", "plugins", "watch"):
        assert command in out.stdout


def test_plugins_lists_builtin_backends(sample_repo):
    data = json.loads(sample_repo.coderag("plugins", "--json").stdout)
    provided: dict[str, list[str]] = {}
    for info in data:
        for kind, names in info["backends"].items():
            provided.setdefault(kind, []).extend(names)
    assert "code" in provided["chunker"] and "model2vec" in provided["embedder"]
    assert "hnsw" in provided["vector_store"] and "whoosh" in provided["lexical_store"]


def test_git_coderag_console_script(sample_repo):
    script = shutil.which("git-coderag", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if script is None:
        pytest.fail("the git-coderag console script is not installed next to this Python")
    env = dict(os.environ, PATH=str(Path(script).parent) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["git", "coderag", "index", "--json"], cwd=sample_repo.root, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files_added"] == 4

    # A read-only command ends without the interpreter's teardown: its output must still be whole.
    result = subprocess.run(["git", "coderag", "search", "--json", "-k", "50", "parse"], cwd=sample_repo.root,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"]
    errors = subprocess.run(["git", "coderag", "search", ""], cwd=sample_repo.root, capture_output=True,
                            text=True, env=env)
    assert errors.returncode != 0 and errors.stderr.strip() == "coderag: error: empty query"
    # A reader that stops early (`| head -1`) is not an error, and no traceback is printed.
    with subprocess.Popen(["git", "coderag", "search", "-k", "50", "parse"], cwd=sample_repo.root,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        proc.stdout.readline()
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
        assert b"Traceback" not in proc.stderr.read()
