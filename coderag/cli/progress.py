"""Progress bars for an update on a terminal: one tqdm bar per pipeline stage.

An update reports progress through a plain callable ``progress(stage, done,
total)`` (``total`` 0 when unknown); :class:`TerminalProgress` is the one
``git coderag index`` passes when stderr is a terminal.  Hooks, ``--quiet``
and ``--json`` pass none, so they print nothing.
"""
from __future__ import annotations

import sys
import time
from typing import Any
from typing import TextIO

STAGES = ("files", "chunks", "embeddings", "requests", "storage")
"""Bars from top to bottom: files read and chunked, chunks made, chunks embedded
(the rest came from the embedding cache), requests to an embedding service (only
for an embedder that calls one), chunks written to the stores."""
UNITS = {"files": "file", "chunks": "chunk", "embeddings": "vec", "requests": "req", "storage": "chunk"}
SERVICE_NOTES = ("in_flight", "retries", "tokens")
"""Counters shown beside the requests bar: requests running now, retries so far, tokens sent."""


class TerminalProgress:
    """A ``progress(stage, done, total)`` callable drawing tqdm bars on ``stream`` (stderr).

    Bars appear when their stage first reports.  ``storage`` is measured
    against the chunks made so far, so its bar shows how far the writer
    trails the workers.  The ``commit`` stage (stores made durable at the
    end) shows as a note on the storage bar.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._bars: dict[str, Any] = {}
        self._chunks = 0
        self._notes: dict[str, int] = {}
        self._started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage in SERVICE_NOTES:
            self._notes[stage] = done
            return
        if stage == "requests":
            rate = self._notes.get("tokens", 0) / max(time.monotonic() - self._started, 1e-3)
            self._bar("requests", 0).set_postfix_str(
                f"{self._notes.get('in_flight', 0)} in flight, {self._notes.get('retries', 0)} retries, "
                f"{rate / 1000:.1f}k tok/s", refresh=False)
        if stage == "commit":
            bar = self._bar("storage", self._chunks)
            bar.set_postfix_str("committing" if done < total else "committed", refresh=True)
            return
        if stage == "chunks":
            self._chunks = done
        if stage == "storage":
            total = max(total, self._chunks)
        bar = self._bar(stage, total)
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() refreshes at most every mininterval

    def _bar(self, stage: str, total: int) -> Any:
        bar = self._bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            position = STAGES.index(stage) if stage in STAGES else len(STAGES) + len(self._bars)
            bar = self._bars[stage] = tqdm(
                total=total or None, desc=f"{stage:<10}", unit=UNITS.get(stage, "it"), position=position,
                leave=True, dynamic_ncols=True, file=self.stream, mininterval=0.2,
            )
        return bar

    def close(self) -> None:
        """Draw the final state of every bar and release the terminal lines."""
        for stage in sorted(self._bars, key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES)):
            bar = self._bars[stage]
            bar.refresh()
            bar.close()
        self._bars.clear()
