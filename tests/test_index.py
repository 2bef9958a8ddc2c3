"""The Python API end to end on real repositories: index, search, incremental updates."""
from __future__ import annotations

import pytest

from coderag import Index
from coderag.errors import CoderagError
from coderag.errors import NoIndex
from coderag.errors import NotARepository


def top(hits):
    return [(h.path, h.symbol) for h in hits]


def test_index_then_search_finds_the_function(sample_repo):
    index = Index.open(sample_repo.root)
    report = index.update()
    assert report.files_added == 4 and report.chunks_added > 0
    hits = index.search("retry with exponential backoff", k=5)
    assert hits[0].path == "net/http_client.py"
    assert hits[0].symbol == "retry_with_backoff"
    assert (hits[0].start_line, hits[0].end_line) == (4, 11)
    assert hits[0].text.startswith("def retry_with_backoff")
    assert hits[0].score > 0
    js = index.search("register a route handler", k=3)
    assert js[0].path == "web/router.js" and js[0].symbol == "registerRoute"
    go = index.search("Slugify", k=3)
    assert go[0].symbol == "Slugify" and go[0].language == "go"


def test_open_does_not_build_and_search_needs_an_index(sample_repo):
    index = Index.open(sample_repo.root)
    with pytest.raises(NoIndex, match="git coderag index"):
        index.search("anything")
    assert index.status()["indexed"] is False


def test_incremental_update_touches_only_what_changed(sample_repo):
    index = Index.open(sample_repo.root)
    index.update()
    untouched = index.update()
    assert (untouched.files_added, untouched.files_removed, untouched.chunks_embedded) == (0, 0, 0)

    sample_repo.commit({"net/http_client.py": (sample_repo.root / "net/http_client.py").read_text()
                        + "\n\ndef close_connection(conn):\n    conn.close()\n    return True\n"})
    modified = index.update()
    assert modified.files_added == 1 and modified.files_unchanged == 3
    # Only the new function's chunk is new text; the old ones come from the embedding cache.
    assert modified.chunks_embedded == 1
    assert index.search("close_connection")[0].symbol == "close_connection"

    sample_repo.git("mv", "util/strings.go", "util/text.go")
    sample_repo.commit(message="rename")
    renamed = index.update()
    assert renamed.files_added == 1 and renamed.files_removed == 1
    assert renamed.chunks_embedded == 0, "a rename must re-embed nothing"
    assert [h.path for h in index.search("Slugify", mode="lexical")] == ["util/text.go"]

    sample_repo.git("rm", "-q", "web/router.js")
    sample_repo.commit(message="delete")
    deleted = index.update()
    assert deleted.files_removed == 1
    assert all(h.path != "web/router.js" for h in index.search("register route handler", k=10))

    sample_repo.git("revert", "--no-edit", "HEAD")
    reverted = index.update()
    assert reverted.chunks_embedded == 0, "a revert must re-embed nothing"
    assert index.search("registerRoute")[0].path == "web/router.js"
    status = index.status()
    assert status["stale"] is False and status["files"] == 4


def test_index_survives_reopening(sample_repo):
    Index.open(sample_repo.root).update()
    again = Index.open(sample_repo.root)
    assert again.search("parse http header")[0].symbol == "parse_http_header"
    assert again.indexed_commit == sample_repo.git("rev-parse", "HEAD").strip()


def test_staged_content_is_indexed_without_a_commit(sample_repo):
    sample_repo.write({"jobs/queue.py": "def drain_job_queue(queue):\n    while queue:\n        queue.pop()\n"})
    sample_repo.git("add", "jobs/queue.py")
    index = Index.open(sample_repo.root)
    index.update(staged=True)
    assert index.search("drain_job_queue")[0].path == "jobs/queue.py"
    assert index.status()["target"] == ":staged"
    index.update()  # back to HEAD: the staged-only file is gone
    assert all(h.path != "jobs/queue.py" for h in index.search("drain_job_queue"))


def test_untracked_and_ignored_files_are_not_indexed(sample_repo):
    sample_repo.commit({".gitignore": "secret.py\n"})
    sample_repo.write({"secret.py": "def hidden_secret_function():\n    return 1\n",
                       "scratch.py": "def untracked_scratch_function():\n    return 2\n"})
    index = Index.open(sample_repo.root)
    index.update()
    paths = {h.path for h in index.search("hidden_secret_function untracked_scratch_function", k=20)}
    assert "secret.py" not in paths and "scratch.py" not in paths


def test_search_filters_by_path_and_language(sample_repo):
    index = Index.open(sample_repo.root)
    index.update()
    assert {h.language for h in index.search("route path handler", language="javascript")} == {"javascript"}
    assert all(h.path.startswith("net/") for h in index.search("parse", path="net/*"))


def test_errors_are_clear(tmp_path, make_repo):
    with pytest.raises(NotARepository):
        Index.open(tmp_path)
    empty = make_repo(None)
    with pytest.raises(CoderagError, match="unborn"):
        Index.open(empty.root).update()


def test_model_change_rebuilds_instead_of_mixing_vectors(sample_repo, tmp_path):
    import shutil

    from coderag.embedding.model2vec_embedder import default_model_path

    index = Index.open(sample_repo.root)
    index.update()
    copy = tmp_path / "model-copy"
    shutil.copytree(default_model_path(), copy)
    sample_repo.git("config", "coderag.embedder.model", str(copy))
    report = Index.open(sample_repo.root).update()
    assert report.rebuilt_because.startswith("embedder changed")
    assert report.chunks_added > 0


def test_searching_loads_neither_the_writer_nor_model2vec(sample_repo):
    """The search path stays light: `git coderag search` pays for neither the indexer's modules
    nor the model2vec library (the bundled model is read directly)."""
    import subprocess
    import sys

    Index.open(sample_repo.root).update()
    code = (
        "import sys\n"
        "from coderag import Index\n"
        f"hits = Index.open({str(sample_repo.root)!r}).search('retry with exponential backoff', k=3)\n"
        "assert hits and hits[0].symbol == 'retry_with_backoff', hits\n"
        # importlib.metadata: the builtin backends are made without scanning installed plugins.
        "heavy = ('coderag.indexing', 'model2vec', 'huggingface_hub', 'multiprocess', 'importlib.metadata')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_failed_vector_commit_beside_the_lexical_one_leaves_the_index_unchanged(sample_repo):
    # The hnsw store commits on its own thread beside Whoosh: its failure must still stop the
    # update with one line, and roll everything back.  A real one: a folder stands where the
    # store's next delta file goes.
    import json

    index = Index.open(sample_repo.root)
    index.update()
    before = top(index.search("retry with exponential backoff", k=3))
    data = sample_repo.root / ".git" / "coderag" / (sample_repo.root / ".git" / "coderag" / "CURRENT").read_text().strip()
    generation = json.loads((data / "vectors" / "manifest.json").read_text())["generation"]
    blocker = data / "vectors" / f"delta-{generation + 1:08d}.npz"
    blocker.mkdir()
    sample_repo.commit({"extra.py": "def parse_yaml_config(path):\n    return open(path).read()\n"})
    done = sample_repo.coderag("index")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the vector store failed (commit)" in done.stderr and "the index is unchanged" in done.stderr
    index = Index.open(sample_repo.root)
    assert top(index.search("retry with exponential backoff", k=3)) == before
    assert "extra.py" not in {h.path for h in index.search("parse yaml config", k=5)}
    blocker.rmdir()
    assert sample_repo.coderag("index").returncode == 0
    assert Index.open(sample_repo.root).search("parse yaml config", k=1)[0].path == "extra.py"
