"""Fusing keyword and vector candidates into one ranked list.

Both retrievers return candidate labels with scores on their own scales.
Each list is min-max scaled per query and the two are added with weights
(:func:`fuse`); the result is then adjusted by the code-aware signals of
:mod:`coderag.search.ranking` and the file-level evidence of
:mod:`coderag.search.files`, read from the manifest rows:

    score = prior(path) * (fused + symbol match or name words + file words [+ coherence])

and the top ``k`` are picked with each further chunk of a file already
picked counting for less (:func:`~coderag.search.files.diversify`).

Everything here is pure, so every signal can be unit-tested on small
fixtures, and every weight can be overridden from git config
(``coderag.search.<name>``) for an ablation.
"""
from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from typing import Callable
from typing import Sequence

from coderag.ondisk.manifest import ChunkRow
from coderag.protocols import Hit
from coderag.search.files import coherence_bonus
from coderag.search.files import diversify
from coderag.search.files import file_word_coverage
from coderag.search.query import Query
from coderag.search.query import parse_query
from coderag.search.ranking import definition_match
from coderag.search.ranking import is_test_path
from coderag.search.ranking import name_coverage
from coderag.search.ranking import prior
from coderag.search.ranking import symbol_match

__all__ = ["MODES", "DEFAULT_WEIGHTS", "Candidates", "fuse", "is_identifier_query", "is_test_path",
           "matches_filters", "rank", "rank_labels", "to_hits"]

MODES = ("hybrid", "lexical", "semantic")
DEFAULT_WEIGHTS = {
    "lexical": 1.0,
    "semantic": 1.0,
    "symbol_exact": 0.6,
    "name_words": 0.5,
    "test_penalty": 0.7,
    "example_penalty": 0.4,
    "prose_penalty": 0.3,
    "stub_penalty": 0.3,
    "file_words": 0.6,
    "file_coherence": 0.15,
    "file_diversity": 0.2,
    "question_diversity": 0.5,
}
"""Measured on the public evaluation corpus and checked on a held-out one (see ``docs/benchmarks.md``)."""


@dataclass
class Candidates:
    """Raw retriever output for one query: ``(label, score)`` pairs, best first."""

    lexical: list[tuple[int, float]]
    semantic: list[tuple[int, float]]


def is_identifier_query(query: str) -> bool:
    """A bare symbol (``APIRouter``, ``parse_header``, ``mod.func``) rather than a sentence."""
    return parse_query(query).is_symbol


def _scaled(pairs: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Min-max scale one list to [0, 1] (a list of equal scores becomes all 1.0)."""
    if not pairs:
        return {}
    best = max(score for _, score in pairs)
    low = min(score for _, score in pairs)
    span = best - low
    if span <= 1e-12:
        return {label: 1.0 for label, _ in pairs}
    return {label: (score - low) / span for label, score in pairs}


def fuse(candidates: Candidates, mode: str, weights: dict[str, float]) -> dict[int, float]:
    """One score per label: min-max scaled lists, weighted sum (one list alone in its own mode)."""
    lexical = _scaled(candidates.lexical) if mode in ("hybrid", "lexical") else {}
    semantic = _scaled(candidates.semantic) if mode in ("hybrid", "semantic") else {}
    w_lex = 1.0 if mode == "lexical" else weights["lexical"]
    w_sem = 1.0 if mode == "semantic" else weights["semantic"]
    fused: dict[int, float] = {}
    for label in lexical.keys() | semantic.keys():
        fused[label] = w_lex * lexical.get(label, 0.0) + w_sem * semantic.get(label, 0.0)
    return fused


def matches_filters(row: ChunkRow, path_glob: str | None, language: str | None) -> bool:
    if language and row.language != language:
        return False
    if path_glob and not (fnmatch.fnmatch(row.path, path_glob) or fnmatch.fnmatch(row.path, path_glob + "/*")):
        return False
    return True


def _signals(query: Query, row: ChunkRow, weights: dict[str, float]) -> float:
    """The additive match evidence of one chunk."""
    if query.is_symbol:
        # The parsed symbol, or a definition of the name in the text (windows of languages
        # without a grammar); rows fetched without text only get the first.
        return weights["symbol_exact"] * max(symbol_match(query, row.symbol), definition_match(query, row.text))
    return weights["name_words"] * name_coverage(query, row.symbol)


def rank_labels(query: str, candidates: Candidates, rows: dict[int, ChunkRow], k: int, mode: str = "hybrid",
                weights: dict[str, float] | None = None, path_glob: str | None = None,
                language: str | None = None, tie_key: Callable[[int], Any] | None = None
                ) -> list[tuple[int, float]]:
    """The final top ``k`` as ``(label, score)``, best first; rows need no text.

    Labels missing from ``rows`` are dead and skipped; of overlapping spans of
    one file only the best is kept.  Equal scores are ordered by ``tie_key``
    (the label by default): a store whose labels are not the same from one
    build to the next passes a key of the chunk's place, so equal content
    ranks the same way wherever it was built.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    parsed = parse_query(query)
    fused = fuse(candidates, mode, weights)
    scored: dict[int, float] = {}
    for label, score in fused.items():
        row = rows.get(label)
        if row is None or not matches_filters(row, path_glob, language):
            continue
        scored[label] = score + _signals(parsed, row, weights)
        if weights["file_words"]:
            scored[label] += weights["file_words"] * file_word_coverage(parsed, row.path)
    if weights["file_coherence"] and scored:
        # Relative to the best candidate, so the bonus means the same whatever the scores' scale.
        unit = weights["file_coherence"] * max(scored.values())
        for label, share in coherence_bonus(scored, lambda lb: rows[lb].path).items():
            scored[label] += unit * share
    for label in scored:
        row = rows[label]
        scored[label] *= prior(row.path, row.language, weights)
    tie = tie_key or (lambda label: label)
    order = sorted(scored, key=lambda label: (-scored[label], tie(label)))
    seen_spans: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def new_span(label: int) -> bool:
        # Overlapping spans of one file (a method and its window) say the same thing twice.
        row = rows[label]
        spans = seen_spans[row.path]
        if any(s <= row.end_line and row.start_line <= e for s, e in spans):
            return False
        spans.append((row.start_line, row.end_line))
        return True

    # A question asks where something happens: more of its answer is other files.
    decay = weights["question_diversity"] if parsed.is_question else weights["file_diversity"]
    return diversify(order, scored, lambda lb: rows[lb].path, decay, new_span, k, tie)


def to_hits(ranked: Sequence[tuple[int, float]], rows: dict[int, ChunkRow]) -> list[Hit]:
    """:class:`Hit` objects for ``(label, score)`` pairs, with the rows' text."""
    hits = []
    for label, score in ranked:
        row = rows[label]
        hits.append(Hit(row.path, row.start_line, row.end_line, score, row.language, row.symbol, row.kind, row.text))
    return hits


def rank(query: str, candidates: Candidates, rows: dict[int, ChunkRow], k: int, mode: str = "hybrid",
         weights: dict[str, float] | None = None, path_glob: str | None = None,
         language: str | None = None) -> list[Hit]:
    """Turn candidates into the final top ``k`` hits (see :func:`rank_labels`)."""
    return to_hits(rank_labels(query, candidates, rows, k, mode, weights, path_glob, language), rows)
