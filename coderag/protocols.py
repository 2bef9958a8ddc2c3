"""The data types and backend Protocols that every chunker, embedder and store implements.

Builtin backends and third-party plugins implement the same Protocols; the
conformance kit in :mod:`coderag.testing` checks them.  This module imports
nothing heavy so that plugins can depend on it at no cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import Sequence
from typing import runtime_checkable

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Chunk:
    """A span of one file that is indexed and returned as a unit.

    ``start_line`` and ``end_line`` are 1-based and inclusive, counted on
    ``"\\n"``; ``text`` is exactly those lines joined by ``"\\n"``.
    """

    path: str
    start_line: int
    end_line: int
    text: str
    language: str
    symbol: str = ""
    """Qualified name of the definition (``Class.method``), or ``""`` for a window."""
    kind: str = "window"
    """``function``, ``method``, ``class``, ``module``... or ``window`` for the fallback."""
    context: str = ""
    """Text that helps find this chunk but is not part of its span (enclosing class header, ...)."""


@dataclass(frozen=True)
class LexicalDoc:
    """What a lexical store indexes for one chunk.

    The text fields are already code-tokenised (space separated, lower case)
    by :func:`coderag.analysis.tokenize.code_tokens`, so stores need only a cheap
    whitespace analyzer.
    """

    label: int
    symbol: str
    path: str
    body: str


@dataclass
class Hit:
    """One search result: a span of a file with its score."""

    path: str
    start_line: int
    end_line: int
    score: float
    language: str = ""
    symbol: str = ""
    kind: str = ""
    text: str = ""
    signals: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "score": round(float(self.score), 6),
            "language": self.language,
            "symbol": self.symbol,
            "kind": self.kind,
            "text": self.text,
        }


@runtime_checkable
class Chunker(Protocol):
    """Splits one file's text into chunks.

    Must be deterministic, pure (no I/O) and picklable, because it runs in
    worker processes.  Chunks must lie within the file, in order, with exact
    line numbers; they may overlap but should not.  Together they cover every
    line worth searching (blank lines, and lines a chunker documents as noise
    such as lone closing brackets, may be left out).  A huge file or
    definition is split into several chunks.  A chunk's ``text`` is exactly
    its lines, except that a chunker may cut the text of an over-long chunk
    (a minified line) to a fixed number of characters.
    """

    name: str
    """The name it is registered under (shown in ``git coderag status``)."""
    version: str
    """Bump when the output changes: the index re-chunks everything it chunked with another version."""

    def chunk(self, path: str, text: str, language: str) -> list[Chunk]:
        """Return the chunks of ``text`` (the content of ``path``), in line order.

        ``language`` is coderag's name for it (``python``, ``javascript``,
        ``markdown``..., ``""`` when unknown); any name must be accepted.  The
        text may hold control characters or U+FFFD from undecodable bytes.
        Empty or blank text gives no chunk.
        """
        ...


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to unit-length float32 vectors.

    ``model_id`` identifies the exact weights (name plus content hash): the
    index re-embeds everything when it changes.  Instances are created once
    per process (workers re-create them through their factory), so heavy
    loading belongs in the constructor or on first use, never at import.
    Deterministic: the same text gives the same vector alone or in any batch
    (up to float rounding), in any process.  Texts may be long (truncate
    them) or unreadable: a text with no known token may map to the zero
    vector, never to NaN.

    An embedder that calls a service may also define (all optional, looked up
    with ``getattr``; the builtin ``openai`` embedder is the example):

    * ``resume(meta)``: take what an index recorded (``dim``...) instead of asking the service;
    * ``index_meta() -> dict[str, str]``: more identity to record in the index (the served model);
    * ``service_stats() -> dict[str, int]``: counters (``requests``, ``retries``, ``tokens``,
      ``chars``) reported by ``git coderag index --json``;
    * ``requests_in_flight() -> int``: shown by the progress bar;
    * ``request_size: int`` (with ``in_flight: int``): texts per request.  The update then
      embeds in the writer process instead of the workers, packing the texts of all batches
      into requests this full with ``in_flight`` of them at once
      (:mod:`coderag.indexing.request_packer`);
    * ``cancel_requests(cancelled=True)``: stop retrying, so an interrupted update ends promptly
      (``False`` allows requests again).

    Any embedder may set ``embeds_path = True``: each chunk's vector then gets
    its file path's vector mixed in (one more embedded text per file; the
    embedding cache still holds the chunk texts' own vectors).

    It may raise :class:`~coderag.errors.PartialEmbedding` when only some texts
    failed (their files are retried by the next update),
    :class:`~coderag.errors.EmbedderUnavailable` to stop the update, and
    :class:`~coderag.errors.EmbedderChanged` to make it rebuild.
    """

    model_id: str
    """Exact weights and settings that shape the vectors, e.g. ``name@hash``."""
    dim: int
    """Vector dimension; known without embedding anything."""

    def embed_documents(self, texts: Sequence[str]) -> "np.ndarray":
        """Return an ``(len(texts), dim)`` float32 array of L2-normalised rows."""
        ...

    def embed_query(self, text: str) -> "np.ndarray":
        """Return a ``(dim,)`` float32 L2-normalised vector for a search query."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Approximate nearest neighbour search over labelled unit vectors, on disk.

    Created by a factory called as ``factory(directory, dim=..., readonly=...,
    **options)``.  Changes become durable only at :meth:`commit`, which must
    be atomic: a crash before or during it leaves the previously committed
    state.  Labels are unique ``int`` ids chosen by coderag and never reused.
    A ``readonly`` store never writes (not even to create its directory),
    sees the state committed when it was opened and refuses changes.
    Whether :meth:`search` sees uncommitted changes is up to the store.

    A store may set ``commit_beside_lexical = True`` (optional, looked up with
    ``getattr``) when its :meth:`commit` can run on another thread while the
    lexical store commits, because it shares nothing with it and spends the
    time outside the GIL (the builtin ``hnsw`` store builds graph links in C++).
    """

    def add(self, labels: "np.ndarray", vectors: "np.ndarray") -> None:
        """Add vectors under the given int64 labels."""
        ...

    def delete(self, labels: Sequence[int]) -> None:
        """Remove labels; unknown labels are ignored."""
        ...

    def search(self, vector: "np.ndarray", k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(label, cosine similarity)`` pairs, best first.

        Labels are Python ``int`` and scores ``float``; deleted labels never
        appear; ``k <= 0`` or an empty store gives ``[]``.
        """
        ...

    def commit(self) -> None:
        """Make all changes durable, atomically."""
        ...

    def close(self) -> None:
        """Release files and memory; uncommitted changes are dropped.  Closing twice is harmless."""
        ...

    def __len__(self) -> int:
        """Number of live (not deleted) vectors, counting uncommitted changes."""
        ...


@runtime_checkable
class LexicalStore(Protocol):
    """Keyword (BM25-style) search over :class:`LexicalDoc` documents, on disk.

    Created by a factory called as ``factory(directory, readonly=...,
    **options)``.  Same durability and read-only rules as
    :class:`VectorStore`.  All three text fields are searched (a match in
    ``symbol`` or ``path`` counts as much as one in ``body``, or more).
    """

    def add(self, docs: Sequence[LexicalDoc]) -> None:
        """Add documents under their labels."""
        ...

    def delete(self, labels: Sequence[int]) -> None:
        """Remove labels; unknown labels are ignored."""
        ...

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(label, score)`` pairs, best first.

        ``query_tokens`` come from :func:`coderag.analysis.tokenize.query_tokens`
        (they may repeat).  Scores are positive BM25-style ``float``; a
        document matching more of the query ranks higher.  Unknown tokens, an
        empty query or ``k <= 0`` give ``[]``.
        """
        ...

    def commit(self) -> None:
        """Make all changes durable, atomically."""
        ...

    def close(self) -> None:
        """Release files; uncommitted changes are dropped.  Closing twice is harmless."""
        ...

    def __len__(self) -> int:
        """Number of live documents, counting uncommitted changes."""
        ...


class Registry:
    """What a ``coderag_register_*`` hook receives: call it to register a factory.

    ``register(name, factory, *, description="")``: ``factory`` is called
    lazily, only when the backend is chosen, so a plugin module must not
    import heavy libraries at import time.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.factories: dict[str, Any] = {}
        self.descriptions: dict[str, str] = {}
        self.providers: dict[str, str] = {}
        self._current_plugin = ""

    def __call__(self, name: str, factory: Any, *, description: str = "") -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} backend names must be non-empty strings, got {name!r}")
        if name in self.factories:
            raise ValueError(
                f"{self.kind} backend {name!r} is registered twice "
                f"(by {self.providers[name]!r} and {self._current_plugin!r})"
            )
        self.factories[name] = factory
        self.descriptions[name] = description
        self.providers[name] = self._current_plugin

