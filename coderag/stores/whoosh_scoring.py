"""BM25F over a Whoosh index's postings, scored with numpy.

Whoosh's own search runs a union of one matcher per (field, term) in pure
Python, posting by posting; on the public evaluation corpus (15k chunks) a
typical 8-word query took ~50 ms, nearly all of a search's time.  This
module reads each term's posting blocks whole (document numbers and term
frequencies come out of Whoosh's block decoder as arrays) and adds up the
scores in numpy arrays: the same BM25F formula as
:class:`whoosh.scoring.BM25F` (same idf, average field lengths and
byte-quantised document lengths, so the same scores), a few milliseconds per
query.

It reads the ``whoosh3`` codec's posting blocks through their (private)
block accessors and falls back to Whoosh's public posting-by-posting
interface for any other matcher, so it stays correct, only slower, if the
codec changes.
"""
from __future__ import annotations

from collections import OrderedDict
from math import log
from typing import Any
from typing import Sequence

import numpy as np

CACHED_POSTINGS = 2_000_000
"""Decoded postings kept per open generation (8 bytes each): queries share their common words."""


class PostingScorer:
    """Scores queries against one open Whoosh searcher (one generation).

    :param searcher: an open :class:`whoosh.searching.Searcher`.
    :param boosts: weight per field; fields with weight 0 are skipped.
    :param field_b: BM25 ``b`` per field.
    :param k1: BM25 ``k1``.
    """

    def __init__(self, searcher: Any, boosts: dict[str, float], field_b: dict[str, float], k1: float) -> None:
        self.searcher = searcher
        self.boosts = {f: float(w) for f, w in boosts.items() if w}
        self.field_b = field_b
        self.k1 = float(k1)
        self._segments: list[tuple[Any, int, int, np.ndarray | None]] = []
        self._lengths: dict[tuple[int, str], np.ndarray] = {}
        self._df: dict[tuple[str, bytes], int] = {}
        self._cache: OrderedDict[tuple[int, str, bytes], tuple[np.ndarray, np.ndarray] | None] = OrderedDict()
        self._cached = 0
        self._labels: dict[int, int] = {}
        for reader, offset in searcher.reader().leaf_readers():
            count = reader.doc_count_all()
            deleted = None
            if reader.has_deletions():
                docs = getattr(reader, "deleted_docs_set", None)
                if docs is None:
                    docs = [d for d in range(count) if reader.is_deleted(d)]
                deleted = np.fromiter(docs, dtype=np.int64)
            self._segments.append((reader, offset, count, deleted))

    def search(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(docnum, score)`` pairs, best first (ties by docnum)."""
        s = self.searcher
        total = s.doc_count_all()
        if not total or k <= 0:
            return []
        k1 = self.k1
        terms: list[tuple[str, bytes, float, float, float]] = []
        for field, boost in self.boosts.items():
            avgfl = s.avg_field_length(field) or 1.0
            b = float(self.field_b[field])
            for token in dict.fromkeys(tokens):
                btext = token.encode("utf-8")
                df = self._df.get((field, btext))
                if df is None:
                    df = self._df[(field, btext)] = s.doc_frequency(field, btext)
                if df:
                    idf = log(total / (df + 1)) + 1.0
                    terms.append((field, btext, boost * idf, b, avgfl))
        if not terms:
            return []
        parts: list[np.ndarray] = []
        for index, (reader, offset, count, deleted) in enumerate(self._segments):
            scores = np.zeros(count, dtype=np.float64)
            for field, btext, weight, b, avgfl in terms:
                postings = self._cached_postings(index, reader, field, btext)
                if postings is None:
                    continue
                ids, tf = postings
                lengths = self._field_lengths(index, reader, field, count)[ids]
                norm = (1.0 - b) + b * lengths / avgfl
                scores[ids] += weight * tf * (k1 + 1.0) / (tf + k1 * norm)
            if deleted is not None and len(deleted):
                scores[deleted] = 0.0
            parts.append(scores)
        scores = np.concatenate(parts) if len(parts) > 1 else parts[0]
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            # Partition on (-score, docnum) so ties at the cut keep the lowest docnums.
            cut = -np.partition(-scores[hits], k - 1)[k - 1]
            hits = hits[scores[hits] >= cut]
        order = np.lexsort((hits, -scores[hits]))[:k]
        return [(int(hits[i]), float(scores[hits[i]])) for i in order]

    def labels(self, docnums: Sequence[int], field: str = "label") -> list[int]:
        """The stored ``field`` (an int) of each document number, memoised."""
        known = self._labels
        if len(known) > CACHED_POSTINGS // 10:
            known.clear()
        out = []
        for docnum in docnums:
            label = known.get(docnum)
            if label is None:
                label = known[docnum] = int(self.searcher.stored_fields(docnum)[field])
            out.append(label)
        return out

    # ------------------------------------------------------------------

    def _field_lengths(self, index: int, reader: Any, field: str, count: int) -> np.ndarray:
        """Every document's length in ``field`` for one segment, as Whoosh scores it (byte-quantised)."""
        key = (index, field)
        lengths = self._lengths.get(key)
        if lengths is None:
            lengths = _segment_lengths(reader, field, count)
            self._lengths[key] = lengths
        return lengths

    def _cached_postings(self, index: int, reader: Any, field: str,
                         btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        key = (index, field, btext)
        cache = self._cache
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        postings = self._postings(reader, field, btext)
        cache[key] = postings
        if postings is not None:
            self._cached += len(postings[0])
            while self._cached > CACHED_POSTINGS and len(cache) > 1:
                _, old = cache.popitem(last=False)
                if old is not None:
                    self._cached -= len(old[0])
        return postings

    @staticmethod
    def _postings(reader: Any, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """Segment-local document numbers and term frequencies of one term, or ``None``."""
        from whoosh.reading import TermNotFound

        try:
            matcher = reader.postings(field, btext)
        except TermNotFound:
            return None
        # Deleted documents are zeroed by the caller, so read under Whoosh's delete filter.
        matcher = getattr(matcher, "child", matcher)
        if not matcher.is_active():
            return None
        if hasattr(matcher, "_read_ids") and hasattr(matcher, "_read_weights"):
            ids_parts, tf_parts = [], []
            while matcher.is_active():
                matcher._read_ids()
                matcher._read_weights()
                ids_parts.append(np.asarray(matcher._ids, dtype=np.int32))
                tf_parts.append(np.asarray(matcher._weights, dtype=np.float32))
                matcher._next_block()
            return np.concatenate(ids_parts), np.concatenate(tf_parts)
        ids, tf = [], []
        while matcher.is_active():
            ids.append(matcher.id())
            tf.append(matcher.weight())
            matcher.next()
        return np.asarray(ids, dtype=np.int32), np.asarray(tf, dtype=np.float32)


_BYTE_TO_LENGTH: np.ndarray | None = None


def _segment_lengths(reader: Any, field: str, count: int) -> np.ndarray:
    global _BYTE_TO_LENGTH
    if _BYTE_TO_LENGTH is None:
        from whoosh.util.numeric import byte_to_length

        _BYTE_TO_LENGTH = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)
    column = None
    perdoc = getattr(reader, "_perdoc", None)
    if perdoc is not None and hasattr(perdoc, "_cached_reader"):
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN
        from whoosh.codec.whoosh3 import _lenfield

        column = perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
    if column is not None and hasattr(column, "_dbfile") and hasattr(column, "_basepos"):
        stored = min(int(column._count), count)
        raw = np.frombuffer(column._dbfile.get(column._basepos, stored), dtype=np.uint8)
        codes = np.zeros(count, dtype=np.uint8)
        codes[:stored] = raw
        return _BYTE_TO_LENGTH[codes]
    # Any other codec: ask Whoosh document by document (slow, but only once per generation).
    return np.array([reader.doc_field_length(d, field, 0) or 0 for d in range(count)], dtype=np.float64)
