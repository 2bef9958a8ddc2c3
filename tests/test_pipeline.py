"""The indexing pipeline: batches, worker processes, errors by stage, limits, interrupted runs.

Behaviour only; speed is measured by ``bench/index_speed.py``.  Repositories
are tiny, so tests that need the worker pool lower the inline threshold
(:data:`coderag.indexing.pool.INLINE_MAX_BYTES`) and the batch size.
"""
from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import zlib

import numpy as np
import pytest

from coderag import Index
from coderag import hookimpl
from coderag.indexing import pool
from coderag import plugins
from coderag.cli import main
from coderag.protocols import LexicalDoc

WORDS = "alpha beta gamma delta parse render fetch store cache retry queue token graph merge split".split()


def python_files(count: int, prefix: str = "pkg") -> dict[str, str]:
    """``count`` small Python files with distinct functions, plus one file duplicated under two names."""
    files = {}
    for i in range(count):
        body = "\n\n".join(
            f"def {WORDS[(i + j) % len(WORDS)]}_{WORDS[(i * 3 + j) % len(WORDS)]}_{i}_{j}(value):\n"
            f'    """{" ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(5))}."""\n'
            f"    return value + {i * 10 + j}\n"
            for j in range(3)
        )
        files[f"{prefix}/mod_{i}.py"] = body + "\n"
    files[f"{prefix}/copy_a.py"] = files[f"{prefix}/copy_b.py"] = "def shared_helper(x):\n    return x * 2\n"
    return files


@pytest.fixture
def pooled(monkeypatch):
    """Make even a tiny repository go through the worker pool (2 workers, 3 files a batch)."""
    monkeypatch.setattr(pool, "INLINE_MAX_BYTES", 0)
    return {"coderag.workers": "2", "coderag.batchfiles": "3"}


def manifest_rows(index: Index) -> dict[str, list]:
    """Files and chunks live in the committed generation, and the embedding cache."""
    db = sqlite3.connect(index.location.current() / "manifest.sqlite")
    try:
        gen = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        live = f"born <= {gen} AND (died IS NULL OR died > {gen})"
        return {
            "files": db.execute(f"SELECT path, blob, language, status, reason FROM files WHERE {live} "
                                "ORDER BY path").fetchall(),
            "chunks": db.execute("SELECT label, path, start_line, end_line, symbol, kind, text_hash, text "
                                 f"FROM chunks WHERE {live} ORDER BY label").fetchall(),
            "vectors": db.execute("SELECT text_hash, vector FROM vectors ORDER BY text_hash").fetchall(),
        }
    finally:
        db.close()


# ---------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------


def test_batches_are_cut_by_files_and_bytes_and_never_depend_on_workers():
    items = [(f"f{i}.py", f"b{i}") for i in range(10)]
    sizes = {f"b{i}": 100 for i in range(10)}
    sizes["b4"] = 5000  # bigger than a batch: alone in its batch
    plans = [pool.plan(items, sizes, workers=w, batch_files=3, batch_bytes=1000) for w in (1, 2, 8)]
    assert [[p for p, _ in batch] for batch in plans[0].batches] == [
        ["f0.py", "f1.py", "f2.py"], ["f3.py"], ["f4.py"], ["f5.py", "f6.py", "f7.py"], ["f8.py", "f9.py"]]
    assert all(p.batches == plans[0].batches for p in plans)
    assert [p.workers for p in plans] == [1, 1, 1]  # 6 kB in all: cheaper inline than forking


def test_small_jobs_run_inline_and_big_ones_use_at_most_one_worker_per_batch():
    items = [(f"f{i}.py", f"b{i}") for i in range(10)]
    sizes = {f"b{i}": 400_000 for i in range(10)}
    assert pool.plan(items[:2], sizes, workers=4).workers == 1  # one batch: a commit hook's handful
    assert pool.plan(items, sizes, workers=4, batch_files=4).workers == 3
    assert pool.plan(items, sizes, workers=1, batch_files=4).workers == 1
    assert pool.plan(items, sizes, batch_files=1).workers == min(pool.available_cpus(), 10)
    assert pool.plan([], {}, workers=4).batches == []


# ---------------------------------------------------------------------------
# one worker or many: the same index
# ---------------------------------------------------------------------------


def test_one_worker_and_two_workers_build_identical_indexes(make_repo, pooled):
    files = python_files(14)
    inline_repo, pool_repo = make_repo(files, name="inline"), make_repo(files, name="pool")
    inline = Index.open(inline_repo.root, config={**pooled, "coderag.workers": "1"})
    pool = Index.open(pool_repo.root, config=pooled)
    one, two = inline.update(), pool.update()
    assert (one.workers, two.workers) == (1, 2)
    assert one.files_added == two.files_added == len(files)
    assert one.chunks_added == two.chunks_added and one.chunks_added >= 3 * 14
    assert two.chunks_embedded < two.chunks_added  # the duplicated file was embedded once
    assert manifest_rows(inline) == manifest_rows(pool)
    hits = 0
    for query in ("parse render fetch", "retry queue token", "helper that doubles a value", "value + 42"):
        a, b = inline.search(query, k=5), pool.search(query, k=5)
        assert [(h.path, h.start_line, h.score) for h in a] == [(h.path, h.start_line, h.score) for h in b]
        hits += len(a)
    assert hits >= 10


# ---------------------------------------------------------------------------
# bad files: reported with their stage, the rest is indexed
# ---------------------------------------------------------------------------


class FaultyBackends:
    """A chunker and an embedder wrapping the builtins that fail on marked files.

    ``chunk_bomb`` in a file makes the chunker raise, ``embed_bomb`` makes
    the embedder raise for that text, ``exit_bomb`` kills the process that
    chunks it (as the out-of-memory killer would), ``zqxfull`` makes the
    lexical store's commit fail.
    """

    class Chunker:
        name, version = "faulty", "1"
        die = staticmethod(os._exit)

        def __init__(self):
            from coderag.backends.chunkers import make_code_chunker

            self.inner = make_code_chunker()

        def chunk(self, path, text, language):
            if "chunk_bomb" in text:
                raise ValueError("unbalanced brackets")
            if "exit_bomb" in text:
                self.die(7)
            return self.inner.chunk(path, text, language)

    class Embedder:
        def __init__(self):
            from coderag.backends.embedders import make_model2vec_embedder

            self.inner = make_model2vec_embedder()
            self.model_id, self.dim = "faulty:" + self.inner.model_id, self.inner.dim

        def embed_documents(self, texts):
            if any("embed_bomb" in t for t in texts):
                raise RuntimeError("tokenizer overflow")
            return self.inner.embed_documents(texts)

        def embed_query(self, text):
            return self.inner.embed_query(text)

    @staticmethod
    def lexical_store(directory, **options):
        from coderag.backends.stores import make_whoosh_store

        store = make_whoosh_store(directory, **options)
        add, commit, pending = store.add, store.commit, []

        def recording_add(docs):
            pending.extend(d.body for d in docs)
            add(docs)

        def failing_commit():
            if any("zqxfull" in body for body in pending):
                raise OSError(28, "No space left on device")
            pending.clear()
            commit()

        store.add, store.commit = recording_add, failing_commit
        return store

    @hookimpl
    def coderag_register_chunkers(self, register):
        register("faulty", lambda **o: self.Chunker())

    @hookimpl
    def coderag_register_embedders(self, register):
        register("faulty", lambda **o: self.Embedder())

    @hookimpl
    def coderag_register_lexical_stores(self, register):
        register("faulty", self.lexical_store)


@pytest.fixture
def faulty():
    plugins.reset()
    plugins.get_plugin_manager().register(FaultyBackends(), name="faulty-test")
    yield {"coderag.chunker": "faulty", "coderag.embedder": "faulty"}
    plugins.reset()


@pytest.mark.parametrize("mode", ["inline", "pool"])
def test_bad_files_are_reported_with_their_stage_and_the_rest_is_indexed(make_repo, faulty, pooled, mode, capsys):
    files = python_files(8)
    files["bad/chunking.py"] = "def broken():\n    return 'chunk_bomb'\n"
    files["bad/embedding.py"] = "def unlucky():\n    return 'embed_bomb'\n"
    repo = make_repo(files)
    config = {**faulty, **pooled, "coderag.workers": "1" if mode == "inline" else "2"}
    for key, value in config.items():
        repo.git("config", key, value)
    assert main(["-C", str(repo.root), "index", "--json"]) == 0  # something was indexed: success
    report = json.loads(capsys.readouterr().out)
    assert report["workers"] == (1 if mode == "inline" else 2)
    assert report["errors"] == {"chunk": 1, "embed": 1}
    assert {(e["path"], e["stage"]) for e in report["error_examples"]} == {
        ("bad/chunking.py", "chunk"), ("bad/embedding.py", "embed")}
    assert any("tokenizer overflow" in e["reason"] for e in report["error_examples"])
    assert report["files_added"] == len(files) - 2
    index = Index.open(repo.root)
    status = index.status()
    assert status["files_indexed"] == len(files) - 2 and status["files_error"] == 2
    assert {"pkg/copy_a.py", "pkg/mod_7.py"} <= {row[1] for row in manifest_rows(index)["chunks"]}


def test_nothing_indexed_is_a_failure_and_a_failing_store_changes_nothing(make_repo, faulty, capsys):
    repo = make_repo({"a.py": "x = 'chunk_bomb'\n", "b.py": "y = 'chunk_bomb'\n"})
    for key, value in faulty.items():
        repo.git("config", key, value)
    assert main(["-C", str(repo.root), "index", "--stats"]) == 1
    out = capsys.readouterr().out
    assert "2 file(s) failed at chunk" in out and "errors: chunk 2" in out

    repo.commit({"a.py": "def fine():\n    return 1\n", "b.py": "def good():\n    return 2\n"})
    assert main(["-C", str(repo.root), "index", "-q"]) == 0
    repo.git("config", "coderag.lexicalstore", "faulty")
    repo.commit({"c.py": "def later():\n    return 'zqxfull'\n"})
    assert main(["-C", str(repo.root), "index", "--full", "-q"]) != 0
    err = capsys.readouterr().err
    assert "No space left on device" in err and "lexical store" in err
    repo.git("config", "--unset", "coderag.lexicalstore")
    index = Index.open(repo.root)
    assert index.status()["files"] == 2
    assert {row[4] for row in manifest_rows(index)["chunks"]} == {"fine", "good"}


# ---------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------


def test_size_binary_and_generated_limits_skip_files_with_reasons(make_repo):
    repo = make_repo({
        "small.py": "def small():\n    return 1\n",
        "big.py": "def big():\n    return 1\n" + "# filler line of text\n" * 400,
        "blob.bin": b"\x00\x01\x02binary" * 50,
        "app.min.js": "var a=1;\n" * 10,
        "bundle.js": "var a=1;" * 400,
        "long.py": "def long_one():\n" + "".join(f"    value_{i} = {i}\n" for i in range(2000)),
    })
    repo.git("config", "coderag.maxfilesize", "60k")
    report = Index.open(repo.root).update()
    reasons = {e["path"]: e["reason"] for e in report.skipped_examples}
    assert set(reasons) == {"blob.bin", "app.min.js", "bundle.js"}
    repo.git("config", "coderag.maxfilesize", "4k")
    report = Index.open(repo.root).update(full=True)
    reasons = {e["path"]: e["reason"] for e in report.skipped_examples}
    assert reasons["big.py"].startswith("larger than 4096 bytes")
    assert reasons["long.py"].startswith("larger than 4096 bytes")
    assert reasons["blob.bin"] == "binary" and "minified" in reasons["bundle.js"]
    assert "min.js" in reasons["app.min.js"]
    assert report.files_added == 1 and report.files_skipped == 5


def test_chunks_are_capped_in_size(make_repo):
    from coderag.analysis.documents import MAX_CHUNK_CHARS

    repo = make_repo({"long.py": "def long_one():\n" + "".join(f"    v{i} = {i}\n" for i in range(6000))})
    index = Index.open(repo.root)
    index.update()
    rows = manifest_rows(index)["chunks"]
    assert len(rows) > 1  # a huge definition is split
    assert max(len(zlib.decompress(r[7])) for r in rows) <= MAX_CHUNK_CHARS


# ---------------------------------------------------------------------------
# interrupted runs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["inline", "pool"])
def test_a_worker_dying_mid_run_leaves_the_previous_index_intact(make_repo, faulty, pooled, mode, monkeypatch):
    repo = make_repo(python_files(8))
    config = {**faulty, **pooled, "coderag.workers": "1" if mode == "inline" else "2"}
    index = Index.open(repo.root, config=config)
    first = index.update()
    before = manifest_rows(index)
    del before["vectors"]  # a failed run may leave embeddings in the cache: harmless, and reused later
    repo.commit({**python_files(8, prefix="more"), "more/zz_dies.py": "x = 'exit_bomb'\n"})
    if mode == "pool":
        with pytest.raises(pool.WorkerDied):
            index.update()
    else:  # inline the writer itself would die: an exception that nothing catches instead
        monkeypatch.setattr(FaultyBackends.Chunker, "die", staticmethod(sys.exit))
        with pytest.raises(SystemExit):
            index.update()
    after = manifest_rows(index)
    assert {k: after[k] for k in before} == before
    assert index.status()["commit"] == first.commit and index.search("parse render fetch", k=1)
    repo.commit({"more/zz_dies.py": "x = 1\n"})
    assert index.update().files_added > 8  # the next run completes


# ---------------------------------------------------------------------------
# progress and stats
# ---------------------------------------------------------------------------


def test_progress_bars_show_every_stage_and_stats_are_printed(make_repo, pooled, capsys):
    from coderag.cli.progress import TerminalProgress

    repo = make_repo(python_files(6))
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    Index.open(repo.root, config=pooled).update(progress=progress)
    progress.close()
    drawn = stream.getvalue()
    for stage in ("files", "chunks", "embeddings", "storage"):
        assert stage in drawn
    assert "committed" in drawn and "8/8" in drawn  # all 8 files

    repo.commit({"pkg/new.py": "def newer():\n    return 3\n"})
    assert main(["-C", str(repo.root), "index", "--stats"]) == 0
    out = capsys.readouterr().out
    assert "files/s" in out and "chunks/s" in out and "CPU" in out and "peak RSS: writer" in out
    assert "errors: none" in out and "embed" in out
    assert main(["-C", str(repo.root), "index", "--json", "--full"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stats"]["chunks_per_s"] > 0 and report["cpu_seconds"] > 0
    assert report["peak_rss_mb"]["writer"] > 0 and report["errors"] == {}
    assert set(report["stats"]["stage_share"]) >= {"read", "chunk", "tokenize", "embed", "store"}


# ---------------------------------------------------------------------------
# stores under a big build: bounded buffers, same results
# ---------------------------------------------------------------------------


def test_whoosh_segments_match_whooshs_own_writer(tmp_path):
    """Every file byte for byte but the postings and terms; those through Whoosh's own reader."""
    from whoosh import index as whoosh_index
    from whoosh.writing import SegmentWriter

    from coderag.stores import whoosh_segments
    from coderag.stores.whoosh_segments import write_segment
    from coderag.stores.whoosh_store import INDEX_NAME
    from coderag.stores.whoosh_store import make_schema

    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(60)] + [f"rare{i}" for i in range(400)]
    # Frequent words fill several 128-posting blocks (compressed); rare ones make short blocks (not).
    docs = [(str(i), " ".join(rng.choice(vocab[:60], 2)), "src mod" if i % 3 else "",
             " ".join([*rng.choice(vocab[:60], int(rng.integers(1, 40))), *rng.choice(vocab[60:], 3)]))
            for i in range(700)]
    written, readers = [], []
    for name in ("whoosh", "ours"):
        folder = tmp_path / name
        folder.mkdir()
        ix = whoosh_index.create_in(str(folder), make_schema(), indexname=INDEX_NAME)
        init = SegmentWriter.__init__
        SegmentWriter.__init__ = lambda self, *a, **k: init(self, *a, **{**k, "compound": False})
        try:
            if name == "whoosh":
                writer = SegmentWriter(ix, _lk=False)
                for label, symbol, path, body in docs:
                    writer.add_document(label=label, symbol=symbol, path=path, body=body)
                segment = writer._finalize_segment()
            else:
                segment = write_segment(ix, docs)
        finally:
            SegmentWriter.__init__ = init
        files = {p.name.replace(segment.segid, "*"): p.read_bytes() for p in folder.iterdir()
                 if segment.segid in p.name and not p.name.endswith((".pst", ".trm"))}
        written.append((files, segment._fieldlengths))
        readers.append(_segment_postings(ix, segment))
    assert written[0] == written[1] and len(written[0][0]) >= 3
    assert readers[0] == readers[1] and len(readers[0]) > 500
    # Both kinds of block were written (the reader honours each block's own compression).
    sizes = [len(ids) for ids, *_ in readers[1].values()]
    assert max(sizes) > 128 and min(sizes) == 1 and whoosh_segments.MIN_COMPRESSED_BYTES > 20


def _segment_postings(ix, segment) -> dict:
    """Each term's statistics and postings, read back by Whoosh."""
    from whoosh.reading import SegmentReader

    reader = SegmentReader(ix.storage, ix.schema, segment)
    out = {}
    for field, term in reader.all_terms():
        info = reader.term_info(field, term)
        matcher = reader.postings(field, term)
        ids, weights, blocks = [], [], []  # each posting with its block's statistics
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            blocks.append((matcher.block_max_weight(), matcher.block_min_length(), matcher.block_max_length()))
            matcher.next()
        out[(field, term)] = (ids, weights, blocks, (info.weight(), info.doc_frequency(), info.min_length(),
                                                     info.max_length(), info.max_weight()))
    reader.close()
    return out


def test_whoosh_open_segment_takes_additions_in_any_order_and_replacements(tmp_path):
    from coderag.stores.whoosh_store import WhooshLexicalStore

    store = WhooshLexicalStore(tmp_path / "lex", segment_docs=100)
    store.add([LexicalDoc(i, f"sym{i}", "src", f"first word{i}") for i in (9, 4, 6)])  # sorted on the way in
    store.add([LexicalDoc(6, "six", "src", "second six")])  # in the open segment: finished, then replaced
    store.add([LexicalDoc(2, "two", "src", "lower label")])  # below the open segment's last label
    store.add([LexicalDoc(11, "eleven", "src", "after")])
    assert len(store) == 5
    store.commit()
    store.close()
    store = WhooshLexicalStore(tmp_path / "lex", readonly=True)
    assert len(store) == 5
    assert [l for l, _ in store.search(["word6"], 5)] == [] and [l for l, _ in store.search(["second"], 5)] == [6]
    assert sorted(l for l, _ in store.search(["first", "lower", "after"], 10)) == [2, 4, 9, 11]
    store.close()


def test_whoosh_streams_segments_during_a_big_build(tmp_path):
    from coderag.stores.whoosh_store import WhooshLexicalStore

    store = WhooshLexicalStore(tmp_path / "lex", segment_docs=5)
    store.add([LexicalDoc(i, f"sym{i}", "src", f"common word{i}") for i in range(12)])
    assert len(store._taking_labels) == 2 and len(store._unpublished) == 2  # 10 already on disk, unpublished
    store.delete([3])  # in an unpublished segment; the open one is finished first
    assert not store._taking_labels and len(store._unpublished) == 3
    store.add([LexicalDoc(7, "seven", "src", "replaced")])  # replaces one
    assert len(store) == 11
    reader = WhooshLexicalStore(tmp_path / "lex", readonly=True)
    assert len(reader) == 0  # nothing published before the commit
    store.commit()
    store.close()
    store = WhooshLexicalStore(tmp_path / "lex", readonly=True)
    assert len(store) == 11 and store.segment_count == 4
    assert store.search(["word3"], 5) == [] and [l for l, _ in store.search(["replaced"], 5)] == [7]
    assert store.search(["word7"], 5) == [] and len(store.search(["common"], 20)) == 10


def test_whoosh_unpublished_segments_vanish_without_a_commit(tmp_path):
    from coderag.stores.whoosh_store import WhooshLexicalStore

    store = WhooshLexicalStore(tmp_path / "lex", segment_docs=3)
    store.add([LexicalDoc(1, "kept", "src", "kept")])
    store.commit()
    store.add([LexicalDoc(i, "lost", "src", "lost") for i in range(10, 17)])
    store.close()  # releases Whoosh's lock too
    store = WhooshLexicalStore(tmp_path / "lex")
    assert len(store) == 1 and store.search(["lost"], 5) == []
    store.add([LexicalDoc(2, "more", "src", "more")])
    store.commit()  # a new writer can lock and commit; leftover segment files are cleaned
    assert len(store) == 2 and store.segment_count == 2


def test_hnsw_builds_bounded_graph_shards_while_vectors_arrive(tmp_path):
    from coderag.stores.hnsw_store import HnswVectorStore

    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    # 16-d vectors take 256 bytes in a graph: shard_mb=0.005 makes shards of 20.
    store = HnswVectorStore(tmp_path / "vec", dim=16, build_batch=10, delta_min=5, delta_ratio=0.0, exact_max=0,
                            shard_mb=0.005)
    for start in range(0, 60, 7):
        store.add(np.arange(start, min(start + 7, 60)), vectors[start:start + 7])
    assert store._folder is not None  # folding ran on the background thread
    store._wait_fold()
    shards = store._graphs.shards
    assert [len(s.labels) for s in shards] == [20, 20, 16]  # 56 folded as they came, 4 still queued
    assert [s.graph is None for s in shards] == [True, True, False]  # full shards left memory...
    written = sorted(p.name for p in (tmp_path / "vec").glob("base-*.hnsw"))
    assert len(written) == 2  # ...for files no manifest names yet
    store.delete([4, 25])  # in two written shards
    store.add(np.array([6]), vectors[7:8])  # a folded label replaced
    assert len(store) == 58
    store.commit()
    store.close()
    store = HnswVectorStore(tmp_path / "vec", dim=16, readonly=True)
    assert len(store) == 58 and len(store._graphs.shards) == 3
    assert [store.search(vectors[i], 1)[0][0] for i in (10, 30, 50, 59)] == [10, 30, 50, 59]
    assert {label for label, _ in store.search(vectors[4], 60)}.isdisjoint({4, 25})
    assert {label for label, _ in store.search(vectors[7], 2)} == {6, 7}
    assert len(store.search(vectors[0], 100)) == 58
    store.close()
    store = HnswVectorStore(tmp_path / "vec", dim=16, shard_mb=0.005)
    store.delete(range(0, 20))  # empties the first shard
    store.compact()
    assert len(store) == 39 and len(store._graphs.shards) == 2
    assert len(list((tmp_path / "vec").glob("base-*.hnsw"))) == 2  # older files collected


# ---------------------------------------------------------------------------
# the file path in the vectors
# ---------------------------------------------------------------------------


def test_path_is_mixed_into_vectors_and_the_cache_keeps_text_vectors(make_repo):
    import numpy as np

    from coderag.config import load_settings
    from coderag.indexing.file_pipeline import BatchWorker

    repo = make_repo({"billing/invoice.py": "def total(items):\n    return sum(items)\n",
                      "search/ranking.py": "def total(items):\n    return sum(items)\n"})
    items = [(p, repo.git("rev-parse", f"HEAD:{p}").strip()) for p in ("billing/invoice.py", "search/ranking.py")]
    worker = BatchWorker(str(repo.root), load_settings(repo.root), None)
    assert worker.with_path  # the bundled model asks for it
    result = worker.run(items)
    assert len(result.rows) == 2 and result.new_vectors == [0]  # one text, embedded once
    np.testing.assert_array_equal(result.text_vectors[0], result.text_vectors[1])
    assert not np.allclose(result.vectors[0], result.vectors[1])  # their paths tell them apart
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    query = worker.embedder.embed_query("invoice billing total")
    assert float(result.vectors[0] @ query) > float(result.vectors[1] @ query)


def test_a_renamed_file_embeds_nothing_again(make_repo):
    repo = make_repo(python_files(3))
    index = Index.open(repo.root)
    first = index.update()
    repo.git("mv", "pkg/mod_1.py", "pkg/renamed.py")
    repo.commit(message="rename")
    second = index.update()
    assert first.chunks_embedded > 0
    assert second.chunks_added >= 3 and second.chunks_embedded == 0
