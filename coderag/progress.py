"""Progress bars on a terminal (tqdm), one per pipeline stage."""
from __future__ import annotations


class TerminalProgress:
    """A callable ``progress(stage, done, total)`` drawing one tqdm bar per stage on stderr."""

    def __init__(self) -> None:
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit=stage if stage != "files" else "file",
                                           position=len(self._bars), leave=True, dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
