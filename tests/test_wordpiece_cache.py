"""The word cache gives the Rust tokenizer's ids exactly, and the encoder uses it only for big batches."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import coderag
from coderag.embedding import static_encoder
from coderag.embedding.model2vec_embedder import DEFAULT_MODEL_DIR
from coderag.embedding.static_encoder import StaticEncoder
from coderag.embedding.wordpiece_cache import WordPieceCache

SPEC = json.loads((DEFAULT_MODEL_DIR / "tokenizer.json").read_text())
# Every ASCII character (control characters rarely, as in real files), and the non-ASCII kinds the tokenizer treats specially: accents (stripped),
# a dotted capital (lowercases to two characters), CJK (spaced), non-breaking and ideographic
# spaces, a zero-width space and a BOM (removed), a combining mark, an emoji, curly quotes.
PRINTABLE = [chr(c) for c in range(32, 127)] + list("\t\n\r  ")
CONTROL = [chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + ["\x7f"]
UNICODE = list("éüßÅİ漢字\u00a0\u3000\u200b\ufeff\u0301😀“”—")
WORDISH = ["HTTPServer", "getHTTPResponse2x", "parseJSON", "a1B", "XMLHttpRequest", "snake_case_name",
           "x" * 101, "Ab" * 60, "naïve", "café_au_lait", "[PAD]", "[UNK]", "[pad]", "ID3v2", "__init__"]


@pytest.fixture(scope="module")
def rust() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def cache(rust) -> WordPieceCache:
    words = WordPieceCache.from_spec(SPEC, lambda piece: rust.encode(piece, add_special_tokens=False).ids)
    assert words is not None
    return words


def rust_ids(rust, texts):
    return [e.ids for e in rust.encode_batch(texts, add_special_tokens=False)]


def cache_ids(rust, cache, texts):
    return [cache.encode(t) if cache.covers(t) else rust.encode(t, add_special_tokens=False).ids for t in texts]


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 60)):
            roll = rng.random()
            pool = WORDISH if roll < 0.2 else UNICODE if roll < 0.25 else CONTROL if roll < 0.255 else PRINTABLE
            parts.append(rng.choice(pool))
        texts.append("".join(parts))
    return texts


def test_random_text_over_every_ascii_character_and_odd_unicode(rust, cache):
    texts = random_texts(3000, seed=7)
    assert cache_ids(rust, cache, texts) == rust_ids(rust, texts)
    # The fallbacks were exercised, and most texts took the cached path.
    covered = sum(map(cache.covers, texts))
    assert 0 < covered < len(texts) and covered > len(texts) // 3


def test_identifiers_long_words_and_added_tokens(rust, cache):
    texts = WORDISH + [" ".join(WORDISH), "\n".join(WORDISH), "value[PAD]x", "a\x01B c", "x\tY\rZ\n"]
    assert cache_ids(rust, cache, texts) == rust_ids(rust, texts)
    assert not cache.covers("value[PAD]x") and not cache.covers("a\x01B")  # these go to the tokenizer whole


def test_real_source_code_gives_the_same_ids(rust, cache):
    texts = []
    for path in sorted(Path(coderag.__file__).parent.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        texts += ["".join(lines[i:i + 30]) for i in range(0, len(lines), 30)]
    assert len(texts) > 300
    assert cache_ids(rust, cache, texts) == rust_ids(rust, texts)
    assert len(cache) > 1000


def test_a_full_cache_starts_over(rust, monkeypatch):
    from coderag.embedding import wordpiece_cache

    monkeypatch.setattr(wordpiece_cache, "MAX_CACHED_WORDS", 50)
    words = WordPieceCache.from_spec(SPEC, lambda piece: rust.encode(piece, add_special_tokens=False).ids)
    texts = random_texts(200, seed=3)
    assert cache_ids(rust, words, texts) == rust_ids(rust, texts)
    assert len(words) < 200


@pytest.mark.parametrize("change", [
    lambda s: s["model"].update(type="Unigram"),
    lambda s: s.update(pre_tokenizer={"type": "Whitespace"}),
    lambda s: s["normalizer"]["normalizers"][1].update(clean_text=False),
    lambda s: s["normalizer"]["normalizers"][0]["pattern"].update(Regex="(?<=_)"),
    lambda s: s["added_tokens"].append({"id": 5, "content": "def", "normalized": True}),
])
def test_other_tokenizer_shapes_are_left_to_the_tokenizer(change):
    spec = json.loads(json.dumps(SPEC))
    change(spec)
    assert WordPieceCache.from_spec(spec, lambda piece: []) is None


def test_encoder_vectors_match_the_tokenizer_path_and_small_batches_skip_the_cache(monkeypatch):
    texts = random_texts(400, seed=11) + ["def retry(attempts):\n    return backoff(attempts)\n" * 20] * 50
    fast = StaticEncoder.from_folder(DEFAULT_MODEL_DIR)
    slow = StaticEncoder.from_folder(DEFAULT_MODEL_DIR)
    slow._words = None  # no cache: every text through the Rust tokenizer
    np.testing.assert_array_equal(fast.encode(texts), slow.encode(texts))
    assert isinstance(fast._words, WordPieceCache) and len(fast._words) > 100

    # A query in ASCII is encoded from the vocabulary alone: the Rust tokenizer is never loaded.
    query = StaticEncoder.from_folder(DEFAULT_MODEL_DIR)
    sentence = ["where are retries with backoff handled"]
    np.testing.assert_array_equal(query.encode(sentence), slow.encode(sentence))
    assert query._tokenizer is None and isinstance(query._words, WordPieceCache)
    # A non-ASCII word needs the Rust tokenizer: it is loaded then, and the vectors still agree.
    unicode = ["où sont gérées les réessais ✓"]
    np.testing.assert_array_equal(query.encode(unicode), slow.encode(unicode))
    assert query._tokenizer is not None

    # Once the Rust tokenizer is loaded, a small batch goes to it without building the cache.
    loaded = StaticEncoder(slow.embedding, slow.tokenizer)
    loaded.encode(sentence)
    assert loaded._words is False
    monkeypatch.setattr(static_encoder, "_FAST_PATH_CHARS", 1)
    loaded.encode(sentence)
    assert isinstance(loaded._words, WordPieceCache)