"""The Python API: :class:`Index`."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from coderag.config import Settings
from coderag.config import load_settings
from coderag.errors import ConfigError
from coderag.errors import IndexCorrupt
from coderag.errors import NoIndex
from coderag.git.plumbing import STAGED
from coderag.git.plumbing import Repo
from coderag.ondisk.manifest import FORMAT_VERSION
from coderag.ondisk.manifest import Manifest
from coderag.protocols import Hit
from coderag.ondisk.layout import MANIFEST_NAME
from coderag.ondisk.layout import IndexLocation
from coderag.ondisk.layout import WriteLock

if TYPE_CHECKING:
    from coderag.indexing.update import UpdateReport

CANDIDATES = 100
"""Candidates taken from each retriever before fusion and re-ranking."""


class Index:
    """A repository's code search index.

    ``Index.open(path)`` finds the repository and its index without building
    anything; :meth:`update` builds or refreshes it; :meth:`search` answers.
    """

    def __init__(self, repo: Repo, settings: Settings) -> None:
        self.repo = repo
        self.settings = settings
        self.location = IndexLocation(repo.index_dir())
        self._reader: _Reader | None = None
        self._embedder = None

    @classmethod
    def open(cls, path: str | os.PathLike[str] = ".", config: dict[str, str] | None = None) -> "Index":
        """Open the index of the git repository containing ``path``.

        :param config: extra ``coderag.*`` settings overriding git config,
            e.g. ``{"coderag.embedder.model": "/models/potion"}``.
        """
        repo = Repo.discover(path)
        return cls(repo, load_settings(repo.root, config))

    # ------------------------------------------------------------------
    def update(self, rev: str = "HEAD", *, staged: bool = False, full: bool = False, wait: bool = True,
               progress=None) -> UpdateReport:
        """Bring the index up to date with ``rev`` (or the staging area); returns what changed."""
        from coderag.indexing.update import Updater  # the writer's modules: searching never needs them

        target = STAGED if staged else rev
        tree = self.repo.staged_tree() if staged else None
        report = Updater(self.repo, self.settings, progress=progress).run(target, full=full, wait=wait, tree=tree)
        self.close()
        return report

    def search(self, query: str, k: int = 10, *, mode: str = "hybrid", path: str | None = None,
               language: str | None = None) -> list[Hit]:
        """Return the ``k`` best :class:`~coderag.protocols.Hit` for ``query``, best first."""
        from coderag.search.query import parse_query
        from coderag.search.fusion import Candidates
        from coderag.search.fusion import rank_labels
        from coderag.search.fusion import to_hits

        if not query or not query.strip():
            raise ConfigError("empty query")
        if k <= 0:
            return []
        reader = self._open_reader()
        pool = max(CANDIDATES, k * 3) * (4 if (path or language) else 1)
        parsed = parse_query(query)
        lexical: list[tuple[int, float]] = []
        semantic: list[tuple[int, float]] = []
        if mode in ("hybrid", "lexical"):
            tokens = parsed.terms + parsed.expansions
            lexical = reader.stores.lexical.search(tokens, pool) if tokens else []
        # A bare identifier is a keyword lookup: skip the model (and its load time) in hybrid mode.
        if mode == "semantic" or (mode == "hybrid" and not parsed.is_symbol):
            embedder = self._query_embedder()
            resume = getattr(embedder, "resume", None)
            if resume is not None:  # a service embedder checks its answers against what the index holds
                resume(reader.meta)
            vector = embedder.embed_query(query)
            semantic = reader.stores.vectors.search(vector, pool)
        labels = list(dict.fromkeys([label for label, _ in lexical] + [label for label, _ in semantic]))
        # Sentences rank on metadata only (the k winners' text is read last); a bare symbol also
        # looks for its definition in the candidates' text.
        rows = reader.manifest.chunks_by_label(labels, reader.generation, with_text=parsed.is_symbol)
        ranked = rank_labels(query, Candidates(lexical, semantic), rows, k, mode, self.settings.weights, path,
                             language)
        texts = rows if parsed.is_symbol else reader.manifest.chunks_by_label([label for label, _ in ranked],
                                                                              reader.generation)
        return to_hits([(label, score) for label, score in ranked if label in texts], texts)

    def status(self) -> dict[str, Any]:
        """What is indexed, with which settings, and how far behind HEAD it is."""
        head = self.repo.resolve("HEAD")
        info: dict[str, Any] = {"repository": str(self.repo.root), "index_dir": str(self.location.root),
                                "head": head, "indexed": False}
        from coderag.indexing.background import background_state

        from coderag.ondisk.layout import WatchLock

        info.update(background_state(self.location))
        info["watch_pid"] = WatchLock(self.location.root).holder()
        info["last_background"] = self.location.read_status() or None
        current = self.location.current()
        if current is None:
            return info
        try:
            manifest = Manifest(current / MANIFEST_NAME, readonly=True)
        except IndexCorrupt as exc:
            info["error"] = _one_line_with_remedy(str(exc))
            return info
        try:
            meta = manifest.meta()
            info.update(indexed=True, commit=meta.get("commit") or None, target=meta.get("target"),
                        generation=int(meta.get("generation", "0")),
                        embedder=meta.get("embedder"), chunker=meta.get("chunker"),
                        vector_store=meta.get("vector_store"), lexical_store=meta.get("lexical_store"),
                        indexed_at=float(meta.get("indexed_at", "0") or 0))
            info.update(manifest.counts())
        finally:
            manifest.close()
        info["stale"] = behind_head(self.repo, meta, head)
        return info

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------
    def _query_embedder(self):
        if self._embedder is None:
            from coderag.plugins import create_backend

            self._embedder = create_backend("embedder", self.settings.backends["embedder"],
                                            **self.settings.options["embedder"])
        return self._embedder

    def _open_reader(self) -> "_Reader":
        for attempt in range(3):
            current = self.location.current()
            if current is None:
                if self.location.current_file.exists():
                    raise IndexCorrupt(f"{self.location.current_file} does not name an index directory; "
                                       "run `git coderag index` to rebuild it")
                raise NoIndex(f"no coderag index in {self.repo.root}: run `git coderag index` first")
            if self._reader is not None and self._reader.is_current(current):
                return self._reader
            self.close()
            try:
                self._reader = _Reader(current, self.settings)
                return self._reader
            except IndexCorrupt as exc:
                # A rebuild may have swapped CURRENT and removed this directory
                # while we opened it: that is not damage, read the new one.
                if self.location.current() != current and attempt < 2:
                    continue
                # An update commits its stores just before it flips the manifest's generation:
                # in that instant the stores may hold fewer chunks (the next generation's) than the
                # manifest lists. Wait for the flip rather than calling the index damaged.
                if attempt < 2 and WriteLock(self.location.root).holder() is not None:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise IndexCorrupt(_one_line_with_remedy(str(exc))) from None
        raise AssertionError("unreachable")

    def is_stale(self, head: str | None = None) -> bool:
        """Whether the index lags HEAD (holds neither HEAD's commit nor HEAD's tree).

        :param head: HEAD's commit when the caller has just resolved it (saves a git call).
        """
        return behind_head(self.repo, self._open_reader().meta, head or self.repo.resolve("HEAD"))

    @property
    def indexed_commit(self) -> str | None:
        """The commit the open index was built from (``None`` for staged content)."""
        return self._open_reader().meta.get("commit") or None


def behind_head(repo: Repo, meta: dict[str, str], head: str | None) -> bool:
    """Whether an index (its ``meta``) lags HEAD: it holds neither HEAD's commit nor HEAD's tree.

    Staged content has no commit; once committed, its tree is HEAD's tree.
    """
    if not head or meta.get("commit") == head:
        return False
    tree = meta.get("tree")
    return not (tree and tree == repo.tree_of(head))


def _one_line_with_remedy(message: str) -> str:
    """One line that says what is wrong and names the command that fixes it."""
    line = message.splitlines()[0] if message else "the index is damaged"
    if "git coderag index" in line:
        return line
    for tail in ("; rebuild the index", "; run `git coderag index --full` to rebuild"):
        line = line.replace(tail, "")
    return f"{line}; run `git coderag index --full` to rebuild it"


class _Reader:
    """A read-only view of one committed generation (manifest + stores)."""

    def __init__(self, data_dir: Path, settings: Settings) -> None:
        from coderag.ondisk.store_pair import IndexStores

        self.data_dir = data_dir
        if not data_dir.is_dir():
            raise IndexCorrupt(f"the index directory {data_dir.name} is missing")
        self.manifest = Manifest(data_dir / MANIFEST_NAME, readonly=True)
        try:
            self.meta = self.manifest.meta()
            if "generation" not in self.meta:  # CURRENT only ever names a completed index
                raise IndexCorrupt("the index manifest has no committed generation")
            version = self.meta.get("format_version")
            if version != str(FORMAT_VERSION):
                # Never read a layout we do not know: `index` rebuilds it (format_version is in its identity).
                raise IndexCorrupt(f"the index was written in format {version or 'unknown'} and this coderag "
                                    f"reads format {FORMAT_VERSION}: run `git coderag index` to rebuild it")
            self.generation = int(self.meta["generation"])
            dim = int(self.meta.get("dim", "0") or 0)
            if dim <= 0:
                raise IndexCorrupt("index manifest has no vector dimension")
            self.stores = IndexStores.open(data_dir, settings, dim, readonly=True)
        except BaseException:
            self.manifest.close()
            raise
        expected = int(self.meta.get("live_chunks", "0") or 0)
        for name, store in (("vector", self.stores.vectors), ("lexical", self.stores.lexical)):
            held = len(store)
            if held < expected:  # stores may hold more (dead labels), never fewer
                self.close()
                raise IndexCorrupt(f"the {name} store holds {held} chunks, the manifest lists {expected}")

    def is_current(self, data_dir: Path) -> bool:
        return data_dir == self.data_dir and self.manifest.generation == self.generation

    def close(self) -> None:
        self.stores.close()
        self.manifest.close()
