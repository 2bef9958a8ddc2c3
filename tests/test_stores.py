"""The builtin stores on real files: persistence, deletes, corruption, readers, crashes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from coderag.errors import IndexCorrupt
from coderag.protocols import LexicalDoc
from coderag.protocols import LexicalStore
from coderag.protocols import VectorStore
from coderag.stores.hnsw_store import HnswVectorStore
from coderag.stores.whoosh_store import WhooshLexicalStore

DIM = 16


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


VECS = unit_vectors(300)


def hnsw(path: Path, **options) -> HnswVectorStore:
    # No exact-only tier and a small delta_min make the graph (not only the exact delta) take part.
    return HnswVectorStore(path, dim=DIM, **{"delta_min": 50, "exact_max": 0, **options})


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir()}


def run_child(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# hnsw
# ---------------------------------------------------------------------------


def test_hnsw_protocol_and_empty_store(tmp_path):
    store = hnsw(tmp_path / "v")
    assert isinstance(store, VectorStore)
    assert len(store) == 0
    assert store.search(VECS[0], 5) == []
    store.commit()  # nothing to write is fine
    store.add(np.arange(3), VECS[:3])
    assert store.search(VECS[0], 0) == []
    hits = store.search(VECS[0], 10)  # k larger than the store
    assert [label for label, _ in hits][0] == 0 and len(hits) == 3
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


@pytest.mark.parametrize("n", [30, 200])  # delta only / graph + delta
def test_hnsw_persistence_delete_and_readd(tmp_path, n):
    path = tmp_path / "v"
    store = hnsw(path)
    store.add(np.arange(n), VECS[:n])
    store.commit()
    store.add([n], VECS[n:n + 1])
    store.close()  # uncommitted: dropped
    store = hnsw(path)
    assert len(store) == n
    assert store.search(VECS[7], 1)[0][0] == 7
    store.delete([7, 8, 10_000])  # unknown labels are ignored
    assert len(store) == n - 2
    assert 7 not in [label for label, _ in store.search(VECS[7], n)]
    store.commit()
    store.close()
    store = hnsw(path)
    assert len(store) == n - 2
    assert all(label not in (7, 8) for label, _ in store.search(VECS[7], n))
    store.add([7], VECS[299:300])  # re-add under a deleted label, with a new vector
    store.add([9], VECS[298:299])  # replace a live label
    assert len(store) == n - 1
    store.compact()
    store.close()
    store = hnsw(path, readonly=True)
    assert len(store) == n - 1
    assert store.search(VECS[299], 1)[0][0] == 7
    assert store.search(VECS[298], 1)[0][0] == 9
    assert len(store.search(VECS[0], 1000)) == n - 1
    assert len({label for label, _ in store.search(VECS[0], 1000)}) == n - 1


def test_hnsw_commit_writes_only_the_delta(tmp_path):
    path = tmp_path / "v"
    store = hnsw(path)
    store.add(np.arange(200), VECS[:200])
    store.commit()
    graph = [p.name for p in path.glob("base-*.hnsw")]
    assert len(graph) == 1
    before = (path / graph[0]).stat().st_mtime_ns
    store.delete([1])
    store.add([250], VECS[250:251])
    store.commit()
    assert [p.name for p in path.glob("base-*.hnsw")] == graph
    assert (path / graph[0]).stat().st_mtime_ns == before
    assert len(list(path.glob("delta-*.npz"))) == 1  # older generations collected


def test_hnsw_all_deleted(tmp_path):
    store = hnsw(tmp_path / "v")
    store.add(np.arange(100), VECS[:100])
    store.commit()
    store.delete(range(100))
    assert len(store) == 0 and store.search(VECS[0], 5) == []
    store.compact()
    assert len(store) == 0 and store.search(VECS[0], 5) == []
    store.add([5], VECS[5:6])
    assert store.search(VECS[5], 3)[0][0] == 5


def test_hnsw_readonly_never_writes(tmp_path):
    missing = tmp_path / "missing"
    reader = hnsw(missing, readonly=True)
    assert len(reader) == 0 and reader.search(VECS[0], 3) == [] and not missing.exists()
    path = tmp_path / "v"
    writer = hnsw(path)
    writer.add(np.arange(120), VECS[:120])
    writer.commit()
    before = snapshot(path)
    reader = hnsw(path, readonly=True)
    with pytest.raises(ValueError):
        reader.add([500], VECS[:1])
    with pytest.raises(ValueError):
        reader.commit()
    # The writer commits and compacts: the open reader keeps its state,
    # a new reader sees the new one.
    writer.delete(range(60))
    writer.compact()
    assert len(reader) == 120 and reader.search(VECS[3], 1)[0][0] == 3
    assert len(hnsw(path, readonly=True)) == 60
    reader.close()
    assert snapshot(path) != before  # (the writer did write)


def test_hnsw_corrupt_files_raise(tmp_path):
    path = tmp_path / "v"
    store = hnsw(path)
    store.add(np.arange(200), VECS[:200])
    store.commit()
    store.add([250], VECS[250:251])
    store.commit()
    store.close()
    graph = next(path.glob("base-*.hnsw"))
    data = graph.read_bytes()
    graph.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match="bytes"):
        hnsw(path)
    graph.write_bytes(data)
    assert len(hnsw(path)) == 201
    next(path.glob("delta-*.npz")).unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        hnsw(path, readonly=True)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        hnsw(path)
    (path / "manifest.json").unlink()
    with pytest.raises(IndexCorrupt, match="manifest.json is missing"):
        hnsw(path)


def test_hnsw_other_dimension_is_refused(tmp_path):
    store = hnsw(tmp_path / "v")
    store.add([1], VECS[:1])
    store.commit()
    with pytest.raises(IndexCorrupt, match="dim"):
        HnswVectorStore(tmp_path / "v", dim=DIM + 1)


HNSW_CHILD = """
    import os, signal, sys
    import numpy as np
    import coderag.stores.atomic as atomic
    from pathlib import Path
    from coderag.stores.hnsw_store import HnswVectorStore
    real_replace = os.replace
    def replace(src, dst):
        if Path(dst).name == sys.argv[1] or sys.argv[1] in Path(dst).name:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
    os.replace = replace
    store = HnswVectorStore(Path({path!r}), dim={dim}, delta_min=50, exact_max=0)
    x = np.random.default_rng(5).standard_normal((400, {dim})).astype("f4")
    store.delete(range(100))
    store.add(np.arange(1000, 1400), x)
    store.commit()
"""


@pytest.mark.parametrize("die_at", ["manifest.json", ".hnsw"])  # manifest swap / graph rename
def test_hnsw_kill_during_commit_keeps_previous_state(tmp_path, die_at):
    path = tmp_path / "v"
    store = hnsw(path)
    store.add(np.arange(200), VECS[:200])
    store.commit()
    store.close()
    code = HNSW_CHILD.format(path=str(path), dim=DIM).replace("sys.argv[1]", repr(die_at))
    child = run_child(code)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert any(p.name.endswith(".tmp") or "00000002" in p.name for p in path.iterdir())
    store = hnsw(path)  # the writer collects the leftovers
    assert len(store) == 200 and store.search(VECS[0], 1)[0][0] == 0
    assert not any(p.name.endswith(".tmp") or "00000002" in p.name for p in path.iterdir())
    store.add([900], VECS[:1])
    store.commit()
    assert len(hnsw(path, readonly=True)) == 201


def test_hnsw_readers_during_commits(tmp_path):
    path = tmp_path / "v"
    hnsw(path).commit()
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from coderag.stores.hnsw_store import HnswVectorStore
        x = np.random.default_rng(1).standard_normal((300, {DIM})).astype("f4")
        store = HnswVectorStore(Path({str(path)!r}), dim={DIM}, delta_min=30, delta_ratio=0.1, exact_max=0)
        for i in range(0, 300, 10):
            store.add(np.arange(i, i + 10), x[i:i + 10])
            store.commit()  # compacts every few commits: generations come and go
    """)])
    seen = set()
    while writer.poll() is None:
        reader = hnsw(path, readonly=True)
        n = len(reader)
        assert n % 10 == 0
        assert len(reader.search(VECS[0], 5)) == min(5, n)
        seen.add(n)
    assert writer.returncode == 0
    assert len(hnsw(path, readonly=True)) == 300
    assert len(seen) > 1


# ---------------------------------------------------------------------------
# whoosh
# ---------------------------------------------------------------------------


def doc(label: int, symbol: str = "", path: str = "", body: str = "") -> LexicalDoc:
    return LexicalDoc(label, symbol, path, body)


DOCS = [
    doc(1, "parseheader parse header", "http parser py", "def parseheader raw split"),
    doc(2, "retry", "net retry py", "retry backoff sleep exponential"),
    doc(3, "router", "api router py", "class router routes http"),
    doc(4, "", "readme md", "installation notes http"),
    doc(5, "loadconfig load config", "config py", "read yaml file config"),
]


def labels(hits):
    return [label for label, _ in hits]


def test_whoosh_protocol_search_and_fields(tmp_path):
    store = WhooshLexicalStore(tmp_path / "w")
    assert isinstance(store, LexicalStore)
    assert len(store) == 0 and store.search(["http"], 5) == []
    store.add(DOCS)
    assert len(store) == 5
    assert store.search(["http"], 5) == []  # search sees committed state only
    store.commit()
    assert labels(store.search(["parse", "header"], 3))[0] == 1
    # symbol matches outrank body matches
    assert labels(store.search(["router"], 5)) == [3]
    assert labels(store.search(["retry", "config"], 1)) in ([2], [5])
    hits = store.search(["http", "nope"], 10)  # k larger than the matches
    assert sorted(labels(hits)) == [1, 3, 4]
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert store.search([], 5) == [] and store.search(["http"], 0) == []


def test_whoosh_delete_readd_persist(tmp_path):
    path = tmp_path / "w"
    store = WhooshLexicalStore(path)
    store.add(DOCS)
    store.commit()
    store.delete([3, 42])
    store.add([doc(6, "uncommitted")])
    assert len(store) == 5
    store.close()  # uncommitted changes are dropped
    store = WhooshLexicalStore(path)
    assert len(store) == 5 and store.search(["uncommitted"], 5) == []
    store.delete([3, 42])
    store.commit()
    assert len(store) == 4 and store.search(["router"], 5) == []
    store.add([doc(3, "dispatcher", "api dispatch py", "routes")])  # re-add a deleted label
    store.add([doc(2, "backoff", "net py", "jitter")])  # replace a live label
    store.commit()
    store.close()
    store = WhooshLexicalStore(path, readonly=True)
    assert len(store) == 5
    assert labels(store.search(["dispatcher"], 5)) == [3]
    assert store.search(["retry"], 5) == []
    assert labels(store.search(["jitter"], 5)) == [2]


def test_whoosh_bulk_segments_parallel_and_compact(tmp_path):
    path = tmp_path / "w"
    store = WhooshLexicalStore(path, segment_docs=4, procs=2)
    many = [doc(i, f"sym{i}", "src", f"common word{i}") for i in range(10)]
    store.add(many)
    store.commit()
    assert store.segment_count == 3 and len(store) == 10
    assert labels(store.search(["word7"], 3)) == [7]
    assert len(store.search(["common"], 100)) == 10
    store.delete([7])
    store.add([doc(100, "late")])
    store.commit()
    assert store.segment_count == 4
    store.compact()  # merges the small segments only
    assert store.segment_count < 4 and len(store) == 10
    store.compact(full=True)
    assert store.segment_count == 1 and len(store) == 10
    assert store.search(["word7"], 3) == [] and labels(store.search(["late"], 3)) == [100]


def test_whoosh_commits_merge_full_size_tiers_so_segments_stay_few(tmp_path):
    from coderag.stores.whoosh_segments import SEGMENTS_PER_TIER

    store = WhooshLexicalStore(tmp_path / "w", segment_docs=1000)
    live: dict[int, LexicalDoc] = {}
    counts = []
    for i in range(80):  # 80 hook-sized commits: 3 new documents, one older one replaced, one deleted
        docs = [doc(3 * i + j, f"sym{3 * i + j}", "src", f"common word{3 * i + j} round{i}") for j in range(3)]
        if i >= 2:
            docs.append(doc(3 * (i - 2), f"sym{3 * (i - 2)}", "src", f"common rewritten{i}"))
            store.delete([3 * (i - 2) + 1])
            live.pop(3 * (i - 2) + 1, None)
        store.add(docs)
        live.update({d.label: d for d in docs})
        store.commit()
        counts.append(store.segment_count)
    # Without merging there would be one segment per commit; tiers of 1-9, 10-99, 100-999 documents
    # hold at most SEGMENTS_PER_TIER each after a commit, plus that commit's new segment.
    assert max(counts) <= 3 * SEGMENTS_PER_TIER + 1 and counts[-1] < 20
    assert len(store) == len(live)
    reference = WhooshLexicalStore(tmp_path / "ref", segment_docs=1000)
    reference.add(list(live.values()))
    reference.commit()
    queries = (["common"], ["word7"], ["rewritten50", "round60"], ["sym3"], ["word4"])
    for query in queries:
        assert sorted(labels(store.search(query, 300))) == sorted(labels(reference.search(query, 300)))
    store.compact(full=True)  # deleted documents still weigh in BM25's statistics until then
    for query in queries:
        assert dict(store.search(query, 300)) == pytest.approx(dict(reference.search(query, 300)))
    store.close()
    store = WhooshLexicalStore(tmp_path / "w", readonly=True)  # what a reader opens
    assert len(store) == len(live) and labels(store.search(["word4"], 3)) == []


def test_whoosh_readonly_readers(tmp_path):
    missing = tmp_path / "missing"
    reader = WhooshLexicalStore(missing, readonly=True)
    assert len(reader) == 0 and reader.search(["x"], 3) == [] and not missing.exists()
    path = tmp_path / "w"
    writer = WhooshLexicalStore(path)
    writer.add(DOCS)
    writer.commit()
    before = snapshot(path)
    reader = WhooshLexicalStore(path, readonly=True)
    assert labels(reader.search(["router"], 3)) == [3] and len(reader) == 5
    with pytest.raises(ValueError):
        reader.add([doc(9)])
    assert snapshot(path) == before
    # A reader opens and searches while a writer holds Whoosh's write lock.
    lock_holder = writer._ix.writer()
    try:
        other = WhooshLexicalStore(path, readonly=True)
        assert labels(other.search(["router"], 3)) == [3]
    finally:
        lock_holder.cancel()
    writer.delete([3])
    writer.commit()
    assert labels(reader.search(["router"], 3)) == [3]  # its snapshot
    assert WhooshLexicalStore(path, readonly=True).search(["router"], 3) == []


def test_whoosh_corrupt_files_raise(tmp_path):
    path = tmp_path / "w"
    store = WhooshLexicalStore(path)
    store.add(DOCS)
    store.commit()
    store.close()
    segment = next(path.glob("MAIN_*.seg"))
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt):
        WhooshLexicalStore(path, readonly=True)
    segment.unlink()
    with pytest.raises(IndexCorrupt):
        WhooshLexicalStore(path)
    segment.write_bytes(data)
    toc = next(path.glob("_MAIN_*.toc"))
    toc.write_bytes(toc.read_bytes()[:20])
    with pytest.raises(IndexCorrupt):
        WhooshLexicalStore(path)
    toc.unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        WhooshLexicalStore(path)


WHOOSH_CHILD = """
    import os, signal, sys
    from pathlib import Path
    from whoosh.filedb import filestore
    from coderag.protocols import LexicalDoc
    from coderag.stores.whoosh_store import WhooshLexicalStore
    if {at_toc}:
        # die exactly between writing the new segments and publishing them
        real = filestore.FileStorage.rename_file
        def rename_file(self, old, new, safe=False):
            if new.endswith(".toc"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, old, new, safe)
        filestore.FileStorage.rename_file = rename_file
    store = WhooshLexicalStore(Path({path!r}), segment_docs=1000)
    store.delete([1, 2])
    store.add([LexicalDoc(i, "big", "write", " ".join(f"w{{j}}" for j in range(i % 50, i % 50 + 60)))
               for i in range(100, 100 + {count})])
    print("writing", flush=True)
    store.commit()
"""


@pytest.mark.parametrize("at_toc", [True, False])  # deterministic / whenever the kill lands
def test_whoosh_kill_during_commit_keeps_previous_generation(tmp_path, at_toc):
    path = tmp_path / "w"
    store = WhooshLexicalStore(path)
    store.add(DOCS)
    store.commit()
    store.close()
    before = set(os.listdir(path))
    code = WHOOSH_CHILD.format(path=str(path), at_toc=at_toc, count=1500 if at_toc else 20000)
    if at_toc:
        child = run_child(code)
        assert child.returncode == -signal.SIGKILL, child.stderr
    else:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 30
        while not set(os.listdir(path)) - before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # usually inside the segment writes (seconds for 20k documents)
        proc.send_signal(signal.SIGKILL)
        returncode = proc.wait()
        # A fast (or idle) machine can finish the commit before the kill lands: then
        # the store must hold the whole new generation, never a part of it.
        assert returncode in (0, -signal.SIGKILL)
        if returncode == 0:
            store = WhooshLexicalStore(path)
            assert len(store) == 5 - 2 + 20000
            assert labels(store.search(["parse"], 3)) == [] and len(store.search(["big"], 5)) == 5
            return
    assert set(os.listdir(path)) - before  # it died with files half written
    store = WhooshLexicalStore(path)
    if not at_toc and len(store) == 5 - 2 + 20000:
        # The kill landed after the new TOC was published: the whole new generation.
        assert labels(store.search(["parse"], 3)) == [] and len(store.search(["big"], 5)) == 5
        return
    assert len(store) == 5 and labels(store.search(["parse"], 3)) == [1]
    store.add([doc(7, "after", "crash", "recovered")])  # the lock died with the child
    store.commit()
    assert len(store) == 6 and labels(store.search(["recovered"], 3)) == [7]
    # The commit cleaned the dead writer's files: two segments, the TOC and their label ranges remain.
    left = sorted(n for n in os.listdir(path) if n != "MAIN_WRITELOCK")
    assert [n.rsplit(".", 1)[-1] for n in left] == ["seg", "seg", "toc", "json"], left


def test_hnsw_churn_keeps_every_live_vector_reachable(tmp_path):
    """Commit after commit of deletions and additions (a long-lived index): every live vector still
    finds itself, and deleted slots never outgrow the live ones by more than half."""
    from coderag.stores.hnsw_graphs import REBUILD_DEAD_SHARE

    rng = np.random.default_rng(1)
    dim = 64
    centers = rng.normal(size=(60, dim))  # clustered, like code: many close neighbours

    def make(n):
        return (centers[rng.integers(0, len(centers), n)] + 0.35 * rng.normal(size=(n, dim))).astype(np.float32)

    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=dim, delta_min=50, delta_ratio=0.02, num_threads=1, exact_max=0)
    live = dict(enumerate(make(3000)))
    store.add(np.array(list(live)), np.array(list(live.values())))
    store.commit()
    next_label = len(live)
    for _ in range(40):  # each round replaces 4% of the vectors; a fold every round or two
        gone = rng.choice(np.array(sorted(live)), 120, replace=False).tolist()
        store.delete(gone)
        for label in gone:
            del live[label]
        labels = np.arange(next_label, next_label + 120)
        next_label += 120
        vectors = make(120)
        store.add(labels, vectors)
        live.update(zip(labels.tolist(), vectors))
        store.commit()
        for shard in store._graphs.shards:
            if shard.graph is not None:
                assert shard.graph.element_count - len(shard.labels) <= REBUILD_DEAD_SHARE * len(shard.labels)
    store.close()
    store = HnswVectorStore(path, dim=dim, readonly=True)
    missed = [label for label, vector in live.items() if label not in labels_of(store.search(vector, 10))]
    assert missed == []


def labels_of(hits):
    return [label for label, _ in hits]


# ---------------------------------------------------------------------------
# label ranges: deletes probe only the segments that may hold a label
# ---------------------------------------------------------------------------


def _segment_labels(store) -> dict[str, set[int]]:
    """Every label term of every segment, read back from Whoosh (deleted documents included)."""
    out = {}
    for leaf, _ in store._current().leaf_searchers():
        reader = leaf.reader()
        out[reader.segment().segid] = {int(term) for term in reader.lexicon("label")}
    return out


def _counting_probes(monkeypatch) -> list:
    from whoosh.reading import SegmentReader

    probes = []
    contains = SegmentReader.__contains__

    def counted(self, term):
        if term[0] == "label":
            probes.append(term[1])
        return contains(self, term)

    monkeypatch.setattr(SegmentReader, "__contains__", counted)
    return probes


def test_deletes_probe_only_segments_whose_label_range_holds_them(tmp_path, monkeypatch):
    from coderag.stores.whoosh_labels import RANGES_FILE
    from coderag.stores.whoosh_labels import load_ranges

    path = tmp_path / "lex"
    store = WhooshLexicalStore(path, segment_docs=10)
    store.add([doc(i, f"sym{i}", "src", f"word{i} common") for i in range(1, 31)])
    store.commit()
    ranges = load_ranges(path)
    assert sorted(ranges.values()) == [(1, 10), (11, 20), (21, 30)]
    probes = _counting_probes(monkeypatch)
    from whoosh.reading import SegmentReader

    opened = []
    init = SegmentReader.__init__

    def counted_init(self, *args, **kwargs):
        opened.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(SegmentReader, "__init__", counted_init)
    store.delete([15])
    store.commit()
    assert len(opened) == 1  # a reader for the one segment that may hold 15; no searcher until one is asked for
    store.add([doc(15, "sym15", "src", "word15 common")])
    store.commit()
    store.delete([5, 15, 25])
    probes.clear()
    store.commit()
    # 5 and 25 in one segment each, 15 in its old segment and in the one its new copy went to; not all four
    assert sorted(probes) == ["15", "15", "25", "5"]
    assert labels(store.search(["word15"], 3)) == [] and len(store.search(["common"], 40)) == 27

    # Many small commits merge a size tier: the merged segment's range covers its labels.
    for i in range(31, 45):
        store.add([doc(i, f"sym{i}", "src", f"word{i} common")])
        store.commit()
    ranges = load_ranges(path)
    for segid, held in _segment_labels(store).items():
        low, high = ranges[segid]
        assert low <= min(held) and max(held) <= high, (segid, ranges[segid], held)
    assert set(ranges) == set(_segment_labels(store))  # no entry for a segment merged away
    store.delete([33, 40])
    store.commit()
    assert labels(store.search(["word33"], 3)) == [] and labels(store.search(["word40"], 3)) == []

    # An unreadable file only costs lookups: every segment is probed again.
    store.close()
    (path / RANGES_FILE).write_text("{not json")
    probes.clear()
    store = WhooshLexicalStore(path, segment_docs=10)
    segments = store.segment_count
    store.delete([7])
    store.commit()
    assert len(probes) == segments > 1
    assert labels(store.search(["word7"], 3)) == [] and len(store.search(["common"], 60)) == 38
    store.close()


# ---------------------------------------------------------------------------
# hnsw: the exact tier and its per-commit log
# ---------------------------------------------------------------------------


def exact_top(vectors: dict[int, np.ndarray], query: np.ndarray, k: int) -> list[int]:
    labels = sorted(vectors)
    sims = np.array([vectors[label] @ query for label in labels])
    return [labels[i] for i in np.argsort(-sims, kind="stable")[:k]]


def test_hnsw_small_store_builds_no_graph_until_exact_max(tmp_path):
    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM, exact_max=150, delta_min=10, build_batch=20)
    store.add(np.arange(150), VECS[:150])
    store.commit()
    assert not list(path.glob("base-*.hnsw"))  # all 150 searched exactly
    assert [label for label, _ in store.search(VECS[3], 5)] == exact_top(dict(enumerate(VECS[:150])), VECS[3], 5)
    store.add(np.arange(150, 200), VECS[150:200])
    store.commit()
    assert len(list(path.glob("base-*.hnsw"))) == 1  # past exact_max: a graph
    store.close()
    assert len(hnsw(path, readonly=True)) == 200


def test_hnsw_commit_writes_only_its_own_rows_and_replays_the_log(tmp_path):
    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM)
    live = {}
    store.add(np.arange(200), VECS[:200])
    live.update(enumerate(VECS[:200]))
    store.commit()
    first = next(path.glob("delta-*.npz"))
    first_bytes = first.stat().st_size
    rng = np.random.default_rng(3)
    for round_ in range(6):  # each commit: replace some, delete some, add some
        replaced = rng.choice(sorted(live), 3, replace=False)
        fresh = VECS[200 + 3 * round_:203 + 3 * round_]  # vectors no other label holds
        store.add(replaced, fresh)
        live.update(zip(replaced.tolist(), fresh))
        gone = rng.choice(sorted(live), 2, replace=False)
        store.delete(gone)
        for label in gone.tolist():
            live.pop(label)
        store.add([1000 + round_], VECS[230 + round_:231 + round_])
        live[1000 + round_] = VECS[230 + round_]
        store.commit()
        newest = max(path.glob("delta-*.npz"), key=lambda p: p.name)
        assert newest.stat().st_size < first_bytes / 10  # only this commit's rows
        assert first.exists()  # older segments stay, named by the manifest
    store.close()
    reopened = hnsw(path, readonly=True)
    assert len(reopened) == len(live)
    for query in (VECS[7], VECS[204], VECS[233]):
        got = [label for label, _ in reopened.search(query, 10)]
        assert got == exact_top(live, query, 10)
    for label, vector in list(live.items())[:20]:
        assert reopened.search(vector, 1)[0][0] == label


def test_hnsw_log_is_rewritten_once_dead_rows_outnumber_live_ones(tmp_path):
    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM)
    store.add(np.arange(100), VECS[:100])
    store.commit()
    store.add(np.arange(100, 110), VECS[100:110])
    store.commit()
    assert len(list(path.glob("delta-*.npz"))) == 2
    store.delete(range(60))  # 60 dead rows on disk, 50 live
    store.commit()
    segments = list(path.glob("delta-*.npz"))
    assert len(segments) == 1  # the whole tier, once
    store.close()
    reopened = hnsw(path, readonly=True)
    assert len(reopened) == 50
    assert {label for label, _ in reopened.search(VECS[70], 100)} == set(range(60, 110))


def test_hnsw_log_length_is_bounded(tmp_path):
    from coderag.stores.hnsw_delta import MAX_SEGMENTS

    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM)
    for i in range(MAX_SEGMENTS + 3):
        store.add([i], VECS[i:i + 1])
        store.commit()
        assert len(list(path.glob("delta-*.npz"))) <= MAX_SEGMENTS
    store.close()
    assert len(hnsw(path, readonly=True)) == MAX_SEGMENTS + 3


def test_hnsw_reads_a_format_2_store(tmp_path):
    import json

    path = tmp_path / "v"
    path.mkdir()
    np.savez(path / "delta-00000001.npz", labels=np.arange(5), vectors=VECS[:5],
             tombstones=np.zeros(0, np.int64))
    (path / "manifest.json").write_text(json.dumps({
        "format": "coderag-hnsw/2", "generation": 1, "dim": DIM, "space": "cosine", "bases": [],
        "delta": {"file": "delta-00000001.npz", "file_bytes": (path / "delta-00000001.npz").stat().st_size,
                  "count": 5, "tombstones": 0}}))
    store = HnswVectorStore(path, dim=DIM)
    assert len(store) == 5 and store.search(VECS[2], 1)[0][0] == 2
    store.add([5], VECS[5:6])
    store.commit()
    store.close()
    assert len(hnsw(path, readonly=True)) == 6


def test_hnsw_commit_folds_a_bounded_share_of_the_delta(tmp_path):
    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM, exact_max=100, delta_min=10, delta_ratio=0.0, fold_max=40,
                            build_batch=0)
    store.add(np.arange(150), VECS[:150])  # past exact_max in one commit
    store.commit()
    assert store._graphs.live_count() == 40 and len(store._delta) == 110  # only the oldest 40 folded
    store.commit()  # nothing new: no change, no fold
    assert store._graphs.live_count() == 40
    store.add([150], VECS[150:151])
    store.commit()
    assert store._graphs.live_count() == 80 and len(store._delta) == 71  # the next commit folds more
    store.close()
    reopened = hnsw(path, readonly=True)
    assert len(reopened) == 151
    for label in (0, 39, 40, 99, 150):
        assert reopened.search(VECS[label], 1)[0][0] == label
    store = hnsw(path)
    store.compact()  # compact folds everything
    assert len(store._delta) == 0 and store._graphs.live_count() == 151


def test_hnsw_a_sparse_shard_is_dissolved_into_the_delta_not_rebuilt_in_one_commit(tmp_path):
    # Rebuilding a sparse shard re-inserts all its live vectors inside one commit (44k took 7.2 s in
    # bench/hnsw_churn.py); dissolved, they are searched exactly and folded back fold_max a commit.
    path = tmp_path / "v"
    store = HnswVectorStore(path, dim=DIM, exact_max=0, delta_min=10, delta_ratio=0.0, fold_max=40, build_batch=0)
    store.add(np.arange(100), VECS[:100])
    store.compact()
    assert store._graphs.live_count() == 100 and len(store._delta) == 0
    store.delete(list(range(60)))  # 60 deleted slots against 40 live: past half
    store.commit()
    assert store._graphs.live_count() == 0 and sorted(store._delta.labels.tolist()) == list(range(60, 100))
    for label in (60, 77, 99):
        assert store.search(VECS[label], 1)[0][0] == label
    assert all(hit[0] >= 60 for hit in store.search(VECS[5], 10))
    store.add([100], VECS[100:101])
    store.commit()  # the next commit folds the oldest fold_max back into a fresh graph
    assert store._graphs.live_count() == 40 and len(store._delta) == 1
    assert all(s.graph is None or s.graph.element_count == len(s.labels) for s in store._graphs.shards)
    store.close()
    reopened = hnsw(path, readonly=True)
    assert len(reopened) == 41
    for label in range(60, 101):
        assert reopened.search(VECS[label], 1)[0][0] == label
    assert not any(p.name.startswith("base-") and "00000001" in p.name for p in path.iterdir())  # old shard collected
