"""Test helpers: compare an index with git, and check its internal consistency.

They read the index files directly (manifest and stores), so a test can
assert what *is* indexed, not only what a search happens to return.
"""
from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

from coderag.indexing.background import wait_until_idle
from coderag.git.plumbing import Repo
from coderag.git.plumbing import decode_path
from coderag.ondisk.manifest import Manifest
from coderag.ondisk.layout import MANIFEST_NAME
from coderag.ondisk.layout import IndexLocation


def location(root: Path) -> IndexLocation:
    return IndexLocation(Repo.discover(root).index_dir())


def indexed(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``({path: blob} of live files, meta)`` of the committed index."""
    current = location(root).current()
    assert current is not None, "no index"
    manifest = Manifest(current / MANIFEST_NAME, readonly=True)
    try:
        return {p: row.blob for p, row in manifest.live_files().items()}, manifest.meta()
    finally:
        manifest.close()


def tree(repo, rev: str = "HEAD") -> dict[str, str]:
    """``{path: blob}`` of a commit, straight from git (paths decoded as coderag does)."""
    out = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", rev], cwd=repo.root, capture_output=True,
                         check=True).stdout
    entries = {}
    for record in out.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            entries[decode_path(path)] = meta.split()[2].decode()
    return entries


def staged(repo) -> dict[str, str]:
    out = subprocess.run(["git", "ls-files", "-s", "-z"], cwd=repo.root, capture_output=True, check=True).stdout
    return {decode_path(rec.partition(b"\t")[2]): rec.split()[1].decode() for rec in out.split(b"\0") if rec}


def wait_for_head(repo, timeout: float = 90.0) -> dict[str, str]:
    """Wait until background updates are done and the index is at HEAD; returns the meta."""
    head = repo.git("rev-parse", "HEAD").strip()
    loc = location(repo.root)
    deadline = time.monotonic() + timeout
    meta: dict[str, str] = {}
    while time.monotonic() < deadline:
        wait_until_idle(loc, timeout=max(1.0, deadline - time.monotonic()))
        if loc.current() is not None:
            files, meta = indexed(repo.root)
            if meta.get("commit") == head and wait_until_idle(loc, timeout=0.1):
                return meta
        time.sleep(0.1)
    raise AssertionError(f"the index never reached HEAD {head[:12]}: {meta.get('commit')!r}, "
                         f"status {loc.read_status()}")


def assert_matches_head(repo, timeout: float = 90.0) -> None:
    """The index holds exactly HEAD's tree (every path, every blob)."""
    wait_for_head(repo, timeout)
    files, meta = indexed(repo.root)
    assert meta["target"] == "HEAD"
    assert files == tree(repo), "index and HEAD differ"


def check_consistent(repo, exact: bool = False, sample: int = 20, seed: int = 0) -> dict[str, str]:
    """Assert the committed index is whole; returns its meta (``{}`` when there is none).

    * all or nothing: the live files are exactly the tree of the commit the index names;
    * no orphaned chunk (every live chunk belongs to a live file with the same blob),
      no duplicated chunk (one row per span), the count the manifest promised;
    * both stores hold every live label, and a sample of labels points at the right
      chunk: its own vector finds it first, its own symbol finds it by keywords.

    With ``exact`` (after a completed update) nothing of an unfinished update may
    remain: no uncommitted rows, and the stores hold no label the manifest lacks.
    """
    import numpy as np

    from coderag.config import load_settings
    from coderag.analysis.documents import lexical_doc
    from coderag.protocols import Chunk
    from coderag.indexing.file_pipeline import mix_paths
    from coderag.ondisk.store_pair import IndexStores

    current = location(repo.root).current()
    if current is None:
        return {}
    manifest = Manifest(current / MANIFEST_NAME, readonly=True)
    stores = None
    try:
        meta = manifest.meta()
        gen = int(meta["generation"])
        files = manifest.live_files()
        if meta["target"] == "HEAD":
            assert {p: r.blob for p, r in files.items()} == tree(repo, meta["commit"]), "a mix of two trees"
        rows = manifest.db.execute(
            "SELECT label, path, blob, start_line, end_line, symbol, text_hash FROM chunks "
            "WHERE born <= ? AND (died IS NULL OR died > ?)", (gen, gen)).fetchall()
        for label, path, blob, *_ in rows:
            assert path in files and files[path].blob == blob, f"orphaned chunk {label} ({path})"
        spans = [(path, start, end) for _, path, _, start, end, _, _ in rows]
        assert len(set(spans)) == len(spans), "duplicated chunks"
        assert len(rows) == int(meta["live_chunks"])
        stores = IndexStores.open(current, load_settings(repo.root), int(meta["dim"]), readonly=True)
        assert len(stores.vectors) >= len(rows) and len(stores.lexical) >= len(rows)
        rng = random.Random(seed)
        embedder = _embedder(repo.root)
        for label, path, _, _, _, symbol, text_hash in rng.sample(rows, min(sample, len(rows))):
            cached = manifest.cached_vectors([text_hash])[text_hash]
            vector = np.frombuffer(cached, dtype=np.float16).astype(np.float32)
            if getattr(embedder, "embeds_path", False):  # the store holds the text vector mixed with the path's
                vector = mix_paths(vector, embedder.embed_documents([path])[0])
            stored = stored_vector(stores.vectors, label)
            assert stored is not None, f"label {label} ({path}) is missing from the vector store"
            cosine = float(stored @ vector) / float(np.linalg.norm(stored) * np.linalg.norm(vector))
            assert cosine > 0.999, f"label {label} ({path}) holds another chunk's vector (cosine {cosine:.3f})"
            if symbol:  # the whole symbol, as indexed, is one rare token: cheap and exact
                row = manifest.chunks_by_label([label], gen)[label]
                doc = lexical_doc(label, Chunk(row.path, row.start_line, row.end_line, row.text, row.language,
                                               row.symbol, row.kind))
                found = [hit for hit, _ in stores.lexical.search(doc.symbol.split()[:1], 10)]
                assert label in found, f"label {label} ({symbol}) has another chunk's keywords"
        if exact:
            assert not manifest.db.execute("SELECT 1 FROM chunks WHERE born > ?", (gen,)).fetchone()
            assert not manifest.db.execute("SELECT 1 FROM files WHERE born > ?", (gen,)).fetchone()
            stored = manifest.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            assert len(stores.vectors) == stored == len(stores.lexical), "labels left behind in a store"
            assert [p.name for p in location(repo.root).root.glob("data-*")] == [current.name]
        return meta
    finally:
        if stores is not None:
            stores.close()
        manifest.close()


def stored_vector(store, label: int):
    """The vector the builtin hnsw store holds under ``label`` (read exactly, not searched:
    HNSW search is approximate, and this checks what is stored)."""
    import numpy as np

    store._consolidate()
    rows = np.flatnonzero(store._delta.labels == label)
    if len(rows):
        return store._delta.vectors[rows[-1]]
    if label in store._tombstones or store._base_index() is None:
        return None
    try:
        return np.asarray(store._base_index().get_items([label])[0], dtype=np.float32)
    except RuntimeError:
        return None


# ---------------------------------------------------------------------------
# generated repositories
# ---------------------------------------------------------------------------

WORDS = ("alpha beta gamma delta parse render fetch store cache retry queue token graph index merge "
         "split load save open close").split()


def generated_files(count: int, seed: int = 7) -> dict[str, str]:
    """``count`` Python files of ten small functions each, with unique names."""
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        lines = []
        for j in range(10):
            name = "_".join(rng.sample(WORDS, 3)) + f"_{i}_{j}"
            lines += [f"def {name}(value, count=3):", f'    """{" ".join(rng.sample(WORDS, 6))}."""']
            lines += [f"    value = value + {rng.randint(0, 99)}  # {' '.join(rng.sample(WORDS, 4))}"
                      for _ in range(6)]
            lines += ["    return value", ""]
        files[f"pkg{i % 10}/module_{i}.py"] = "\n".join(lines)
    return files


def change_some(repo, rng: random.Random, step: int, count: int = 8) -> None:
    """Commit edits to ``count`` files: changed bodies, a new function each, one deletion, one new file."""
    paths = sorted(str(p.relative_to(repo.root)) for p in repo.root.glob("pkg*/*.py"))
    changes = {}
    for path in rng.sample(paths, count):
        text = (repo.root / path).read_text()
        words = " ".join(rng.sample(WORDS, 8))
        changes[path] = (text.replace("value + ", "value - ", 1)
                         + f'\ndef added_{step}_{path[5:-3]}(x):\n    """{words}."""\n    return x\n')
    repo.write(changes)
    (repo.root / rng.choice(paths)).unlink()
    repo.write({f"pkg{step % 10}/fresh_{step}.py": f"def fresh_function_{step}(y):\n    return y * {step}\n"})
    repo.commit(message=f"step {step}")


_EMBEDDERS: dict[tuple, object] = {}


def _embedder(root: Path):
    """The repository's configured embedder (cached per settings: loading a model costs ~0.1 s)."""
    from coderag.config import load_settings
    from coderag.plugins import create_backend

    settings = load_settings(root)
    key = (settings.backends["embedder"], tuple(sorted(settings.options["embedder"].items())))
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = create_backend("embedder", settings.backends["embedder"], **settings.options["embedder"])
    return _EMBEDDERS[key]
