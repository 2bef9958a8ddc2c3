"""The per-file work of an update: decode, filter, chunk, and describe chunks.

Everything here is pure (no git, no stores) so it runs the same inline or in
worker processes.  A file that cannot be indexed is not an error: it is kept
in the manifest as ``skipped`` with the reason, so ``status`` can tell why.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from coderag.git.plumbing import REGULAR_MODES
from coderag.git.plumbing import SUBMODULE_MODE
from coderag.git.plumbing import SYMLINK_MODE
from coderag.errors import CoderagError
from coderag.errors import PartialEmbedding
from coderag.protocols import Chunk
from coderag.analysis.documents import embedding_text
from coderag.analysis.documents import lexical_doc
from coderag.analysis.documents import text_hash

LFS_MAGIC = b"version https://git-lfs.github.com/spec/v1"
BINARY_SNIFF_BYTES = 8000


@dataclass
class PreparedFile:
    """One file after chunking, or the reason it was skipped."""

    path: str
    blob: str
    language: str
    status: str = "indexed"
    reason: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    stage: str = ""
    """The pipeline stage that failed (``read``, ``chunk``...) when status is ``error``."""


def skip_reason_for_mode(mode: str) -> str:
    """Why a tree entry with this mode is never read, or ``""``."""
    if mode == SYMLINK_MODE:
        return "symlink"
    if mode == SUBMODULE_MODE:
        return "submodule"
    if mode not in REGULAR_MODES:
        return f"unsupported mode {mode}"
    return ""


def split_readable(repo, entries, max_bytes: int) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]],
                                                             dict[str, int]]:
    """``(skipped, readable, sizes)`` of tree entries: ``(path, blob, reason)`` for those never read
    (symlinks, submodules, blobs over ``max_bytes``), ``(path, blob)`` for the rest, and the blobs'
    sizes (from one ``git cat-file`` call)."""
    sizes = repo.blob_sizes(e.blob for e in entries if not skip_reason_for_mode(e.mode))
    skipped, readable = [], []
    for entry in entries:
        reason = skip_reason_for_mode(entry.mode)
        size = sizes.get(entry.blob)
        if not reason and size is not None and size > max_bytes:
            reason = f"larger than {max_bytes} bytes ({size})"
        if reason:
            skipped.append((entry.path, entry.blob, reason))
        else:
            readable.append((entry.path, entry.blob))
    return skipped, readable, sizes


def decode_blob(data: bytes, max_bytes: int) -> tuple[str | None, str]:
    """Return ``(text, "")`` or ``(None, reason)`` for a blob's bytes."""
    if len(data) > max_bytes:
        return None, f"larger than {max_bytes} bytes ({len(data)})"
    if data.startswith(LFS_MAGIC):
        return None, "git-lfs pointer"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark (Windows editors)
        try:
            return data.decode("utf-16").replace("\r\n", "\n"), ""
        except UnicodeDecodeError:
            pass
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None, "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Mixed or legacy encodings: keep every line searchable; undecodable bytes become U+FFFD.
        text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    # CRLF -> LF keeps line numbers (lines are counted on "\n") and cleans snippets.
    return text.replace("\r\n", "\n"), ""


def prepare_file(path: str, blob: str, data: bytes, chunker, max_bytes: int) -> PreparedFile:
    """Decode and chunk one file; never raises for bad content."""
    from coderag.analysis.languages import detect_language
    from coderag.analysis.languages import is_probably_generated

    text, reason = decode_blob(data, max_bytes)
    # The whole text: a C++ header often shows its first C++ construct after a long licence.
    language = detect_language(path, text)
    prepared = PreparedFile(path, blob, language)
    if text is None:
        prepared.status, prepared.reason = "skipped", reason
        return prepared
    generated = is_probably_generated(path, text)
    if generated:
        prepared.status, prepared.reason = "skipped", generated
        return prepared
    try:
        prepared.chunks = [c for c in chunker.chunk(path, text, language) if c.text.strip()]
    except Exception as exc:  # a chunker bug must not stop the other files
        prepared.status, prepared.stage = "error", "chunk"
        prepared.reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return prepared


# ---------------------------------------------------------------------------
# batches: the unit of work sent to a worker (or run inline)
# ---------------------------------------------------------------------------


PATH_WEIGHT = 0.25
"""Weight of a file path's vector in its chunks' vectors (for embedders with ``embeds_path``)."""


def mix_paths(vectors, path_vectors):
    """Rows of ``vectors`` plus :data:`PATH_WEIGHT` times the matching rows of ``path_vectors``, normalised."""
    import numpy as np

    mixed = np.asarray(vectors, dtype=np.float32) + PATH_WEIGHT * np.asarray(path_vectors, dtype=np.float32)
    norms = np.linalg.norm(mixed, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (mixed / norms).astype(np.float32)


@dataclass
class BatchResult:
    """What one batch of files produced, in compact form for the single writer."""

    files: list[PreparedFile]
    """Per file, without chunk texts (``chunks`` emptied); ``chunk_count`` gives the rows."""
    chunk_counts: list[int]
    rows: list[tuple]
    """``(path, blob, start, end, language, symbol, kind, text_hash, compressed text)``."""
    lexical: list[tuple[str, str, str]]
    """``(symbol tokens, path tokens, body tokens)`` per row."""
    vectors: "object"
    """float32 array, one row per chunk row."""
    new_vectors: list[int]
    """Indexes of rows whose vector was computed now (not from the cache)."""
    seconds: dict[str, float] = field(default_factory=dict)
    bytes_read: int = 0
    peak_rss_mb: float = 0.0
    """The worker process's peak resident memory so far (0 when run in the writer)."""
    service: dict[str, int] = field(default_factory=dict)
    """Requests, retries, tokens and characters sent by an embedder that calls a service, for this batch."""
    text_vectors: "object" = None
    """When ``vectors`` hold path-mixed vectors: the chunks' own text vectors, for the embedding cache."""
    texts: "list[str] | None" = None
    """Each row's text to embed, when the worker left embedding to the writer (``vectors`` is then
    ``None``; see :mod:`coderag.indexing.request_packer`)."""


class BatchWorker:
    """Turns ``[(path, blob), ...]`` into a :class:`BatchResult`.

    One per process: it holds the chunker, the embedder, a ``git cat-file``
    reader and a read-only view of the embedding cache.
    """

    def __init__(self, repo_root: str, settings, manifest_path: str | None) -> None:
        from coderag.git.plumbing import Repo
        from coderag.plugins import create_backend

        self.repo = Repo.discover(repo_root)
        self.settings = settings
        self.chunker = create_backend("chunker", settings.backends["chunker"], **settings.options["chunker"])
        self.embedder = create_backend("embedder", settings.backends["embedder"], **settings.options["embedder"])
        self.with_path = bool(getattr(self.embedder, "embeds_path", False))
        """Mix each chunk's vector with its file path's (the embedder asked for it)."""
        self.manifest_path = manifest_path
        self._cache = None
        self.defer_embedding = False
        """Leave embedding to the writer, which packs many batches' texts into full requests."""

    def use_manifest(self, manifest_path: str | None) -> None:
        """Read the embedding cache from this manifest from now on (a worker may serve many updates)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        self.manifest_path = manifest_path

    def cached_vectors(self, hashes: list[bytes]) -> dict[bytes, bytes]:
        """float16 vector bytes the index's embedding cache holds for these text hashes."""
        if not self.manifest_path:
            return {}
        if self._cache is None:
            from pathlib import Path

            from coderag.ondisk.manifest import Manifest

            try:
                self._cache = Manifest(Path(self.manifest_path), readonly=True)
            except Exception:
                self.manifest_path = None
                return {}
        return self._cache.cached_vectors(hashes)

    def run(self, items: list[tuple[str, str]]) -> BatchResult:
        import time

        import numpy as np

        from coderag.ondisk.manifest import compress

        seconds = {"read": 0.0, "chunk": 0.0, "tokenize": 0.0, "embed": 0.0}
        t0 = time.perf_counter()
        contents = dict(self.repo.read_blobs(blob for _, blob in items))
        seconds["read"] = time.perf_counter() - t0
        files, counts, rows, lexical, texts = [], [], [], [], []
        bytes_read = 0
        for path, blob in items:
            t0 = time.perf_counter()
            data = contents.get(blob)
            if data is None:
                prepared = PreparedFile(path, blob, "", "error", "blob missing from git", [], "read")
            else:
                bytes_read += len(data)
                prepared = prepare_file(path, blob, data, self.chunker, self.settings.max_file_bytes)
            t1 = time.perf_counter()
            seconds["chunk"] += t1 - t0
            for chunk in prepared.chunks:
                text = embedding_text(chunk)
                texts.append(text)
                doc = lexical_doc(0, chunk)
                lexical.append((doc.symbol, doc.path, doc.body))
                rows.append((path, blob, chunk.start_line, chunk.end_line, chunk.language or prepared.language,
                             chunk.symbol, chunk.kind, text_hash(text), compress(chunk.text)))
            counts.append(len(prepared.chunks))
            prepared.chunks = []
            files.append(prepared)
            seconds["tokenize"] += time.perf_counter() - t1
        if self.defer_embedding:
            return BatchResult(files, counts, rows, lexical, None, [], seconds, bytes_read, texts=texts)
        t0 = time.perf_counter()
        stats = getattr(self.embedder, "service_stats", None)
        before = stats() if stats else {}
        vectors, missing, failed_hashes = self._vectors(rows, texts)
        if failed_hashes:  # the service kept failing on some texts: their files wait for the next update
            failed = {row[0]: failed_hashes[row[7]] for row in rows if row[7] in failed_hashes}  # path -> reason
            mark_embed_errors(files, failed)
            keep, counts = drop_files(files, counts, rows, failed)
            position = {old: new for new, old in enumerate(keep)}
            rows, lexical, texts = [rows[i] for i in keep], [lexical[i] for i in keep], [texts[i] for i in keep]
            vectors, missing = vectors[keep], [position[i] for i in missing if i in position]
        if vectors is None:  # the embedder failed on this batch: find the files it fails on
            failed = self._embed_file_by_file(files, counts, rows, texts)
            keep, counts = drop_files(files, counts, rows, failed)
            rows, lexical, texts = [rows[i] for i in keep], [lexical[i] for i in keep], [texts[i] for i in keep]
            vectors, missing, _ = self._vectors(rows, texts)
            if vectors is None:  # it cannot even repeat what it did file by file: give up on the batch
                for prepared in files:
                    prepared.status, prepared.stage, prepared.reason = "error", "embed", "embedder failed"
                rows, lexical, counts, missing = [], [], [0] * len(files), []
                vectors = np.zeros((0, self.embedder.dim), dtype=np.float32)
        text_vectors = None
        if self.with_path and rows:
            text_vectors, vectors = vectors, self._with_paths(rows, vectors)
        seconds["embed"] = time.perf_counter() - t0
        service = {k: v - before.get(k, 0) for k, v in stats().items()} if stats else {}
        return BatchResult(files, counts, rows, lexical, vectors, missing, seconds, bytes_read, service=service,
                           text_vectors=text_vectors)

    def _with_paths(self, rows: list[tuple], vectors):
        """Each chunk's vector plus :data:`PATH_WEIGHT` times its file path's, normalised.

        The bundled model was trained on path-prefixed code, and a file's name
        and folder say what it is about ("Validation.swift", "middleware/").
        The path is mixed in after embedding rather than put in the text, so
        the cache stays keyed by the text alone: a duplicate or renamed file
        reuses its text vectors and only its path is embedded.
        """
        import numpy as np

        paths = list(dict.fromkeys(row[0] for row in rows))
        where = {path: i for i, path in enumerate(paths)}
        path_vectors = np.asarray(self.embedder.embed_documents(paths), dtype=np.float32)
        return mix_paths(vectors, path_vectors[[where[row[0]] for row in rows]])

    def _vectors(self, rows: list[tuple], texts: list[str]):
        """``(vectors, indexes embedded now, {failed text hash: reason})`` for ``rows``.

        ``(None, [], {})`` if the embedder raised; a service embedder that could
        embed only part of the texts (:class:`~coderag.errors.PartialEmbedding`)
        names the texts it failed on instead.  Errors that no retry fixes (the
        service refuses us, changed its model) stop the update.

        Each distinct text is embedded once (the rest come from the manifest's
        cache or from an identical chunk of the batch).  Vectors are rounded to
        float16, the cache's precision, so a vector is the same whether it was
        computed now or reused, whatever the order and number of workers.
        """
        import numpy as np

        vectors = np.zeros((len(rows), self.embedder.dim), dtype=np.float32)
        cached = self.cached_vectors([r[7] for r in rows]) if rows else {}
        first: dict[bytes, int] = {}
        for i, row in enumerate(rows):
            blob = cached.get(row[7])
            if blob is not None:
                vectors[i] = np.frombuffer(blob, dtype=np.float16)
            else:
                first.setdefault(row[7], i)
        missing = list(first.values())
        failed: dict[bytes, str] = {}
        if missing:
            try:
                fresh = self.embedder.embed_documents([texts[i] for i in missing])
            except PartialEmbedding as exc:
                fresh = exc.vectors
                failed = {rows[missing[j]][7]: str(exc) for j in exc.failed}
            except CoderagError:
                raise
            except Exception:
                return None, [], {}
            vectors[missing] = np.asarray(fresh, dtype=np.float32).astype(np.float16)
            for i, row in enumerate(rows):
                j = first.get(row[7])
                if j is not None and j != i:
                    vectors[i] = vectors[j]
            missing = [i for i in missing if rows[i][7] not in failed]
        return vectors, missing, failed

    def _embed_file_by_file(self, files: list[PreparedFile], counts: list[int], rows: list[tuple],
                            texts: list[str]) -> set[str]:
        """Embed each file's chunks alone; mark and return the paths whose embedding fails."""
        failed: set[str] = set()
        by_path: dict[str, list[str]] = {}
        for row, text in zip(rows, texts):
            by_path.setdefault(row[0], []).append(text)
        for prepared, count in zip(files, counts):
            if not count:
                continue
            try:
                self.embedder.embed_documents(by_path.get(prepared.path, []))
            except CoderagError as exc:
                if not isinstance(exc, PartialEmbedding):
                    raise  # the service refuses us or changed its model: no file can be embedded
                failed.add(prepared.path)
                prepared.status, prepared.stage, prepared.reason = "error", "embed", str(exc)[:300]
            except Exception as exc:
                failed.add(prepared.path)
                prepared.status, prepared.stage = "error", "embed"
                prepared.reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return failed


_worker: BatchWorker | None = None


def mark_embed_errors(files: list[PreparedFile], failed: dict[str, str]) -> None:
    """Record the files of ``failed`` (path -> reason) as embedding errors, left for the next update."""
    for prepared in files:
        if prepared.path in failed:
            prepared.status, prepared.stage, prepared.reason = "error", "embed", failed[prepared.path]


def drop_files(files: list[PreparedFile], counts: list[int], rows: list[tuple],
               failed) -> tuple[list[int], list[int]]:
    """``(indexes of the rows to keep, chunk counts per file)`` once the files in ``failed`` lose their rows."""
    keep = [i for i, row in enumerate(rows) if row[0] not in failed]
    return keep, [0 if f.path in failed else c for f, c in zip(files, counts)]


def init_worker(repo_root: str, settings, manifest_path: str | None, defer_embedding: bool = False) -> None:
    """Pool initializer: build this process's :class:`BatchWorker` once."""
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _die_with_parent()
    global _worker
    _worker = BatchWorker(repo_root, settings, manifest_path)
    _worker.defer_embedding = defer_embedding


def _die_with_parent() -> None:
    """Linux: exit when the parent dies (``kill -9`` of an update) instead of finishing a batch.

    Workers inherit the parent's open files, including the one holding the
    write lock; an orphaned worker would keep the index locked until its batch is done.
    """
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def run_batch(items: list[tuple[str, str]]) -> BatchResult:
    """Pool task: process one batch in this worker."""
    assert _worker is not None, "init_worker was not called"
    return _worker.run(items)
