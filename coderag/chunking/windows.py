"""Fixed-size line windows: the fallback chunker, and the line helpers the definition chunker shares.

Lines are split on ``"\\n"`` only (a ``"\\r"`` stays part of its line), and a
trailing ``"\\n"`` does not make an extra empty line.  Spans here are 0-based
and inclusive; :class:`~coderag.protocols.Chunk` spans are 1-based.
"""
from __future__ import annotations

from coderag.protocols import Chunk

WINDOWS_VERSION = "1"

MIN_TAIL = 3
"""A last window adding fewer new lines than this is merged into the one before."""


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines on ``"\\n"``; a final ``"\\n"`` ends the last line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def trim_blank(lines: list[str], lo: int, hi: int) -> tuple[int, int] | None:
    """Shrink ``[lo, hi]`` past blank lines at both ends; ``None`` if every line is blank."""
    while lo <= hi and not lines[lo].strip():
        lo += 1
    while hi >= lo and not lines[hi].strip():
        hi -= 1
    return (lo, hi) if lo <= hi else None


def window_spans(
    lines: list[str], lo: int, hi: int, window: int, overlap: int, min_tail: int = 1
) -> list[tuple[int, int]]:
    """Cover the non-blank lines of ``[lo, hi]`` with windows of ``window`` lines.

    Consecutive windows share ``overlap`` lines.  Each window is trimmed of
    blank lines at its ends and all-blank windows are skipped.  When the last
    window would add fewer than ``min_tail`` new lines, the previous window is
    stretched to the end instead, so no tiny tail window appears.
    """
    trimmed = trim_blank(lines, lo, hi)
    if trimmed is None:
        return []
    lo, hi = trimmed
    step = max(1, window - overlap)
    spans: list[tuple[int, int]] = []
    start = lo
    while True:
        end = min(start + window - 1, hi)
        if 0 < hi - end < min_tail:
            end = hi
        span = trim_blank(lines, start, end)
        if span is not None and not (spans and spans[-1][1] >= span[1]):
            spans.append(span)
        if end >= hi:
            return spans
        start += step


def char_bounded(lines: list[str], lo: int, hi: int, max_chars: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi]`` into consecutive spans whose joined text fits ``max_chars``.

    A single line longer than ``max_chars`` becomes a span of its own (its
    chunk text is then cut, see :func:`make_chunk`).  Blank-edged pieces are
    trimmed and all-blank ones dropped.
    """
    spans: list[tuple[int, int]] = []
    start, size = lo, -1
    for i in range(lo, hi + 1):
        n = len(lines[i]) + 1
        if i > start and size + n > max_chars:
            spans.append((start, i - 1))
            start, size = i, -1
        size += n
    spans.append((start, hi))
    return [s for s in (trim_blank(lines, a, b) for a, b in spans) if s is not None]


def make_chunks(
    path: str,
    lines: list[str],
    lo: int,
    hi: int,
    language: str,
    max_chars: int,
    symbol: str = "",
    kind: str = "window",
    context: str = "",
) -> list[Chunk]:
    """Chunks for the 0-based span ``[lo, hi]``, split further if its text exceeds ``max_chars``.

    The text of each chunk is exactly its lines joined by ``"\\n"``, except
    for a single line longer than ``max_chars`` (minified code), whose text is
    cut to ``max_chars`` characters; spans stay exact either way.
    """
    text = "\n".join(lines[lo : hi + 1])
    if len(text) <= max_chars:
        return [Chunk(path, lo + 1, hi + 1, text, language, symbol, kind, context)]
    out = []
    for a, b in char_bounded(lines, lo, hi, max_chars):
        piece = "\n".join(lines[a : b + 1])[:max_chars]
        out.append(Chunk(path, a + 1, b + 1, piece, language, symbol, kind, context))
    return out


class WindowChunker:
    """Overlapping windows of ``window`` lines, ``overlap`` of them shared with the next window.

    Language-agnostic; used for prose, config and languages without a
    grammar, and by the definition chunker as its fallback.  Holds only
    numbers, so it pickles cheaply into worker processes.
    """

    name = "windows"

    def __init__(self, window: int = 40, overlap: int = 10, max_chunk_chars: int = 20000) -> None:
        # Options may arrive as strings from git config.
        self.window = int(window)
        self.overlap = int(overlap)
        self.max_chunk_chars = int(max_chunk_chars)
        if self.window < 1:
            raise ValueError(f"window must be at least 1 line, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be in [0, window), got {self.overlap}")
        if self.max_chunk_chars < 100:
            raise ValueError(f"max_chunk_chars must be at least 100, got {self.max_chunk_chars}")
        # The options change the output, so they are part of the version.
        self.version = f"{WINDOWS_VERSION}-w{self.window}-o{self.overlap}-c{self.max_chunk_chars}"

    def __repr__(self) -> str:
        return (
            f"WindowChunker(window={self.window}, overlap={self.overlap}, "
            f"max_chunk_chars={self.max_chunk_chars})"
        )

    def chunk(self, path: str, text: str, language: str) -> list[Chunk]:
        """Return the windows of ``text``; ``[]`` for empty or all-blank text."""
        lines = split_lines(text)
        return self.chunk_lines(path, lines, language)

    def chunk_lines(self, path: str, lines: list[str], language: str, min_tail: int = MIN_TAIL) -> list[Chunk]:
        """Like :meth:`chunk` for text already split by :func:`split_lines`."""
        out: list[Chunk] = []
        for lo, hi in window_spans(lines, 0, len(lines) - 1, self.window, self.overlap, min_tail):
            out.extend(make_chunks(path, lines, lo, hi, language, self.max_chunk_chars))
        return in_order(out)


def in_order(chunks: list[Chunk]) -> list[Chunk]:
    """Sort chunks by span and drop repeated spans.

    Needed because windows cut further for length (:func:`make_chunks`) can
    start before the end of the previous window's pieces.
    """
    out: list[Chunk] = []
    for c in sorted(chunks, key=lambda c: (c.start_line, c.end_line)):
        if not out or (c.start_line, c.end_line) != (out[-1].start_line, out[-1].end_line):
            out.append(c)
    return out
