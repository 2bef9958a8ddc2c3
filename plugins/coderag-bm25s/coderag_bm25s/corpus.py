"""The writer's copy of every live document, as token ids, kept to rebuild the index.

bm25s indexes are static sparse matrices: a change means a rebuild from the
tokens of all live documents.  This module keeps them compactly (one flat
int32 array of token ids per field plus offsets, and one vocabulary) in
``corpus.npz`` next to each generation's index.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from coderag.protocols import LexicalDoc

FIELDS = ("symbol", "path", "body")


class Corpus:
    """Labels and per-field token ids of the live documents, in index order."""

    def __init__(self, vocab: list[str], labels: np.ndarray, ids: dict[str, np.ndarray],
                 offsets: dict[str, np.ndarray]) -> None:
        self.vocab = vocab
        self.labels = labels
        self.ids = ids
        self.offsets = offsets

    @classmethod
    def empty(cls) -> "Corpus":
        zero = np.zeros(1, dtype=np.int64)
        return cls([], np.zeros(0, dtype=np.int64), {f: np.zeros(0, np.int32) for f in FIELDS},
                   {f: zero.copy() for f in FIELDS})

    @classmethod
    def load(cls, path: Path) -> "Corpus":
        with np.load(path, allow_pickle=False) as data:
            vocab_text = str(data["vocab"])
            vocab = vocab_text.split("\n") if vocab_text else []
            return cls(vocab, data["labels"], {f: data[f"{f}_ids"] for f in FIELDS},
                       {f: data[f"{f}_offsets"] for f in FIELDS})

    def save(self, path: Path) -> None:
        arrays = {"vocab": np.array("\n".join(self.vocab)), "labels": self.labels}
        for f in FIELDS:
            arrays[f"{f}_ids"], arrays[f"{f}_offsets"] = self.ids[f], self.offsets[f]
        with open(path, "wb") as out:
            np.savez(out, **arrays)

    def __len__(self) -> int:
        return len(self.labels)

    def updated(self, deletes: set[int], adds: Sequence[LexicalDoc]) -> "Corpus":
        """A new corpus without ``deletes`` (and older copies of re-added labels), plus ``adds``.

        The vocabulary is compacted to the tokens still in use, so deleted
        documents leave nothing behind.
        """
        drop = np.fromiter(deletes | {d.label for d in adds}, dtype=np.int64)
        keep = ~np.isin(self.labels, drop)
        token_of = {token: i for i, token in enumerate(self.vocab)}
        ids, offsets = {}, {}
        for f in FIELDS:
            lengths = np.diff(self.offsets[f])[keep]
            kept = self.ids[f][np.repeat(keep, np.diff(self.offsets[f]))]
            new_ids: list[int] = []
            new_lengths = []
            for doc in adds:
                tokens = getattr(doc, f).split()
                for token in tokens:
                    if token not in token_of:
                        token_of[token] = len(token_of)
                new_ids.extend(token_of[t] for t in tokens)
                new_lengths.append(len(tokens))
            ids[f] = np.concatenate([kept, np.asarray(new_ids, dtype=np.int32)])
            offsets[f] = np.concatenate([[0], np.cumsum(np.concatenate([lengths, new_lengths]))]).astype(np.int64)
        vocab = list(token_of)
        labels = np.concatenate([self.labels[keep], np.asarray([d.label for d in adds], dtype=np.int64)])
        # Compact: renumber the tokens still used, in first-seen order of the old numbering.
        used = np.unique(np.concatenate([ids[f] for f in FIELDS])) if len(labels) else np.zeros(0, np.int32)
        remap = np.full(len(vocab), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        return Corpus([vocab[i] for i in used.tolist()], labels, {f: remap[ids[f]] for f in FIELDS}, offsets)

    def documents(self, field: str) -> list[list[int]]:
        """Token ids of each document's ``field``, as bm25s takes them."""
        flat = self.ids[field].tolist()
        bounds = self.offsets[field].tolist()
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]
