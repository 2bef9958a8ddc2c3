"""The builtin ``whoosh`` lexical store: BM25F over pre-tokenised code fields.

Documents arrive already tokenised by :func:`coderag.analysis.tokenize.code_tokens`
(space separated), so the text fields count ``str.split()`` tokens directly
(:class:`CodeTokensField`) instead of running a Whoosh analyzer, and store
nothing but the label.

Changes are buffered and applied by :meth:`WhooshLexicalStore.commit`:

* deletions are looked up term by term, with one reader for each segment
  whose label range may hold them (:mod:`coderag.stores.whoosh_labels`);
* additions go, as they arrive, into an open segment of at most
  ``segment_docs`` documents (:mod:`coderag.stores.whoosh_segments`: the
  same bytes as Whoosh's writer, at half the CPU), unpublished until the
  commit; a big build holds one segment's postings in memory, not its
  documents.  The first addition takes Whoosh's write lock, held until
  :meth:`~WhooshLexicalStore.commit` or :meth:`~WhooshLexicalStore.close`;
* a commit merges existing segments only when one size tier (segments of
  1-9, 10-99, 100-999... documents) holds more than
  :data:`~coderag.stores.whoosh_segments.SEGMENTS_PER_TIER` of them, and then only that tier: every commit
  hook adds a small segment, and without merging a year of commits would
  leave thousands for every search to walk; tiers keep each merge small
  (a document is rewritten once per tier, O(log n) times) so the hook stays
  O(changes).  :meth:`WhooshLexicalStore.compact` merges everything on demand.

Atomicity comes from Whoosh's table of contents: segment files are written
first, then a new ``_MAIN_<gen>.toc`` is renamed into place, so a crash
leaves the previous generation as the latest readable one.  After that
rename the new files are fsynced, so a returned commit is durable.
"""
from __future__ import annotations

import contextlib
import os
from array import array
from bisect import bisect_left
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any
from typing import Sequence

from coderag.stores import whoosh_import  # noqa: F401  (first: Whoosh without what it never needs)
from whoosh import fields
from whoosh import formats

from coderag.errors import IndexBusy
from coderag.errors import IndexCorrupt
from coderag.protocols import LexicalDoc
from coderag.stores.atomic import fsync_dir
from coderag.stores.atomic import fsync_path
from coderag.stores.whoosh_labels import delete_labels
from coderag.stores.whoosh_labels import load_ranges
from coderag.stores.whoosh_labels import save_ranges
from coderag.stores.whoosh_labels import union
from coderag.stores.whoosh_segments import OpenSegment
from coderag.stores.whoosh_segments import merge_full_tiers
from coderag.stores.whoosh_segments import merge_small

INDEX_NAME = "MAIN"
_OPEN_ATTEMPTS = 5
TEXT_FIELDS = ("symbol", "path", "body")
DEFAULT_BOOSTS = {"symbol": 1.5, "path": 0.4, "body": 1.0}
"""Query-time field weights.  Measured on the public evaluation corpus (40-line
windows, the names they define as ``symbol``; MRR@10): body only 0.33, +path
at 0.4: 0.34, +symbol at 1.0-1.5: 0.40-0.41; symbol 3.0 fell to 0.36 and path
1.5 to 0.27, because short fields matched on one word outscore the body."""
DEFAULT_FIELD_B = {"symbol": 0.5, "path": 0.5}
"""Per-field BM25 ``b`` (length normalisation); ``body`` uses the ``b`` option.
Symbols and paths are short and their length says little about relevance."""


class CodeTokensField(fields.TEXT):
    """A TEXT field whose value is a space-separated token string, indexed as is.

    Skips Whoosh's analyzer pipeline (a regex and a Token object per token):
    the caller already lower-cased and split the text.  Frequencies only, no
    positions (no phrase queries are needed), so postings stay small.
    """

    def __init__(self) -> None:
        super().__init__(phrase=False)

    def index(self, value: Any, **kwargs: Any) -> list[tuple[bytes, int, float, bytes]]:
        tokens = value.split() if isinstance(value, str) else value
        return [
            (token.encode("utf-8"), freq, float(freq), formats.pack_uint(freq))
            for token, freq in Counter(tokens).items()
        ]


def make_schema() -> fields.Schema:
    return fields.Schema(
        label=fields.ID(stored=True, unique=True),
        symbol=CodeTokensField(),
        path=CodeTokensField(),
        body=CodeTokensField(),
    )


class WhooshLexicalStore:
    """Keyword search with BM25F over ``symbol``, ``path`` and ``body``.

    :param directory: folder owned by the store (created unless ``readonly``).
    :param field_boosts: query-time weight per field (defaults
        :data:`DEFAULT_BOOSTS`); changing them needs no re-index.
    :param k1: ``b``: BM25 parameters; ``field_b`` overrides ``b`` per field
        (defaults :data:`DEFAULT_FIELD_B`).
    :param readonly: searching only: never writes nor locks; mutating calls
        raise ``ValueError``.
    :param segment_docs: documents per new segment (see the module notes);
        ``limitmb`` is handed to Whoosh's writer for merges.

    :meth:`search` sees the committed state; :func:`len` includes pending changes.
    """

    def __init__(self, directory: Path, field_boosts: dict[str, float] | None = None, k1: float = 1.2,
                 b: float = 0.75, field_b: dict[str, float] | None = None, readonly: bool = False,
                 limitmb: int = 256, segment_docs: int = 10_000, **ignored: Any) -> None:
        from whoosh import scoring

        self.directory = Path(directory)
        self.readonly = readonly if not isinstance(readonly, str) else readonly.lower() in ("1", "true", "yes", "on")
        self.boosts = {**DEFAULT_BOOSTS, **(field_boosts or {})}
        per_field = {f"{name}_B": float(v) for name, v in {**DEFAULT_FIELD_B, **(field_b or {})}.items()}
        self.weighting = scoring.BM25F(B=float(b), K1=float(k1), **per_field)
        self._field_b = {name: float(v) for name, v in {**dict.fromkeys(TEXT_FIELDS, b), **DEFAULT_FIELD_B,
                                                        **(field_b or {})}.items()}
        self._k1 = float(k1)
        self._scorer: Any = None  # numpy BM25F over the current searcher's postings (built on first search)
        self.limitmb = int(limitmb)
        self.segment_docs = max(1, int(segment_docs))
        self._taking: Any = None  # the segment taking additions (an OpenSegment), and its labels
        self._taking_labels = array("q")
        self._deletes: set[int] = set()
        self._writer: Any = None  # holds Whoosh's lock from the first addition to the commit
        self._files_before: set[str] = set()
        self._unpublished: list[tuple[Any, array]] = []  # (segment, its labels in document order)
        self._label_ranges = {} if self.readonly else load_ranges(self.directory)
        self._ix: Any = None
        self._searcher: Any = None
        self._searcher_stale = False  # a commit published a generation the searcher does not show yet
        self._closed = False
        self._open()

    # ------------------------------------------------------------------ open

    def _corrupt(self, what: str) -> IndexCorrupt:
        return IndexCorrupt(f"lexical store {self.directory}: {what}; rebuild the index")

    def _open(self) -> None:
        from whoosh import index
        from whoosh.filedb.filestore import FileStorage

        def generation() -> int:
            storage = FileStorage(str(self.directory), readonly=True)
            return index.TOC._latest_generation(storage, INDEX_NAME)

        if not self.directory.is_dir() or generation() < 0:
            if self.directory.is_dir() and any(
                n.startswith(INDEX_NAME + "_") and not n.endswith("WRITELOCK")
                for n in os.listdir(self.directory)
            ):
                raise self._corrupt("the table of contents (_MAIN_*.toc) is missing")
            if self.readonly:
                return  # nothing committed yet: an empty store, and nothing is written
            self.directory.mkdir(parents=True, exist_ok=True)
            index.create_in(str(self.directory), make_schema(), indexname=INDEX_NAME)
        for _ in range(_OPEN_ATTEMPTS):
            seen = generation()
            try:
                # No mmap: Whoosh copies every mmapped compound segment file
                # into a BytesIO when opening it (83 ms vs 6 ms at 50k docs).
                storage = FileStorage(str(self.directory), supports_mmap=False, readonly=self.readonly)
                self._ix = storage.open_index(INDEX_NAME)
                # Opening a searcher opens every segment file, so a missing or
                # truncated one fails here rather than in the middle of a query.
                self._searcher = self._ix.searcher(weighting=self.weighting)
                self._searcher.doc_count()
                # The searcher's schema, not ``self._ix.schema``: that property
                # re-reads the newest TOC, which a concurrent commit may remove.
                schema_names = set(self._searcher.schema.names())
                break
            except FileNotFoundError as exc:
                # A writer committed between our listing of the TOCs and our
                # reading of the newest one, and removed it: list again.
                # (Whoosh itself retries segment files a merge removed.)
                if generation() == seen:
                    raise self._corrupt(f"missing file {Path(exc.filename or '?').name}") from None
            except Exception as exc:  # Whoosh raises many kinds of errors on damaged files
                raise self._corrupt(f"unreadable ({exc.__class__.__name__}: {exc})") from None
        else:
            raise self._corrupt("it kept changing while being opened")
        if schema_names != {"label", *TEXT_FIELDS}:
            raise self._corrupt("unexpected schema")

    # --------------------------------------------------------------- changes

    def _check_writable(self) -> None:
        if self._closed:
            raise ValueError("lexical store is closed")
        if self.readonly:
            raise ValueError("lexical store was opened read-only")

    def add(self, docs: Sequence[LexicalDoc]) -> None:
        """Queue documents; a label added again replaces its older document."""
        self._check_writable()
        for doc in sorted(docs, key=lambda d: int(d.label)):
            label = int(doc.label)
            if self._taking_labels and label <= self._taking_labels[-1]:
                self._seal()  # it may hold this label, and a segment's documents stay in label order
            self._forget_unpublished(label)
            if self._taking is None:
                self._begin()  # the lock covers unpublished segments too
                self._taking = OpenSegment(self._ix)
            self._taking.add(str(label), doc.symbol, doc.path, doc.body)
            self._taking_labels.append(label)
            if len(self._taking_labels) >= self.segment_docs:
                self._seal()

    def delete(self, labels: Sequence[int]) -> None:
        """Queue deletions; unknown labels are ignored."""
        self._check_writable()
        self._seal()
        for label in map(int, labels):
            self._forget_unpublished(label)
            self._deletes.add(label)

    def _seal(self) -> None:
        """Finish the segment taking additions: it is published by the commit."""
        if self._taking is None:
            return
        segment, labels = self._taking.finish(), self._taking_labels
        self._taking, self._taking_labels = None, array("q")
        self._unpublished.append((segment, labels))
        self._label_ranges[segment.segid] = (labels[0], labels[-1])

    def _forget_unpublished(self, label: int) -> None:
        """Delete ``label``'s copy in an unpublished segment, if any (documents are in label order)."""
        for segment, labels in self._unpublished:
            docnum = bisect_left(labels, label)
            if docnum < len(labels) and labels[docnum] == label and not segment.is_deleted(docnum):
                segment.delete_document(docnum)

    def _live(self, labels: set[int]) -> int:
        """How many of ``labels`` have a live committed document."""
        s = self._current()
        if s is None or not labels or not s.doc_count():
            return 0
        return sum(1 for label in labels if s.document_number(label=str(label)) is not None)

    def __len__(self) -> int:
        """Live documents, counting uncommitted adds and deletes."""
        if self._closed:
            raise ValueError("lexical store is closed")
        s = self._current()
        committed = s.doc_count() if s is not None else 0
        if not self._taking_labels and not self._deletes and not self._unpublished:
            return committed
        self._seal()
        replaced = self._deletes | self._unpublished_labels()
        unpublished = sum(segment.doc_count() for segment, _ in self._unpublished)
        return committed - self._live(replaced) + unpublished

    def _unpublished_labels(self) -> set[int]:
        return {label for segment, labels in self._unpublished
                for docnum, label in enumerate(labels) if not segment.is_deleted(docnum)}

    # ---------------------------------------------------------------- commit

    def commit(self) -> None:
        """Apply queued deletes and adds in one new Whoosh generation."""
        self._check_writable()
        if not self._taking_labels and not self._deletes and not self._unpublished:
            return
        with self._durable_writer() as writer:
            self._apply(writer)
        self._deletes, self._unpublished = set(), []

    def _begin(self) -> Any:
        """Whoosh's writer, taking its lock on first use."""
        from whoosh.index import LockError

        if self._writer is None:
            before = set(os.listdir(self.directory))
            try:
                writer = self._ix.writer(limitmb=self.limitmb)
            except LockError:
                raise IndexBusy(f"lexical store {self.directory} is locked by another writer") from None
            # With the lock held, remove what a killed writer left that Whoosh
            # never cleans: its unpublished table of contents (orphan segment
            # files go when this commit publishes its TOC).
            for name in before:
                if name.startswith(f"_{INDEX_NAME}_") and ".toc." in name:
                    with contextlib.suppress(OSError):
                        os.unlink(self.directory / name)
            self._writer, self._files_before = writer, before
        return self._writer

    def _cancel(self) -> None:
        """Release the lock and drop unpublished segments (their files go at the next commit)."""
        writer, self._writer, self._unpublished = self._writer, None, []
        self._taking, self._taking_labels = None, array("q")
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.cancel()

    @contextlib.contextmanager
    def _durable_writer(self) -> Any:
        """A locked writer; the files it created are fsynced after it commits."""
        writer = self._begin()
        try:
            yield writer
        except BaseException:
            self._cancel()
            raise
        self._writer = None
        for name in set(os.listdir(self.directory)) - self._files_before:
            path = self.directory / name
            if path.is_file():
                fsync_path(path)
        fsync_dir(self.directory)
        self._reopen_searcher()

    def _apply(self, writer: Any) -> None:
        self._seal()
        if any(segment.doc_count_all() for segment in writer.segments):
            delete_labels(writer, self._deletes | self._unpublished_labels(), self._label_ranges)
        # The writer's own commit, with the tiered merge, plus our segments.
        before = [segment.segid for segment in writer.segments]
        segments = writer._merge_segments(partial(merge_full_tiers, big=self.segment_docs), False, False)
        merged = set(before) - {segment.segid for segment in segments}
        segments += [segment for segment, _ in self._unpublished if segment.doc_count()]
        if writer._added:  # a merge copied documents into the writer's own segment
            segment = writer._finalize_segment()
            joined = union(self._label_ranges, merged)
            if joined is not None:
                self._label_ranges[segment.segid] = joined
            segments.append(segment)
        else:
            writer._close_segment()
        save_ranges(self.directory, self._label_ranges, (segment.segid for segment in segments))
        writer._commit_toc(segments)
        writer._finish()

    def compact(self, full: bool = False) -> None:
        """Merge segments (slow: not for the commit hook).

        By default only segments under ``segment_docs`` documents, the ones
        that commits pile up, are merged into one.  ``full=True`` merges
        everything into one segment and drops deleted documents (minutes for
        100k documents).
        """
        self._check_writable()
        self.commit()
        small = [s for s in self._ix._segments() if s.doc_count_all() < self.segment_docs]
        if full and (self.segment_count > 1 or self._current().reader().has_deletions()):
            with self._durable_writer() as writer:
                writer.commit(optimize=True)
        elif not full and len(small) > 1:
            with self._durable_writer() as writer:
                writer.commit(mergetype=partial(merge_small, big=self.segment_docs))

    @property
    def segment_count(self) -> int:
        """Number of Whoosh segments (bounded by the tiered merge of each commit, see the module notes)."""
        return len(self._ix._segments()) if self._ix is not None else 0

    def _reopen_searcher(self) -> None:
        """Close the old generation's searcher; :meth:`_current` opens the new one when asked (a commit
        hook never searches after its commit: a searcher's reader per segment cost it ~25 ms)."""
        if self._searcher is not None:
            self._searcher.close()
        self._searcher, self._searcher_stale = None, True

    def _current(self) -> Any:
        """The searcher of the committed generation (``None`` for a store with nothing committed)."""
        if self._searcher_stale and self._ix is not None:
            self._searcher, self._searcher_stale = self._ix.searcher(weighting=self.weighting), False
        return self._searcher

    # ---------------------------------------------------------------- search

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(label, BM25F score)`` pairs, best first.

        The query is a disjunction of every token in every field (no query
        parser, so user text has no syntax), scored by
        :class:`~coderag.stores.whoosh_scoring.PostingScorer`.  Sees committed
        documents only.
        """
        from coderag.stores.whoosh_scoring import PostingScorer

        if self._closed:
            raise ValueError("lexical store is closed")
        tokens = [t for t in dict.fromkeys(query_tokens) if t]
        s = self._current()
        if k <= 0 or not tokens or s is None or not s.doc_count():
            return []
        # Same BM25F scores as ``s.search(Or([Term(f, t, boost=...) ...]))``, ~10x faster.
        if self._scorer is None or self._scorer.searcher is not s:
            self._scorer = PostingScorer(s, self.boosts, self._field_b, self._k1)
        top = self._scorer.search(tokens, int(k))
        return list(zip(self._scorer.labels([docnum for docnum, _ in top]), [score for _, score in top]))

    # ----------------------------------------------------------------- close

    def close(self) -> None:
        """Release files and Whoosh's lock; uncommitted changes are dropped."""
        self._cancel()
        self._reopen_searcher()
        self._ix, self._searcher_stale = None, False
        self._deletes = set()
        self._closed = True

    def __enter__(self) -> WhooshLexicalStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
