"""Fusing keyword and vector candidates into one ranked list.

Both retrievers return candidate labels with scores on their own scales.
Scores are made comparable per query (each list is scaled by its best
score), combined with weights, and adjusted by cheap code-aware signals read
from the manifest rows (symbol match, test files).  Everything here is pure
so ranking signals can be unit-tested on small fixtures.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Sequence

from coderag.manifest import ChunkRow
from coderag.protocols import Hit

MODES = ("hybrid", "lexical", "semantic")
DEFAULT_WEIGHTS = {
    "lexical": 1.0,
    "semantic": 0.5,
    "symbol_exact": 0.5,
    "symbol_part": 0.15,
    "test_penalty": 0.25,
}
_TEST_PATH = re.compile(r"(^|/)(tests?|testing|spec|__tests__)(/|$)|(^|/)test_[^/]*$|_test\.\w+$|\.(spec|test)\.\w+$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:]*$")


@dataclass
class Candidates:
    """Raw retriever output for one query."""

    lexical: list[tuple[int, float]]
    semantic: list[tuple[int, float]]


def is_identifier_query(query: str) -> bool:
    """A bare symbol (``APIRouter``, ``parse_header``, ``mod.func``) rather than a sentence."""
    return bool(_IDENT.match(query.strip()))


def _scaled(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not pairs:
        return {}
    best = max(score for _, score in pairs)
    low = min(score for _, score in pairs)
    span = best - low
    if span <= 1e-12:
        return {label: 1.0 for label, _ in pairs}
    return {label: (score - low) / span for label, score in pairs}


def fuse(candidates: Candidates, mode: str, weights: dict[str, float]) -> dict[int, float]:
    """Combine both lists into one score per label (min-max scaled, weighted sum)."""
    lexical = _scaled(candidates.lexical) if mode in ("hybrid", "lexical") else {}
    semantic = _scaled(candidates.semantic) if mode in ("hybrid", "semantic") else {}
    w_lex = weights["lexical"] if mode != "semantic" else 0.0
    w_sem = weights["semantic"] if mode != "lexical" else 0.0
    if mode == "lexical":
        w_lex = 1.0
    if mode == "semantic":
        w_sem = 1.0
    fused: dict[int, float] = {}
    for label in set(lexical) | set(semantic):
        fused[label] = w_lex * lexical.get(label, 0.0) + w_sem * semantic.get(label, 0.0)
    return fused


def symbol_bonus(query: str, row: ChunkRow, weights: dict[str, float]) -> float:
    """Reward a chunk whose symbol is the query, or contains a query identifier."""
    if not row.symbol:
        return 0.0
    name = row.symbol.rsplit(".", 1)[-1].rsplit("::", 1)[-1].lower()
    words = [w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)]
    if not words:
        return 0.0
    stripped = query.strip().lower()
    if stripped == name or stripped == row.symbol.lower():
        return weights["symbol_exact"]
    if name in words and len(name) > 2:
        return weights["symbol_part"]
    return 0.0


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def matches_filters(row: ChunkRow, path_glob: str | None, language: str | None) -> bool:
    if language and row.language != language:
        return False
    if path_glob and not (fnmatch.fnmatch(row.path, path_glob) or fnmatch.fnmatch(row.path, path_glob + "/*")):
        return False
    return True


def rank(query: str, candidates: Candidates, rows: dict[int, ChunkRow], k: int, mode: str = "hybrid",
         weights: dict[str, float] | None = None, path_glob: str | None = None,
         language: str | None = None) -> list[Hit]:
    """Turn candidates into the final top ``k`` hits (labels missing from ``rows`` are dead)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    fused = fuse(candidates, mode, weights)
    scored: list[tuple[float, int]] = []
    for label, score in fused.items():
        row = rows.get(label)
        if row is None or not matches_filters(row, path_glob, language):
            continue
        score += symbol_bonus(query, row, weights)
        if is_test_path(row.path):
            score -= weights["test_penalty"]
        scored.append((score, label))
    scored.sort(key=lambda item: (-item[0], item[1]))
    hits: list[Hit] = []
    seen_spans: list[tuple[str, int, int]] = []
    for score, label in scored:
        row = rows[label]
        # Overlapping spans of one file (a method and its window) say the same thing twice.
        if any(p == row.path and s <= row.end_line and row.start_line <= e for p, s, e in seen_spans):
            continue
        seen_spans.append((row.path, row.start_line, row.end_line))
        hits.append(Hit(row.path, row.start_line, row.end_line, score, row.language, row.symbol, row.kind,
                        row.text))
        if len(hits) >= k:
            break
    return hits
