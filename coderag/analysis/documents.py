"""What each backend sees of a chunk: the embedder's text and the keyword document.

Both are search-quality levers (what context helps a chunk be found), kept in
one place so they can be measured and tuned together.  The query side
(:mod:`coderag.search.query`) tokenises with the same rules, so both always agree.

Keyword documents (measured on the public evaluation corpus, see
``docs/benchmarks.md``):

* every field is stemmed (:func:`coderag.analysis.tokenize.stem`), so "parses the
  headers" meets ``parse_header``: +0.04 MRR@10 over unstemmed tokens;
* in ``symbol`` and ``path`` a whole name that is an English stop word is
  kept (lodash's ``every`` and ``without`` are only findable by name).
"""
from __future__ import annotations

import re
from functools import lru_cache

from coderag.protocols import Chunk
from coderag.protocols import LexicalDoc

MAX_CHUNK_CHARS = 20_000
"""Longer chunk texts are cut for embedding and keyword indexing (spans stay exact)."""

DOCUMENTS_VERSION = "3"
"""Bump when :func:`lexical_doc` or :func:`embedding_text` output changes: stored indexes must be rebuilt."""

STEM = True
"""Keyword documents and queries are stemmed."""

_NAME_WORD = re.compile(r"\w+")


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: its name, its context, its code.

    The path is left out on purpose: the text is the embedding cache key, and a
    rename must re-embed nothing.
    """
    head = chunk.symbol
    body = chunk.text if len(chunk.text) <= MAX_CHUNK_CHARS else chunk.text[:MAX_CHUNK_CHARS]
    if chunk.context:
        return f"{head}\n{chunk.context}\n{body}"
    return f"{head}\n{body}"


def text_hash(text: str) -> bytes:
    """Content key of an embedding input (the embedding cache is keyed by it)."""
    from hashlib import blake2b  # OpenSSL's load (~3 ms) is for writers: a search never hashes

    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@lru_cache(maxsize=1 << 16)
def _name_word_tokens(word: str) -> tuple[str, ...]:
    from coderag.analysis.tokenize import MAX_WORD
    from coderag.analysis.tokenize import STOP_WORDS
    from coderag.analysis.tokenize import code_tokens
    from coderag.analysis.tokenize import stem

    tokens = code_tokens(word, stem=STEM)
    whole = word.replace("_", "").lower()
    if whole in STOP_WORDS and len(word) <= MAX_WORD:
        # ``every`` or ``without`` as a whole name is a name, not a stop word.
        tokens.insert(0, stem(whole) if STEM else whole)
    return tuple(tokens)


def name_tokens(text: str) -> list[str]:
    """Tokens of a name field (symbol or path): :func:`~coderag.analysis.tokenize.code_tokens`
    with stemming, except that a whole name that is a stop word is kept."""
    out: list[str] = []
    for word in _NAME_WORD.findall(text):
        out.extend(_name_word_tokens(word))
    return out


def body_tokens(text: str) -> list[str]:
    """Tokens of code and prose (the ``body`` field)."""
    from coderag.analysis.tokenize import code_tokens

    return code_tokens(text, stem=STEM)


def lexical_doc(label: int, chunk: Chunk) -> LexicalDoc:
    """The keyword-index document of a chunk, tokenised for code."""
    body = chunk.text if len(chunk.text) <= MAX_CHUNK_CHARS else chunk.text[:MAX_CHUNK_CHARS]
    if chunk.context:
        body = f"{chunk.context}\n{body}"
    return LexicalDoc(
        label=label,
        symbol=" ".join(name_tokens(chunk.symbol)),
        path=" ".join(name_tokens(chunk.path)),
        body=" ".join(body_tokens(body)),
    )
