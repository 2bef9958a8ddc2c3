"""Awkward content and awkward repositories: each is indexed, skipped with a reason, or
refused with one clear line; never a traceback, and nothing silently lost."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from indexcheck import check_consistent
from indexcheck import location

from coderag.git.plumbing import decode_path
from coderag.ondisk.manifest import Manifest
from coderag.ondisk.layout import MANIFEST_NAME

GIT_CODERAG = str(Path(sys.executable).parent / "git-coderag")
NON_UTF8_NAME = b"bad\xffname.py".decode("utf-8", "surrogateescape")


def run(cwd, *args: str) -> subprocess.CompletedProcess:
    """The installed ``git-coderag`` (the console script users run), never a traceback."""
    out = subprocess.run([GIT_CODERAG, *args], cwd=cwd, capture_output=True, text=True)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    if out.returncode:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("coderag: error: "), out.stderr
    return out


def manifest_files(root) -> dict[str, tuple[str, str]]:
    """``{path: (status, reason)}`` of every live file the index knows."""
    manifest = Manifest(location(root).current() / MANIFEST_NAME, readonly=True)
    try:
        return {p: (row.status, row.reason) for p, row in manifest.live_files().items()}
    finally:
        manifest.close()


def lexical(root, query: str, k: int = 20) -> list[dict]:
    out = run(root, "search", "--json", "--mode", "lexical", "-k", str(k), query)
    assert out.returncode == 0
    return json.loads(out.stdout)["results"]


@pytest.fixture
def awkward_repo(make_repo, tmp_path):
    sub = make_repo({"inner.py": "x = 1\n"}, name="submodule-source")
    repo = make_repo(None, name="awkward")
    repo.write({
        "bin/blob.dat": bytes(range(256)) * 8,
        "big.py": b"def too_big_function():\n    return 1\n" + b"# padding\n" * 3000,
        "latin1.py": "def latin_function():\n    return 'caf\u00e9'\n".encode("latin-1"),
        "mixed.py": "def mixed_function():\n    return '\u00e9'\n".encode() + "s = '\u00e9'\n".encode("latin-1"),
        "utf16.py": "def utf16_function():\n    return 16\n".encode("utf-16"),
        "crlf.py": b"def crlf_one():\r\n    return 1\r\n\r\n\r\ndef crlf_two():\r\n    return 2\r\n",
        "empty.py": b"",
        "lfs/model.bin": b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 12345\n",
        "dir with space/file name.py": "def spaced_path_function():\n    pass\n",
        "unicod\u00e9/\u6587\u4ef6.py": "def unicode_path_function():\n    pass\n",
        "new\nline.py": "def newline_path_function():\n    pass\n",
        NON_UTF8_NAME: "def non_utf8_name_function():\n    pass\n",
        "minified.js": "var data = [" + "1," * 8000 + "];\n",
        "long_lines.py": "def long_line_function():\n    return '" + "x" * 5000 + "'\n"
                         + "".join(f"value_{i} = {i}\n" for i in range(100)),
    })
    os.symlink("crlf.py", repo.root / "link.py")
    os.symlink("no/such/file.py", repo.root / "dangling.py")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.root), "vendor/sub")
    repo.git("config", "coderag.maxfilesize", "20k")
    repo.commit(message="awkward")
    return repo


def test_awkward_files_are_indexed_or_skipped_with_a_reason(awkward_repo):
    root = awkward_repo.root
    out = run(root, "index", "--json")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["errors"] == {}
    files = manifest_files(root)
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    escaped = "bad\\xffname.py"  # not UTF-8: shown with an escape, stable across updates
    assert set(files) == {decode_path(raw) for raw in listed.split(b"\0") if raw}, "a file went missing"
    assert escaped in files
    skipped = {path: reason for path, (status, reason) in files.items() if status == "skipped"}
    assert skipped == {
        "bin/blob.dat": "binary",
        "big.py": skipped["big.py"],
        "lfs/model.bin": "git-lfs pointer",
        "link.py": "symlink",
        "dangling.py": "symlink",
        "vendor/sub": "submodule",
        "minified.js": skipped["minified.js"],
    }
    assert skipped["big.py"].startswith("larger than 20480 bytes")
    assert skipped["minified.js"].startswith("minified")
    assert all(status == "indexed" for path, (status, _) in files.items() if path not in skipped)

    found = {hit["symbol"]: hit for hit in lexical(root, "latin_function mixed_function utf16_function crlf_two "
                                                        "spaced_path_function unicode_path_function "
                                                        "newline_path_function non_utf8_name_function "
                                                        "long_line_function")}
    assert found["crlf_two"]["path"] == "crlf.py"
    assert (found["crlf_two"]["start_line"], found["crlf_two"]["end_line"]) == (5, 6)  # CRLF counts as one line
    assert "\r" not in found["crlf_two"]["text"]
    assert found["latin_function"]["path"] == "latin1.py" and "caf\ufffd" in found["latin_function"]["text"]
    assert found["mixed_function"]["path"] == "mixed.py"
    assert found["utf16_function"]["path"] == "utf16.py"
    assert found["spaced_path_function"]["path"] == "dir with space/file name.py"
    assert found["unicode_path_function"]["path"] == "unicod\u00e9/\u6587\u4ef6.py"
    assert found["newline_path_function"]["path"] == "new\nline.py"
    assert found["non_utf8_name_function"]["path"] == escaped
    assert found["long_line_function"]["path"] == "long_lines.py"
    assert not lexical(root, "too_big_function") or all(h["path"] != "big.py" for h in lexical(root, "too_big_function"))

    status = json.loads(run(root, "status", "--json").stdout)
    assert status["files_skipped"] == len(skipped) and status["files"] == len(files)
    again = json.loads(run(root, "index", "--json").stdout)  # odd names must match themselves next time
    assert again["files_added"] == 0 and again["files_removed"] == 0
    check_consistent(awkward_repo, exact=True)


def test_empty_repository_and_unborn_head(make_repo):
    repo = make_repo(None)
    out = run(repo.root, "index")
    assert out.returncode == 2 and "no commits yet" in out.stderr
    assert run(repo.root, "search", "anything").returncode == 2
    assert "index: none" in run(repo.root, "status").stdout
    repo.write({"first.py": "def first_staged_function():\n    pass\n"})
    repo.git("add", "first.py")
    assert run(repo.root, "index", "--staged").returncode == 0
    assert lexical(repo.root, "first_staged_function")[0]["path"] == "first.py"
    assert run(repo.root, "index", "--background").returncode == 0  # a hook in an unborn repo: no failure


def test_repository_with_nothing_to_index(make_repo):
    repo = make_repo({"logo.png": b"\x89PNG\r\n\x1a\n" + bytes(200), "empty.txt": b""})
    out = run(repo.root, "index", "--json")
    report = json.loads(out.stdout)
    assert report["chunks_added"] == 0 and report["files_skipped"] == 1
    search = run(repo.root, "search", "anything at all")
    assert search.returncode == 0 and search.stdout.strip() == "no results"


def test_detached_head_and_shallow_clone(sample_repo, tmp_path):
    first = sample_repo.git("rev-parse", "HEAD").strip()
    sample_repo.commit({"later.py": "def later_function():\n    pass\n"})
    sample_repo.git("checkout", "-q", "--detach", first)
    assert run(sample_repo.root, "index").returncode == 0
    status = json.loads(run(sample_repo.root, "status", "--json").stdout)
    assert status["commit"] == first and status["stale"] is False

    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{sample_repo.root}", str(shallow)], check=True)
    assert run(shallow, "index").returncode == 0
    assert lexical(shallow, "retry_with_backoff")[0]["path"] == "net/http_client.py"


def test_bare_repository(sample_repo, tmp_path):
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(sample_repo.root), str(bare)], check=True)
    assert run(bare, "index").returncode == 0
    assert lexical(bare, "retry_with_backoff")[0]["path"] == "net/http_client.py"
    # The index directory of a bare repository is ./coderag: it must not shadow the package.
    assert (bare / "coderag").is_dir()
    module = subprocess.run([sys.executable, "-P", "-m", "coderag", "status"], cwd=bare, capture_output=True, text=True)
    assert module.returncode == 0, module.stderr
    for args, message in ((["index", "--staged"], "no staging area"), (["watch"], "no work tree"),
                          (["install-hooks"], "bare repository")):
        out = run(bare, *args)
        assert out.returncode == 2 and message in out.stderr
    assert run(bare, "index", "--background").returncode == 0


def test_outside_a_repository(tmp_path):
    for args in (["index"], ["search", "x"], ["status"], ["watch"], ["install-hooks"], ["uninstall-hooks"]):
        out = run(tmp_path, *args)
        assert out.returncode == 2 and "not a git repository" in out.stderr
    assert run(tmp_path, "index", "--background").returncode == 0  # hooks never fail
