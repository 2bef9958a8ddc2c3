"""Run batches in a ``multiprocess`` pool, streaming results to the single writer."""
from __future__ import annotations

from typing import Iterator


def run_pool(batches: list, workers: int, repo_root: str, settings, manifest_path: str | None) -> Iterator:
    """Yield :class:`coderag.pipeline.BatchResult` for each batch, in order.

    ``imap`` keeps at most a few batches in flight per worker, so memory does
    not grow with the repository.
    """
    import multiprocess

    from coderag import pipeline

    with multiprocess.get_context("fork").Pool(
        processes=workers, initializer=pipeline.init_worker, initargs=(repo_root, settings, manifest_path)
    ) as pool:
        yield from pool.imap(pipeline.run_batch, batches, chunksize=1)
