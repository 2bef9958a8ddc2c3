"""Progress bars for an update on a terminal: one tqdm bar per pipeline stage.

An update reports progress through a plain callable ``progress(stage, done,
total)`` (``total`` 0 when unknown); :class:`TerminalProgress` is the one
``git coderag index`` passes when stderr is a terminal.  Hooks, ``--quiet``
and ``--json`` pass none, so they print nothing.
"""
from __future__ import annotations

import sys
from typing import Any
from typing import TextIO

STAGES = ("files", "chunks", "embeddings", "storage")
"""Bars from top to bottom: files read and chunked, chunks made, chunks embedded
(the rest came from the embedding cache), chunks written to the stores."""
UNITS = {"files": "file", "chunks": "chunk", "embeddings": "vec", "storage": "chunk"}


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

    def __call__(self, stage: str, done: int, total: int) -> None:
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
