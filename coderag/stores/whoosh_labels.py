"""Which labels each Whoosh segment can hold, so a delete probes only those segments.

Deleting a document means finding its label's term in every segment: one
hash-table probe per label per segment, a dozen small reads each.  A commit
hook replacing 10 files' chunks in an index of 20 segments spent ~0.1 s there.
Labels are handed out in increasing order, so each segment this store writes
holds one narrow range of them; ``label-ranges.json`` beside the index records
``[lowest, highest]`` per segment id, and a label outside a segment's range is
not looked for in it.

Only ever too wide, never too narrow, so a delete never misses a document: a
segment written by our writer gets the exact range of its labels, one merged
from others the union of theirs (none if any had none), and a segment with no
range is probed as before.  Segment ids are never reused and a segment's
documents never change, so the file is written before the table of contents
that publishes the segments it describes, and extra entries are harmless.
"""
from __future__ import annotations

import json
from bisect import bisect_left
from bisect import bisect_right
from pathlib import Path
from typing import Any
from typing import Iterable

from coderag.stores.atomic import write_json_atomic

RANGES_FILE = "label-ranges.json"
Range = tuple[int, int]


def load_ranges(directory: Path) -> dict[str, Range]:
    """The recorded ranges; none (every segment probed) when the file is missing or unreadable."""
    try:
        raw = json.loads((directory / RANGES_FILE).read_text())
        return {str(segid): (int(low), int(high)) for segid, (low, high) in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_ranges(directory: Path, ranges: dict[str, Range], live_segids: Iterable[str]) -> None:
    """Record the ranges of the segments about to be published (others are dropped)."""
    live = set(live_segids)
    write_json_atomic(directory / RANGES_FILE, {s: list(r) for s, r in sorted(ranges.items()) if s in live},
                      sync_dir=False)


def union(ranges: dict[str, Range], segids: Iterable[str]) -> Range | None:
    """The range of a segment merged from ``segids``; ``None`` if any of them has none."""
    lows, highs = [], []
    for segid in segids:
        known = ranges.get(segid)
        if known is None:
            return None
        lows.append(known[0])
        highs.append(known[1])
    return (min(lows), max(highs)) if lows else None


def delete_labels(writer: Any, labels: Iterable[int], ranges: dict[str, Range]) -> None:
    """Delete every document of ``labels``, probing only segments whose range may hold each.

    Only those segments get a reader: opening one reads its term table
    (~0.8 ms), and a commit hook's few deletions touch a few of the dozens of
    segments a big repository has (a reader over all of them was ~60 ms of a
    10-file commit on bench-large).
    """
    from whoosh.reading import SegmentReader

    wanted = sorted(set(labels))
    if not wanted:
        return
    for segment in writer.segments:
        known = ranges.get(segment.segid)
        candidates = wanted if known is None else wanted[bisect_left(wanted, known[0]):bisect_right(wanted, known[1])]
        if not candidates:
            continue
        reader = SegmentReader(writer.storage, writer.schema, segment, generation=writer.generation)
        try:
            for label in candidates:
                text = str(label)
                if ("label", text) not in reader:
                    continue
                for docnum in reader.postings("label", text).all_ids():
                    if not segment.is_deleted(docnum):
                        segment.delete_document(docnum)  # what writer.delete_document does, offset undone
        finally:
            reader.close()
