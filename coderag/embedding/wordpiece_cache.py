"""Exact WordPiece token ids, word by word from a cache.

The Rust tokenizer tracks every character's offsets through each normaliser,
which makes it slow on code (~1-1.5 MB/s per core on bench-large, most of the
cold index's embedding time) although nothing here reads the offsets.  For the
tokenizer shape coderag's models use (an optional camelCase-splitting
``Replace``, ``BertNormalizer``, ``BertPreTokenizer``, ``WordPiece``), a text's
ids are the concatenation of the ids of its whitespace-separated pieces, and an
ASCII piece's ids are those of its alphanumeric runs and punctuation
characters.  Code repeats the same few thousand words endlessly, so a dict from
word to ids does the job several times faster with the same result (checked
against the Rust tokenizer in the tests, over every ASCII character, mixed
scripts and a real repository, and by ``bench/tokenizer_exactness.py`` over
every chunk of bench-large).

Why piece by piece is exact:

- ``BertPreTokenizer`` splits on whitespace, and no normaliser step looks across
  a space: ``BertNormalizer`` works one character at a time (cleaning, accents,
  case, spacing around CJK characters), and the camelCase pattern's look-arounds
  only match ASCII letters and digits, so it only splits inside an alphanumeric
  run.  A piece holding a non-ASCII character is encoded alone by the Rust
  tokenizer (and cached).
- In an ASCII piece every non-alphanumeric character is punctuation, which the
  pre-tokenizer isolates, and ``WordPiece`` encodes each word on its own
  (greedy longest match).

Texts holding an ASCII control character (the camelCase split runs before
cleaning, so removing one can join two words differently) or an added token
such as ``[PAD]`` (matched in the raw text before anything else) go to the Rust
tokenizer whole, as does any other tokenizer shape.
"""
from __future__ import annotations

import re
from itertools import chain
from typing import Callable, Sequence

CAMEL_CASE_PATTERNS = frozenset({
    "(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])",
    "(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])",
    "(?<=[a-z0-9])(?=[A-Z])",
    "(?<=[a-z])(?=[A-Z])",
})
"""Replace patterns known to match only inside one ASCII alphanumeric run (Python's ``re`` reads
them as the tokenizer's Oniguruma does)."""

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A whitespace-separated piece holding a non-ASCII character (tried only where a piece starts, so
# the scan stays linear), else an ASCII alphanumeric run, else one punctuation character.
_WORDS = re.compile(r"(?<![^ \t\n\r])[^ \t\n\r]*[^\x00-\x7f][^ \t\n\r]*|[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\r]")
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\r]")  # the same for ASCII text, twice as fast
MAX_CACHED_WORDS = 400_000
"""Words kept before the cache starts over: bounds a worker's memory (~60 MB) on huge repositories."""
_MAX_CACHED_CHARS = 256
"""Longer non-ASCII pieces (a paragraph of Chinese has no spaces) are encoded but not kept."""


class WordPieceCache(dict):
    """Token ids of texts, equal to ``tokenizer.encode(text, add_special_tokens=False).ids``.

    A dict from word to its ids, filled on first sight; :meth:`encode` maps a
    text's words through it.

    :param encode_piece: the Rust tokenizer's ids for one non-ASCII piece.
    """

    def __init__(self, vocab: dict[str, int], encode_piece: Callable[[str], list[int]], *, unk_token: str,
                 prefix: str = "##", max_word_chars: int = 100, lowercase: bool = True,
                 camel_case: str | None = None, added_tokens: Sequence[str] = ()) -> None:
        super().__init__()
        self.vocab = vocab
        self.encode_piece = encode_piece
        self.unk_id = vocab[unk_token]
        self.prefix = prefix
        self.max_word_chars = max_word_chars
        self.lowercase = lowercase
        self.camel_case = re.compile(camel_case) if camel_case else None
        self._added = re.compile("|".join(map(re.escape, added_tokens))) if added_tokens else None

    @classmethod
    def from_spec(cls, spec: dict, encode_piece: Callable[[str], list[int]]) -> "WordPieceCache | None":
        """The cache for a parsed ``tokenizer.json``, or ``None`` when its shape is not one this covers."""
        model = spec.get("model") or {}
        if model.get("type") != "WordPiece" or (spec.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
            return None
        normalizer = spec.get("normalizer") or {}
        steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
        camel_case = None
        if len(steps) == 2 and steps[0].get("type") == "Replace":
            pattern = (steps[0].get("pattern") or {}).get("Regex")
            if pattern not in CAMEL_CASE_PATTERNS or steps[0].get("content") != " ":
                return None
            camel_case = pattern
            steps = steps[1:]
        if len(steps) != 1 or steps[0].get("type") != "BertNormalizer" or not steps[0].get("clean_text"):
            return None
        vocab = model.get("vocab") or {}
        unk_token = model.get("unk_token")
        added = spec.get("added_tokens") or []
        if unk_token not in vocab or any(token.get("normalized") for token in added):
            return None  # an added token matched after normalising could hide anywhere
        if any(token.get("content") == unk_token and token.get("id") != vocab[unk_token] for token in added):
            return None  # the tokenizer's id for the unknown token would not be the vocabulary's
        return cls(vocab, encode_piece, unk_token=unk_token, prefix=model.get("continuing_subword_prefix", "##"),
                   max_word_chars=int(model.get("max_input_chars_per_word", 100)),
                   lowercase=bool(steps[0].get("lowercase", True)), camel_case=camel_case,
                   added_tokens=[token["content"] for token in added if token.get("content")])

    def covers(self, text: str) -> bool:
        """Whether :meth:`encode` gives the tokenizer's ids for ``text`` (no control character, no added token)."""
        return not _CONTROL.search(text) and not (self._added and self._added.search(text))

    def encode(self, text: str) -> list[int]:
        """Ids of one ``text`` that :meth:`covers` (unknown words as the unknown id, as the tokenizer gives them)."""
        if len(self) > MAX_CACHED_WORDS:
            self.clear()
        words = (_ASCII_WORDS if text.isascii() else _WORDS).findall(text)
        return list(chain.from_iterable(map(self.__getitem__, words)))

    def __missing__(self, word: str) -> tuple[int, ...]:
        if not word.isascii():
            ids = tuple(self.encode_piece(word))
            if len(word) > _MAX_CACHED_CHARS:
                return ids
        else:
            ids = self._ascii_word_ids(word)
        self[word] = ids
        return ids

    # ------------------------------------------------------------------
    def _ascii_word_ids(self, run: str) -> tuple[int, ...]:
        words = self.camel_case.sub(" ", run).split(" ") if self.camel_case else [run]
        if self.lowercase:
            words = [word.lower() for word in words]
        return tuple(chain.from_iterable(self._wordpiece(word) for word in words if word))

    def _wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first pieces, the whole word unknown when any part has no piece."""
        if len(word) > self.max_word_chars:
            return [self.unk_id]
        vocab, pieces, start = self.vocab, [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                found = vocab.get(word[start:end] if start == 0 else self.prefix + word[start:end])
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            pieces.append(found)
            start = end
        return pieces
