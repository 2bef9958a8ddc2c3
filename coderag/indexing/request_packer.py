"""Texts of many batches packed into full requests to an embedding service.

With a local model each worker embeds its own batch.  An embedder that calls
a service (it sets ``request_size``) would then end every batch with one
part-full request: a cold build of the public corpus repository made 240
requests of 64 texts for 14,839 texts (232 full ones would do), and a hosted
API bills and rate-limits per request.  So for such an embedder the workers
only read, chunk and tokenise, and the writer embeds: :class:`RequestPacker`
cuts the texts of all batches, in arrival order, into requests of exactly
``request_size`` texts (the last one of the update excepted), keeps up to
``in_flight`` of them running on threads (the requests wait on the network,
not the CPU), and hands each batch back once all of its texts have vectors.

Each text is sent once per update, whichever batches hold it; texts the
index's embedding cache already holds are never sent.  A text the service
kept failing on makes its files per-file errors, left for the next update,
exactly as when a worker embeds.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Iterable
from typing import Iterator

import numpy as np

from coderag.errors import CoderagError
from coderag.errors import PartialEmbedding
from coderag.indexing.file_pipeline import BatchResult
from coderag.indexing.file_pipeline import BatchWorker
from coderag.indexing.file_pipeline import drop_files
from coderag.indexing.file_pipeline import mark_embed_errors

QUEUED_REQUESTS_PER_SLOT = 2
"""Requests queued beyond those running, per slot: bounds the texts held in memory."""


@dataclass
class _Waiting:
    result: BatchResult
    texts: list[str]
    cached: dict[bytes, bytes]
    needed: set[bytes]


class RequestPacker:
    """Embeds the texts of the batches passed to :meth:`embed` in full requests."""

    def __init__(self, worker: BatchWorker, request_size: int, in_flight: int) -> None:
        self.worker = worker
        self.embedder = worker.embedder
        self.request_size = max(1, int(request_size))
        self.in_flight = max(1, int(in_flight))
        self._waiting: deque[_Waiting] = deque()
        self._unsent: dict[bytes, str] = {}  # text hash -> text, in arrival order
        self._sent: set[bytes] = set()
        self._vectors: dict[bytes, np.ndarray] = {}  # float16, the cache's precision
        self._failed: dict[bytes, str] = {}
        self._reported: set[bytes] = set()  # texts already handed to the cache by a batch
        self._requests: deque[tuple[list[bytes], Future]] = deque()
        self._stats = getattr(self.embedder, "service_stats", None)
        self._last_stats = self._stats() if self._stats else {}

    @classmethod
    def for_worker(cls, worker: BatchWorker) -> "RequestPacker | None":
        """A packer when the worker's embedder asks for one (``request_size``), else ``None``."""
        size = int(getattr(worker.embedder, "request_size", 0) or 0)
        if size <= 0 or worker.with_path:
            return None
        return cls(worker, size, int(getattr(worker.embedder, "in_flight", 1) or 1))

    def embed(self, results: Iterable[BatchResult]) -> Iterator[BatchResult]:
        """Batches with ``texts`` in, the same batches with ``vectors`` out, in the same order."""
        # Twice as many threads as slots: the embedder's own semaphore keeps ``in_flight`` requests
        # on the wire, and a request sitting out a ``Retry-After`` gives its slot back meanwhile.
        pool = ThreadPoolExecutor(max_workers=2 * self.in_flight, thread_name_prefix="coderag-embed")
        cancel = getattr(self.embedder, "cancel_requests", None)
        if cancel is not None:
            cancel(False)
        finished = False
        try:
            for result in results:
                self._add(result)
                self._send(pool, full_only=True)
                yield from self._ready(block=False)
            self._send(pool, full_only=False)
            yield from self._ready(block=True)
            finished = True
        finally:
            if not finished and cancel is not None:  # Ctrl-C or a failure: no request retries any more
                cancel(True)
            pool.shutdown(wait=finished, cancel_futures=True)

    # ------------------------------------------------------------------
    def _add(self, result: BatchResult) -> None:
        texts = result.texts or []
        hashes = [row[7] for row in result.rows]
        cached = self.worker.cached_vectors(list(dict.fromkeys(hashes))) if hashes else {}
        needed = set()
        for text_hash, text in zip(hashes, texts):
            if text_hash in cached or text_hash in self._vectors or text_hash in self._failed:
                continue
            needed.add(text_hash)
            if text_hash not in self._sent and text_hash not in self._unsent:
                self._unsent[text_hash] = text
        self._waiting.append(_Waiting(result, texts, cached, needed))

    def _send(self, pool: ThreadPoolExecutor, full_only: bool) -> None:
        while len(self._unsent) >= self.request_size or (not full_only and self._unsent):
            self._wait_for_room()
            part = list(self._unsent)[:self.request_size]
            texts = [self._unsent.pop(text_hash) for text_hash in part]
            self._sent.update(part)
            self._requests.append((part, pool.submit(self._request, texts)))

    def _wait_for_room(self) -> None:
        """Backpressure (memory stays flat): collect answered requests, wherever they are in the queue.

        Waiting for the oldest one alone would stall the writer behind a request that sits out a
        ``Retry-After`` while later ones have long been answered.
        """
        limit = self.in_flight * (1 + QUEUED_REQUESTS_PER_SLOT)
        while len(self._requests) >= limit:
            answered = [request for request in self._requests if request[1].done()]
            if not answered:
                wait([future for _, future in self._requests], return_when=FIRST_COMPLETED)
                continue
            for request in answered:
                self._requests.remove(request)
                self._collect(request)

    def _request(self, texts: list[str]):
        """``(vectors or None, {index in texts: reason})``; errors no retry fixes propagate."""
        try:
            return self.embedder.embed_documents(texts), {}
        except PartialEmbedding as exc:
            return exc.vectors, {i: str(exc) for i in exc.failed}
        except CoderagError:
            raise
        except Exception as exc:  # an embedder bug or an unexpected answer: these texts' files wait
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            return None, {i: reason for i in range(len(texts))}

    def _collect(self, request: tuple[list[bytes], Future]) -> None:
        part, future = request
        vectors, failed = future.result()  # re-raises what stops the update (the service changed...)
        half = None if vectors is None else np.asarray(vectors, dtype=np.float32).astype(np.float16)
        for i, text_hash in enumerate(part):
            if i in failed or half is None:
                self._failed[text_hash] = failed.get(i, "embedder failed")
            else:
                self._vectors[text_hash] = half[i]

    def _ready(self, block: bool) -> Iterator[BatchResult]:
        for request in [r for r in self._requests if block or r[1].done()]:
            self._requests.remove(request)
            self._collect(request)
        while self._waiting and all(h in self._vectors or h in self._failed for h in self._waiting[0].needed):
            result = self._finish(self._waiting.popleft())
            if self._stats:  # the writer's own requests since the last batch handed back
                now = self._stats()
                result.service = {k: v - self._last_stats.get(k, 0) for k, v in now.items()}
                self._last_stats = now
            yield result

    def _finish(self, waiting: _Waiting) -> BatchResult:
        """The batch with its vectors; files whose texts failed become per-file errors."""
        result = waiting.result
        rows = result.rows
        failed = {row[0]: self._failed[row[7]] for row in rows if row[7] in self._failed}  # path -> reason
        if failed:
            mark_embed_errors(result.files, failed)
            keep, result.chunk_counts = drop_files(result.files, result.chunk_counts, rows, failed)
            result.rows, result.lexical = [rows[i] for i in keep], [result.lexical[i] for i in keep]
            rows = result.rows
        vectors = np.zeros((len(rows), self.embedder.dim), dtype=np.float32)
        new: list[int] = []
        for i, row in enumerate(rows):
            text_hash = row[7]
            blob = waiting.cached.get(text_hash)
            if blob is not None:
                vectors[i] = np.frombuffer(blob, dtype=np.float16)
                continue
            vectors[i] = self._vectors[text_hash]
            if text_hash not in self._reported:  # the first batch to hold a text hands it to the cache
                self._reported.add(text_hash)
                new.append(i)
        result.vectors, result.new_vectors, result.texts = vectors, new, None
        return result
