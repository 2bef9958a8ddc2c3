"""Mean-pooled static embeddings from a model2vec folder, without the model2vec runtime.

A model2vec model is a token table plus a tokenizer: encoding a text is
tokenising it and averaging the rows of its tokens.  ``StaticModel`` does
exactly that, but building one costs ~0.12 s (importing the library,
sorting the vocabulary, copying the tokenizer) that every ``git coderag
search`` and every commit hook would pay, and its pooling loops over length
buckets.  :class:`StaticEncoder` reads the same files and pools the same
way, so it gives the same vectors (checked against ``StaticModel.encode`` in
the tests).
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from coderag.embedding.safetensors_file import map_tensors
from coderag.embedding.wordpiece_cache import WordPieceCache

MODEL_FILES = ("model.safetensors", "tokenizer.json", "config.json")
_FAST_PATH_CHARS = 20_000
"""Once the Rust tokenizer is loaded, batches smaller than this go to it: building the word
cache's vocabulary from it (~15 ms) would cost them more than it saves."""
_SLICE_TOKENS = 1 << 16
"""Tokens gathered per pooling step: bounds the memory of one step (~24 MB of int8 rows at 384 dims)."""


class StaticEncoder:
    """Encodes texts with a model2vec token table (optionally remapped and weighted).

    :param tokenizer: a ``tokenizers.Tokenizer``, or the path of its
        ``tokenizer.json``: then the Rust tokenizer is only loaded (~30 ms with
        its import) for a text the word cache does not cover, so an ASCII query
        never loads it.
    """

    def __init__(self, embedding: np.ndarray, tokenizer, weights: np.ndarray | None = None,
                 token_mapping: np.ndarray | None = None) -> None:
        self.embedding = embedding
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.token_mapping = token_mapping
        self._tokenizer = None
        self._tokenizer_file: Path | None = None
        if isinstance(tokenizer, (str, os.PathLike)):
            self._tokenizer_file = Path(tokenizer)
        else:
            self._take_tokenizer(tokenizer)
        self._unk_token_id: int | None | bool = False  # False: not looked up yet
        self._median_token_length: int | None = None
        self._words: WordPieceCache | None | bool = False  # False: not built yet

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[1])

    @property
    def tokenizer(self):
        """The Rust tokenizer (loaded on first use when the encoder was given its file)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            self._take_tokenizer(Tokenizer.from_file(str(self._tokenizer_file)))
        return self._tokenizer

    def _take_tokenizer(self, tokenizer) -> None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer

    @property
    def unk_token_id(self) -> int | None:
        """The id model2vec drops from every text (the unknown token)."""
        if self._unk_token_id is False:
            words = self._word_cache() if self._tokenizer is None else None
            self._unk_token_id = words.unk_id if words is not None else _unk_token_id(self.tokenizer)
        return self._unk_token_id  # type: ignore[return-value]

    @classmethod
    def from_folder(cls, folder: Path) -> "StaticEncoder | None":
        """Load a model2vec folder; ``None`` when its layout is not the plain one this reads."""
        files = [folder / name for name in MODEL_FILES]
        if not all(f.is_file() for f in files):
            return None
        tensors = map_tensors(files[0])
        if tensors is None:  # a dtype numpy cannot map (bfloat16): the library converts it
            import safetensors

            opened = safetensors.safe_open(str(files[0]), framework="numpy")
            tensors = {name: opened.get_tensor(name) for name in opened.keys()}
        if "embeddings" not in tensors:
            return None
        return cls(tensors["embeddings"], files[1], weights=tensors.get("weights"),
                   token_mapping=tensors.get("mapping"))

    # ------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids of each text, without special or unknown tokens, at most ``max_length``."""
        if max_length is not None:
            # As model2vec does: cut the text first, so a huge text is not tokenised for nothing.
            cut = max_length * self.median_token_length
            texts = [text[:cut] for text in texts]
        ids = self._token_ids(list(texts))
        if max_length is not None:  # the tokenizer's truncation, which comes before dropping unknowns
            ids = [row[:max_length] for row in ids]
        if self.unk_token_id is not None:
            unk = self.unk_token_id
            ids = [[i for i in row if i != unk] if unk in row else row for row in ids]
        return ids

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        # The word cache when the Rust tokenizer is not loaded (parsing the vocabulary costs less
        # than loading it) or the batch is big enough to repay building the cache.
        use_cache = self._tokenizer is None or sum(map(len, texts)) >= _FAST_PATH_CHARS
        fast = self._word_cache() if use_cache else None
        if fast is None:
            return [encoding.ids for encoding in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        ids: list[list[int] | None] = [fast.encode(text) if fast.covers(text) else None for text in texts]
        rest = [i for i, row in enumerate(ids) if row is None]
        if rest:
            encodings = self.tokenizer.encode_batch_fast([texts[i] for i in rest], add_special_tokens=False)
            for i, encoding in zip(rest, encodings):
                ids[i] = encoding.ids
        return ids  # type: ignore[return-value]

    def _word_cache(self) -> WordPieceCache | None:
        if self._words is False:
            if self._tokenizer is None:
                spec = json.loads(Path(self._tokenizer_file).read_text(encoding="utf-8"))  # type: ignore[arg-type]
            else:
                spec = json.loads(self._tokenizer.to_str())
            self._words = WordPieceCache.from_spec(
                spec, lambda piece: self.tokenizer.encode(piece, add_special_tokens=False).ids)
        return self._words  # type: ignore[return-value]

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> np.ndarray:
        """float32 ``(len(texts), dim)`` mean of each text's token rows (zeros for no tokens); not normalised."""
        ids = self.tokenize(texts, max_length)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if self.token_mapping is None and self.weights is None:
            # Texts of equal length pool together in one gather and one mean (np.add.reduceat over
            # ragged rows would be simpler, but is ~15x slower on 2-D arrays).
            # int8 tables (the bundled model's) sum exactly in int32 for any text under ~16M tokens.
            exact_sums = self.embedding.dtype == np.int8
            buckets: dict[int, list[int]] = defaultdict(list)
            for i, row in enumerate(ids):
                if row:
                    buckets[len(row)].append(i)
            for length, members in buckets.items():
                step = max(1, _SLICE_TOKENS // length)  # bounds the gathered rows' memory
                for start in range(0, len(members), step):
                    part = members[start:start + step]
                    matrix = np.array([ids[i] for i in part], dtype=np.int64)
                    rows = self.embedding[matrix]
                    if exact_sums:  # integer sums are exact, so this is the mean, ~25% faster
                        out[part] = rows.sum(axis=1, dtype=np.int32) / length
                    else:
                        out[part] = rows.mean(axis=1)
            return out
        for i, row in enumerate(ids):
            if row:
                rows = self.embedding[row if self.token_mapping is None else self.token_mapping[row]]
                if self.weights is not None:
                    rows = rows * self.weights[row][:, None]
                out[i] = rows.mean(axis=0)
        return out

    @property
    def median_token_length(self) -> int:
        if self._median_token_length is None:
            vocab = self.tokenizer.get_vocab()
            self._median_token_length = int(np.median([len(token) for token in vocab]))
        return self._median_token_length


def _unk_token_id(tokenizer) -> int | None:
    """The id model2vec drops from every text (the unknown token), as model2vec finds it."""
    model = tokenizer.model
    if hasattr(model, "unk_token"):  # WordPiece, BPE, WordLevel
        token = model.unk_token
        return None if token is None else tokenizer.token_to_id(token)
    return json.loads(tokenizer.to_str())["model"].get("unk_id")  # Unigram
