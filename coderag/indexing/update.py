"""One update of the index: from what the manifest holds to what git holds.

The update is all-or-nothing (see :mod:`coderag.ondisk.manifest` for the generation
scheme): rows of the new generation and store additions are written first,
the stores commit, and one small SQLite transaction then makes the new
generation the committed one.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable
from typing import Iterator

import numpy as np

from coderag.indexing import changes
from coderag.indexing import pool
from coderag.config import Settings
from coderag.analysis.documents import DOCUMENTS_VERSION
from coderag.errors import CoderagError
from coderag.errors import EmbedderChanged
from coderag.errors import IndexCorrupt
from coderag.git.plumbing import Entry
from coderag.git.plumbing import Repo
from coderag.ondisk.manifest import FORMAT_VERSION
from coderag.ondisk.manifest import FileRow
from coderag.ondisk.manifest import Manifest
from coderag.indexing.file_pipeline import BatchResult
from coderag.indexing.request_packer import RequestPacker
from coderag.indexing.file_pipeline import BatchWorker
from coderag.indexing.file_pipeline import PreparedFile
from coderag.indexing.file_pipeline import split_readable
from coderag.ondisk.layout import MANIFEST_NAME
from coderag.ondisk.layout import IndexLocation
from coderag.ondisk.layout import WriteLock
from coderag.ondisk.store_pair import IndexStores
from coderag.indexing.report import UpdateReport

from coderag.indexing.report import ERROR_EXAMPLES


class StoreFailed(CoderagError):
    """A store could not take or keep the update's data (disk full, a store bug); nothing changed."""


@contextlib.contextmanager
def store_stage(action: str, store: str = "stores") -> Iterator[None]:
    """Turn a store's failure into one line naming the stage; the update then rolls back."""
    try:
        yield
    except CoderagError:
        raise
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise StoreFailed(f"the {store} failed ({action}): {message}; the index is unchanged") from exc


def commit_stores(stores: "IndexStores") -> None:
    """Commit both stores; side by side when the vector store allows it.

    A cold build's last graph inserts (native code) and the lexical store's
    last segment (Python) are both the tail of an update: run together, the
    tail is the longer of the two instead of their sum.
    """
    if not getattr(stores.vectors, "commit_beside_lexical", False):
        with store_stage("commit", "vector store"):
            stores.vectors.commit()
        with store_stage("commit", "lexical store"):
            stores.lexical.commit()
        return
    failure: list[BaseException] = []

    def commit_vectors() -> None:
        try:
            with store_stage("commit", "vector store"):
                stores.vectors.commit()
        except BaseException as exc:  # re-raised on the updating thread
            failure.append(exc)

    thread = threading.Thread(target=commit_vectors, name="vector-commit")
    thread.start()
    try:
        with store_stage("commit", "lexical store"):
            stores.lexical.commit()
    finally:
        thread.join()  # never leave a commit running behind a failure or Ctrl-C
    if failure:
        raise failure[0]


def settings_identity(settings: Settings, embedder_model_id: str, dim: int) -> dict[str, str]:
    """What the stored index depends on: a change of any value means a rebuild."""
    return {
        "format_version": str(FORMAT_VERSION),
        "chunker": settings.identity("chunker"),
        # How chunks become keyword documents (tokenising, stemming): a change means a rebuild.
        "documents": DOCUMENTS_VERSION,
        "embedder": embedder_model_id,
        "dim": str(dim),
        "vector_store": settings.identity("vector_store"),
        "lexical_store": settings.identity("lexical_store"),
    }


class Updater:
    """Brings one repository's index up to date with a target tree."""

    def __init__(self, repo: Repo, settings: Settings, progress: Callable[[str, int, int], None] | None = None):
        self.repo = repo
        self.settings = settings
        self.location = IndexLocation(repo.index_dir())
        self.progress = progress or (lambda stage, done, total: None)
        self._worker: BatchWorker | None = None

    def run(self, target: str = "HEAD", full: bool = False, wait: bool = True,
            entries: dict[str, Entry] | None = None, commit: str | None = None,
            tree: str | None = None) -> UpdateReport:
        """Update to ``target`` under the write lock.

        :param entries: the tree to index when it is not read from git now:
            a staging-area snapshot taken earlier, or a work-tree view.
        :param commit: the commit recorded for ``entries`` (default: none for
            the staging area, else ``target`` resolved).
        :param tree: the tree id of ``entries`` when known (default: the commit's tree).
        """
        lock = WriteLock(self.location.root)
        lock.acquire(wait=wait)
        try:
            try:
                return self._run_locked(target, full, entries, commit, tree)
            except EmbedderChanged as exc:
                # The service now embeds differently: rebuild with a fresh embedder that learns the
                # new model from its first answer, and never reuse vectors of the old one.
                self.close()
                self._worker = None
                return self._run_locked(target, True, entries, commit, tree, changed=str(exc))
        finally:
            # The last connection to close checkpoints SQLite's WAL into the manifest file.
            self.close()
            lock.release()

    def close(self) -> None:
        """Release open files between runs (the loaded model is kept for the next run)."""
        if self._worker is not None:
            self._worker.use_manifest(None)

    # ------------------------------------------------------------------
    def _run_locked(self, target: str, full: bool, entries: dict[str, Entry] | None = None,
                    commit: str | None = None, tree: str | None = None, changed: str = "") -> UpdateReport:
        started = time.perf_counter()
        report = UpdateReport(target=target, full=full)
        if commit is None and not target.startswith(":"):  # ":staged" and other pseudo-targets have none
            commit = self.repo.resolve(target)
            if commit is None:
                raise CoderagError("HEAD has no commits yet (unborn branch): commit something, or use --staged")
        report.commit = commit
        listed = entries is None and commit is not None  # the rows will hold exactly the commit's tree
        tree = tree or (self.repo.tree_of(commit) if commit else "") or ""

        if self._worker is None:  # kept across runs: a watch updates often and the model loads once
            self._worker = BatchWorker(str(self.repo.root), self.settings, None)
        worker = self._worker
        recorded, problem = self._read_recorded()
        if changed:  # the service changed its model: nothing recorded applies any more
            recorded = {}
        resume = getattr(worker.embedder, "resume", None)
        if resume is not None and recorded:  # a service embedder need not ask what the index knows
            resume(recorded)
        stats = getattr(worker.embedder, "service_stats", None)
        before = stats() if stats else {}
        wanted = settings_identity(self.settings, worker.embedder.model_id, worker.embedder.dim)
        if stats:  # a first build asks the service once for its vector size
            report.service = {k: v - before.get(k, 0) for k, v in stats().items()}
        data_dir, reason = self._choose_data_dir(wanted, full, recorded, problem)
        reason = changed or reason
        opened = None
        if not reason:
            try:
                opened = self._open_live(data_dir, worker.embedder.dim)
            except IndexCorrupt as exc:  # rebuild beside it; the damaged one is removed at the switch
                data_dir, reason = self.location.new_data_dir(), f"the index was damaged: {exc}"
        report.rebuilt_because = reason
        fresh = reason != ""
        if opened is None:
            opened = (Manifest(data_dir / MANIFEST_NAME),
                      IndexStores.open(data_dir, self.settings, worker.embedder.dim, readonly=False))
        manifest, stores = opened
        try:
            if fresh and self._same_model(recorded, wanted, worker):
                # Same model: a rebuild (--full, another chunker) reuses every vector already computed.
                manifest.seed_vectors(self.location.current() / MANIFEST_NAME)
            worker.use_manifest(str(data_dir / MANIFEST_NAME))
            generation = manifest.generation + 1
            work = changes.from_tree_diff(self.repo, manifest, recorded.get("listed_tree", ""), tree) \
                if listed and not fresh else None
            if work is None:
                work = changes.from_listing(entries if entries is not None else self.repo.entries(commit or target),
                                            manifest.live_files())
            to_remove, to_add = work.to_remove, work.to_add
            report.files_unchanged, report.files_removed = work.unchanged, work.removed
            report.chunks_removed = len(manifest.chunk_labels_for_paths(to_remove, manifest.generation))
            live_before = manifest.live_chunk_count() if fresh or "live_chunks" not in recorded \
                else int(recorded["live_chunks"])
            manifest.begin()
            for path in to_remove:
                manifest.kill_path(path, generation)
            manifest.commit()
            self._add_files(to_add, manifest, stores, worker, generation, report)
            t0 = time.perf_counter()
            self.progress("commit", 0, 1)
            with store_stage("delete"):
                stores.delete(manifest.dead_labels())
            commit_stores(stores)
            self.progress("commit", 1, 1)
            report.seconds["store_commit"] = time.perf_counter() - t0
            manifest.begin()
            manifest.flip(generation, {**wanted, **self._embedder_meta(worker), "target": target,
                                       "commit": commit or "",
                                       "indexed_at": time.time(),
                                       "tree": tree, "listed_tree": tree if listed else "",
                                       "live_chunks": live_before + report.chunks_added - report.chunks_removed})
            manifest.purge_dead_before(generation)
            manifest.commit()
            report.generation = generation
        except BaseException:
            manifest.rollback()
            stores.close()
            worker.use_manifest(None)  # before the writer: the last to close checkpoints the WAL
            manifest.close()
            if fresh:  # a half-built fresh index is useless; the old one stays live
                import shutil

                shutil.rmtree(data_dir, ignore_errors=True)
            raise
        stores.close()
        worker.use_manifest(None)
        manifest.close()
        if fresh:
            self.location.switch(data_dir)
        report.seconds["total"] = time.perf_counter() - started
        report.cpu_seconds, peak = pool.resource_usage()
        report.peak_rss_mb.update(peak)
        return report

    def _read_recorded(self) -> tuple[dict[str, str], str]:
        """``(meta of the live index, "")``, or ``({}, why there is none to update)``.

        Read once per update: the embedder resumes from it, the data directory is chosen by it.
        """
        current = self.location.current()
        if current is None or not (current / MANIFEST_NAME).exists():
            return {}, "no index yet"
        try:
            existing = Manifest(current / MANIFEST_NAME, readonly=True)
            try:
                meta = existing.meta()
            finally:
                existing.close()
        except CoderagError as exc:
            return {}, f"the index was damaged: {str(exc).splitlines()[0]}"
        except sqlite3.Error as exc:
            return {}, f"the index was damaged: {exc}"
        if meta.get("generation") is None:
            return {}, "the old index never completed"
        return meta, ""

    def _same_model(self, recorded: dict[str, str], wanted: dict[str, str], worker: BatchWorker) -> bool:
        """Whether the live index's vectors came from the model this update embeds with."""
        if not recorded or any(recorded.get(k) != wanted[k] for k in ("embedder", "dim")):
            return False
        return all(recorded.get(k, "") == v for k, v in self._embedder_meta(worker).items())

    @staticmethod
    def _embedder_meta(worker: BatchWorker) -> dict[str, str]:
        """What a service embedder records beside its model id (the model the server named)."""
        index_meta = getattr(worker.embedder, "index_meta", None)
        return dict(index_meta()) if index_meta is not None else {}

    def _choose_data_dir(self, wanted: dict[str, str], full: bool, recorded: dict[str, str],
                         problem: str) -> tuple[Path, str]:
        if full:
            return self.location.new_data_dir(), "--full"
        if problem:
            return self.location.new_data_dir(), problem
        for key, value in wanted.items():
            if recorded.get(key) != value:
                return self.location.new_data_dir(), f"{key} changed ({recorded.get(key) or 'none'} -> {value})"
        current = self.location.current()
        self.location.remove_stale(keep=current)  # builds abandoned by a crash
        return current, ""

    def _open_live(self, data_dir: Path, dim: int) -> tuple[Manifest, IndexStores]:
        """Open the live index for writing, undo a crashed update, check the stores hold it all."""
        manifest = Manifest(data_dir / MANIFEST_NAME)
        stores = None
        try:
            stores = IndexStores.open(data_dir, self.settings, dim, readonly=False)
            try:
                self._recover(manifest, stores)
                live = manifest.live_chunk_count()
            except sqlite3.DatabaseError as exc:
                raise IndexCorrupt(f"the manifest is unreadable ({exc})") from None
            for name, store in (("vector", stores.vectors), ("lexical", stores.lexical)):
                if len(store) < live:
                    raise IndexCorrupt(f"the {name} store holds {len(store)} chunks, the manifest {live}")
            return manifest, stores
        except BaseException:
            if stores is not None:
                stores.close()
            manifest.rollback()
            manifest.close()
            raise

    def _recover(self, manifest: Manifest, stores: "IndexStores") -> None:
        """Undo what a crashed update left: rows and store labels of an uncommitted generation."""
        orphans = manifest.uncommitted_labels()
        if orphans or manifest.db.execute(
                "SELECT 1 FROM files WHERE born > ? OR died > ? LIMIT 1",
                (manifest.generation, manifest.generation)).fetchone():
            stores.delete(orphans)
            stores.commit()
            manifest.begin()
            manifest.rollback_uncommitted()
            manifest.commit()

    # ------------------------------------------------------------------
    def _add_files(self, entries, manifest: Manifest, stores, worker: BatchWorker, generation: int,
                   report: UpdateReport) -> None:
        skipped, readable, sizes = split_readable(self.repo, entries, self.settings.max_file_bytes)
        for path, blob, reason in skipped:
            self._record_file(manifest, PreparedFile(path, blob, "", "skipped", reason), generation, report)
        manifest.commit_if_open()
        pool_plan = pool.plan(readable, sizes, self.settings.workers, self.settings.batch_files)
        report.workers = pool_plan.workers
        total = len(readable)
        done = 0
        self.progress("files", 0, total)
        next_label = manifest.next_label()
        chunks = embedded = 0
        packer = RequestPacker.for_worker(worker)
        worker.defer_embedding = packer is not None  # before the pool forks: the workers inherit it
        try:
            results = pool.run(pool_plan, worker, worker.manifest_path)
            if packer is not None:  # the writer embeds, many batches' texts to a request
                results = packer.embed(results)
            for result in results:
                done += len(result.files)
                chunks += len(result.rows)
                embedded += len(result.new_vectors)
                self.progress("files", done, total)
                self.progress("chunks", chunks, 0)
                self.progress("embeddings", embedded, 0)
                if result.service:
                    self._report_service(result.service, worker, report)
                next_label = self._store_batch(result, manifest, stores, generation, next_label, report)
        finally:
            worker.defer_embedding = False

    def _report_service(self, service: dict[str, int], worker: BatchWorker, report: UpdateReport) -> None:
        for key, value in service.items():
            report.service[key] = report.service.get(key, 0) + value
        in_flight = getattr(worker.embedder, "requests_in_flight", None)
        self.progress("in_flight", in_flight() if in_flight else 0, 0)
        self.progress("retries", report.service.get("retries", 0), 0)
        self.progress("tokens", report.service.get("tokens", 0) or report.service.get("chars", 0) // 4, 0)
        self.progress("requests", report.service.get("requests", 0), 0)

    def _record_file(self, manifest: Manifest, prepared: PreparedFile, generation: int, report: UpdateReport) -> None:
        if not manifest.db.in_transaction:
            manifest.begin()
        manifest.add_file(FileRow(prepared.path, prepared.blob, prepared.language or "",
                                  prepared.status, prepared.reason), generation)
        if prepared.status == "skipped":
            report.files_skipped += 1
            if len(report.skipped_examples) < ERROR_EXAMPLES:
                report.skipped_examples.append({"path": prepared.path, "reason": prepared.reason})
        elif prepared.status == "error":
            report.errors[prepared.stage or "read"] = report.errors.get(prepared.stage or "read", 0) + 1
            if len(report.error_examples) < ERROR_EXAMPLES:
                report.error_examples.append({"path": prepared.path, "stage": prepared.stage,
                                              "reason": prepared.reason})
        else:
            report.files_added += 1

    def _store_batch(self, result: BatchResult, manifest: Manifest, stores, generation: int, next_label: int,
                     report: UpdateReport) -> int:
        t0 = time.perf_counter()
        labels = np.arange(next_label, next_label + len(result.rows), dtype=np.int64)
        manifest.begin()
        for prepared in result.files:
            self._record_file(manifest, prepared, generation, report)
        manifest.add_chunks([(int(label), *row) for label, row in zip(labels, result.rows)], generation)
        if result.new_vectors:
            own = result.vectors if result.text_vectors is None else result.text_vectors  # the cache keeps text vectors
            new = own[result.new_vectors].astype(np.float16)
            manifest.add_vectors([(result.rows[i][7], new[j].tobytes()) for j, i in enumerate(result.new_vectors)])
        manifest.commit()
        if len(labels):
            with store_stage("add"):
                stores.add(labels, result.vectors, result.lexical)
        report.chunks_added += len(result.rows)
        report.chunks_embedded += len(result.new_vectors)
        report.chunks_cached += len(result.rows) - len(result.new_vectors)
        self.progress("storage", report.chunks_added, 0)
        report.bytes_read += result.bytes_read
        if result.peak_rss_mb:
            report.peak_rss_mb["workers"] = max(report.peak_rss_mb.get("workers", 0.0), result.peak_rss_mb)
        for stage, secs in result.seconds.items():
            report.seconds[stage] = report.seconds.get(stage, 0.0) + secs
        report.seconds["store"] = report.seconds.get("store", 0.0) + time.perf_counter() - t0
        return next_label + len(result.rows)
