"""File-level evidence: what a chunk's file says beyond the chunk itself.

Questions about a code base are often answered by a file or a module rather
than one function ("where is the router wired", "how are completions
generated"), and a user reading results wants different files before a
fifth chunk of the same one.  Three pure signals, each with a weight that
turns it off at 0:

* :func:`file_word_coverage` (added): how many of the query's words the
  file's name and folder spell (``recoverer.go`` for "panic recovery
  middleware"); for a bare symbol, the file named after it.
* :func:`coherence_bonus` (added to a file's best chunk): files holding
  several candidate chunks are about the question as a whole.
* :func:`diversify` (multiplied while selecting): each further chunk of a
  file already selected counts for less.
"""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Any
from typing import Callable
from typing import Iterable

from coderag.search.query import Query
from coderag.search.query import name_key
from coderag.search.query import name_terms

__all__ = ["file_word_coverage", "coherence_bonus", "diversify", "file_words"]

PREFIX_MIN = 4
"""Two words match as prefixes of each other only when the shorter has this many letters."""


@lru_cache(maxsize=1 << 16)
def file_words(path: str) -> tuple[frozenset[str], str]:
    """Stemmed words of a file's name and its folder, and the name's :func:`name_key`."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    stem = name.split(".", 1)[0] if not name.startswith(".") else name
    words = set(name_terms(stem))
    if len(parts) > 1:
        words.update(name_terms(parts[-2]))
    return frozenset(words), name_key(stem)


def _word_matches(word: str, words: frozenset[str]) -> bool:
    if word in words:
        return True
    for other in words:
        shorter, longer = (word, other) if len(word) <= len(other) else (other, word)
        if len(shorter) >= PREFIX_MIN and longer.startswith(shorter):
            return True
    return False


def file_word_coverage(query: Query, path: str) -> float:
    """Share of the query's words (0..1) found in the file's name or folder.

    For a bare symbol query: 1.0 when the file is named after the symbol
    (``Disposable.swift`` for ``Disposable``, ``application.js`` for
    ``application``), else 0.
    """
    words, key = file_words(path)
    if query.is_symbol:
        return 1.0 if key and key in query.names else 0.0
    if not query.keywords:
        return 0.0
    found = sum(1 for word in query.keywords if _word_matches(word, words))
    return found / len(query.keywords)


def coherence_bonus(scores: dict[int, float], path_of: Callable[[int], str]) -> dict[int, float]:
    """Per file, its best chunk's label and the file's summed score over the best file's (0..1]."""
    total: dict[str, float] = defaultdict(float)
    best: dict[str, int] = {}
    for label, score in scores.items():
        path = path_of(label)
        total[path] += score
        if path not in best or (score, -label) > (scores[best[path]], -best[path]):
            best[path] = label
    top = max(total.values(), default=0.0)
    if top <= 0:
        return {}
    return {label: total[path] / top for path, label in best.items()}


def diversify(order: Iterable[int], scores: dict[int, float], path_of: Callable[[int], str], decay: float,
              accept: Callable[[int], bool], k: int,
              tie: Callable[[int], Any] = lambda label: label) -> list[tuple[int, float]]:
    """The top ``k`` after scaling the n-th further chunk of a file by ``(1 - decay) ** n``.

    ``order`` is best first; ``accept`` may refuse a label (an overlapping
    span).  Scaling only lowers scores, so the walk stops once ``k`` are held
    and the next raw score cannot beat the weakest of them.  Equal scores are
    ordered by ``tie``.
    """
    keep = 1.0 - decay
    taken: dict[str, int] = defaultdict(int)
    chosen: list[tuple[int, float]] = []
    for label in order:
        raw = scores[label]
        if len(chosen) >= k and raw <= min(s for _, s in chosen):
            break
        if not accept(label):
            continue
        path = path_of(label)
        chosen.append((label, raw * keep ** taken[path]))
        taken[path] += 1
    chosen.sort(key=lambda item: (-item[1], tie(item[0])))
    return chosen[:k]
