"""Run batches of files through worker processes, streaming results to the single writer.

The writer (the process holding the index's write lock) asks for results in
batch order; at most ``window`` batches are queued or running at any time, so
memory depends on the batch size, never on the repository's size.  (A
``Pool.imap`` over a list would queue every batch at once and pile results up
whenever the writer is slower than the workers.)

Workers are forked from the writer and inherit its :class:`BatchWorker`, so
the model, the chunker and their imports are loaded once and their pages are
shared.  Small jobs (a commit hook's handful of files) never start a pool.
"""
from __future__ import annotations

import os
import pickle
from collections import deque
from dataclasses import dataclass
from typing import Iterator
from typing import Sequence

from coderag.errors import CoderagError

DEFAULT_BATCH_FILES = 100
"""Files per task: big enough that task overhead (~150 µs) and result shipping stay small."""
DEFAULT_BATCH_BYTES = 2_000_000
"""A batch is cut earlier when its blobs pass this size, so one task is ~1 s of work at most."""
INLINE_MAX_BYTES = 1_000_000
"""Up to this much content (or a single batch) is processed in the writer: forking costs more."""
WINDOW_PER_WORKER = 2
"""Batches queued or running per worker: one in progress, one ready to start."""
_POLL_SECONDS = 0.5


class WorkerDied(CoderagError):
    """A worker process ended without returning its batch (killed, out of memory)."""


@dataclass(frozen=True)
class PoolPlan:
    """How an update's files are split and run."""

    batches: list[list[tuple[str, str]]]
    workers: int
    """1 means inline in the writer process."""


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan(items: Sequence[tuple[str, str]], sizes: dict[str, int], workers: int = 0, batch_files: int = 0,
         batch_bytes: int = 0) -> PoolPlan:
    """Split ``(path, blob)`` items into batches, in order, and pick the worker count.

    Batches depend only on the items and the batch settings, never on the
    worker count, so any number of workers builds the same index.

    :param sizes: blob id -> size in bytes (unknown blobs count as 0).
    :param workers: 0 picks the CPU count.
    """
    max_files = batch_files or DEFAULT_BATCH_FILES
    max_bytes = batch_bytes or DEFAULT_BATCH_BYTES
    batches: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    current_bytes = total_bytes = 0
    for item in items:
        size = sizes.get(item[1], 0)
        if current and (len(current) >= max_files or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
        total_bytes += size
    if current:
        batches.append(current)
    workers = workers or available_cpus()
    if len(batches) < 2 or total_bytes <= INLINE_MAX_BYTES:
        workers = 1
    return PoolPlan(batches, max(1, min(workers, len(batches))))


def run(pool_plan: PoolPlan, worker, manifest_path: str | None) -> Iterator:
    """Yield one :class:`coderag.indexing.file_pipeline.BatchResult` per batch, in batch order.

    ``worker`` is the writer's own :class:`coderag.indexing.file_pipeline.BatchWorker`: it
    runs the batches itself when the plan says one worker, and is inherited
    by forked workers otherwise.  An exception raised in a worker is raised
    here, and the pool is torn down (the caller's update then rolls back).
    """
    if pool_plan.workers <= 1:
        for batch in pool_plan.batches:
            yield worker.run(batch)
        return
    yield from _run_pool(pool_plan, worker, manifest_path)


# ---------------------------------------------------------------------------
# the pool
# ---------------------------------------------------------------------------

_inherited = None
"""The writer's BatchWorker, set just before forking so children start with it."""


def _init_forked(manifest_path: str | None) -> None:
    """Pool initializer (fork): reuse the inherited worker, never the writer's open files."""
    _prepare_child()
    from coderag.indexing import file_pipeline

    worker = _inherited
    assert worker is not None
    worker._cache = None  # an SQLite connection must not cross a fork: open our own
    worker.use_manifest(manifest_path)
    file_pipeline._worker = worker


def _init_spawned(repo_root: str, settings, manifest_path: str | None, defer_embedding: bool) -> None:
    """Pool initializer where ``fork`` is unavailable: build a worker from scratch."""
    _prepare_child()
    from coderag.indexing import file_pipeline

    file_pipeline.init_worker(repo_root, settings, manifest_path, defer_embedding)


def _prepare_child() -> None:
    import signal

    # One thread per worker: the workers already fill every CPU.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    # Ctrl-C reaches the whole process group: the writer alone decides to stop (and tears the pool down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from coderag.indexing import file_pipeline

    die_with_parent = getattr(file_pipeline, "_die_with_parent", None)
    if die_with_parent is not None:
        die_with_parent()


def _run_batch(items: list[tuple[str, str]]):
    """Pool task: one batch, then give the freed heap back to the system.

    A batch's file contents, chunks and tokens are freed when it returns, but
    glibc keeps the pages; without trimming, each worker's memory settles at
    the high-water mark of its largest batch.
    """
    from coderag.indexing import file_pipeline

    result = file_pipeline.run_batch(items)
    result.peak_rss_mb = _peak_rss_mb()
    # The pool pickles results with dill's pure-Python pickler (~8 s of a bench-large build's
    # worker CPU): hand it bytes from the C pickler instead, which it copies as they are.
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    del result
    _trim_heap()
    return data


def _trim_heap() -> None:
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _run_pool(pool_plan: PoolPlan, worker, manifest_path: str | None) -> Iterator:
    import multiprocess

    global _inherited
    # Set before forking: a tokenizer that already ran threads in this process
    # would otherwise warn in every worker that it turns them off.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    methods = multiprocess.get_all_start_methods()
    if "fork" in methods:
        context = multiprocess.get_context("fork")
        _inherited = worker
        initializer, initargs = _init_forked, (manifest_path,)
    else:
        context = multiprocess.get_context("spawn")
        initializer, initargs = _init_spawned, (str(worker.repo.root), worker.settings, manifest_path,
                                                worker.defer_embedding)
    window = pool_plan.workers * WINDOW_PER_WORKER
    pool = context.Pool(processes=pool_plan.workers, initializer=initializer, initargs=initargs)
    _inherited = None
    processes = list(pool._pool)
    try:
        pending: deque = deque()
        batches = iter(pool_plan.batches)
        for batch in batches:
            pending.append(pool.apply_async(_run_batch, (batch,)))
            if len(pending) >= window:
                break
        while pending:
            result = _wait(pending.popleft(), pool, processes)
            for batch in batches:  # refill before handing the result over: workers never idle
                pending.append(pool.apply_async(_run_batch, (batch,)))
                break
            yield pickle.loads(result)
        pool.close()
        pool.join()
    finally:
        pool.terminate()


def _wait(async_result, pool, processes: list):
    """The result of one task; raises :class:`WorkerDied` if a worker vanished.

    ``multiprocess`` replaces a worker killed mid-task but never reports the
    lost task, so waiting without a check would hang forever.
    """
    import multiprocess

    while True:
        try:
            return async_result.get(_POLL_SECONDS)
        except multiprocess.TimeoutError:
            pass
        for process in list(pool._pool):
            if process not in processes:
                processes.append(process)
        for process in processes:
            code = process.exitcode
            if code is not None and code != 0:
                raise WorkerDied(f"a worker process died (exit status {code}) while indexing; "
                                 "the index was left unchanged")


def resource_usage() -> tuple[float, dict[str, float]]:
    """``(CPU seconds, {"writer": MB})``: this process and its finished children's CPU, its peak memory.

    (The kernel's peak for children is useless here: a child forked to run
    git starts with the writer's pages, so it reports the writer's size.
    Workers report their own peak with each batch.)
    """
    try:
        import resource
    except ImportError:  # not on this platform
        return 0.0, {}
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    return round(cpu, 3), {"writer": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:
        return 0.0
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
