"""What each backend sees of a chunk: the embedder's text and the keyword document.

Both are search-quality levers (what context helps a chunk be found), kept in
one place so they can be measured and tuned together.
"""
from __future__ import annotations

import hashlib

from coderag.protocols import Chunk
from coderag.protocols import LexicalDoc

MAX_CHUNK_CHARS = 20_000
"""Longer chunk texts are cut for embedding and keyword indexing (spans stay exact)."""


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
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def lexical_doc(label: int, chunk: Chunk) -> LexicalDoc:
    """The keyword-index document of a chunk, tokenised for code."""
    from coderag.tokenize import code_tokens

    body = chunk.text if len(chunk.text) <= MAX_CHUNK_CHARS else chunk.text[:MAX_CHUNK_CHARS]
    if chunk.context:
        body = f"{chunk.context}\n{body}"
    return LexicalDoc(
        label=label,
        symbol=" ".join(code_tokens(chunk.symbol)),
        path=" ".join(code_tokens(chunk.path)),
        body=" ".join(code_tokens(body)),
    )
