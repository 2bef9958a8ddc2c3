"""Many repositories at once, on Dask distributed: one task per repository, written straight to PostgreSQL.

With no scheduler address a ``LocalCluster`` of worker processes is started
for the run (and stopped after it).  Each task runs
:func:`~coderag_postgres.fleet.indexer.index_repository` on a worker; a big
repository's task hands its batches to the whole cluster (``worker_client``)
while it holds that repository's lock.  A task never raises for its
repository's own failure; a worker that dies takes only its task with it,
reported as that repository's error.
"""
from __future__ import annotations

from typing import Any
from typing import Callable
from typing import Iterator
from typing import Sequence

from coderag_postgres.fleet.indexer import SPLIT_FILES
from coderag_postgres.fleet.indexer import RepoResult
from coderag_postgres.fleet.indexer import index_repository
from coderag_postgres.fleet.indexer import run_batch
from coderag_postgres.fleet.sources import RepoSpec


def _fan_out_on_cluster(batches: list, context: dict[str, Any]) -> Iterator[tuple]:
    from distributed import as_completed
    from distributed import worker_client

    # worker_client() secedes this task's thread, so the batches can run on this worker too.
    with worker_client() as client:
        futures = client.map(run_batch, batches, context=context, pure=False)
        for future in as_completed(futures):
            yield future.result()


def _index_task(spec: RepoSpec, dsn: str, cache_dir: str, overrides: dict[str, str] | None,
                password_env: str, split_files: int) -> dict[str, Any]:
    return index_repository(spec, dsn, cache_dir, overrides, password_env, fan_out=_fan_out_on_cluster,
                            split_files=split_files).to_dict()


def _record_lost_task(dsn: str, password_env: str, name: str, message: str) -> None:
    """Say on the repository's row that its task was lost (the task itself could not)."""
    from coderag_postgres import db

    try:
        conn = db.connect(dsn, password_env, autocommit=True)
    except Exception:
        return
    try:
        conn.execute("UPDATE fleet_repos SET last_error = %s, last_error_at = now() WHERE name = %s",
                     (message[:500], name))
    except Exception:
        pass
    finally:
        conn.close()


def build_indexes(dsn: str, password_env: str = "") -> list[str]:
    """After a run: index the vector tables a first load left unindexed (see ``schema.build_vector_indexes``)."""
    from coderag_postgres import db
    from coderag_postgres.fleet import schema

    import psycopg

    from coderag.errors import StoreUnavailable

    conn = db.connect(dsn, password_env, autocommit=True)
    try:
        return schema.build_vector_indexes(conn)
    except psycopg.Error as exc:
        raise StoreUnavailable(db.describe(exc, dsn)) from None
    finally:
        conn.close()


def index_serially(specs: Sequence[RepoSpec], dsn: str, cache_dir: str, overrides: dict[str, str] | None = None,
                   password_env: str = "", progress: Callable[[RepoResult], None] | None = None) -> list[RepoResult]:
    """Every repository in this process, one after another (no cluster)."""
    results = []
    for spec in specs:
        result = index_repository(spec, dsn, cache_dir, overrides, password_env)
        results.append(result)
        if progress:
            progress(result)
    return results


def index_on_dask(specs: Sequence[RepoSpec], dsn: str, cache_dir: str, overrides: dict[str, str] | None = None,
                  password_env: str = "", scheduler: str = "", workers: int = 2,
                  split_files: int = SPLIT_FILES, progress: Callable[[RepoResult], None] | None = None) -> list[RepoResult]:
    """Every repository as a task on a Dask cluster (``scheduler`` address, or a new ``LocalCluster``)."""
    from distributed import Client
    from distributed import LocalCluster
    from distributed import as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=50)
        client = Client(cluster)
    try:
        futures = {client.submit(_index_task, spec, dsn, cache_dir, overrides, password_env, split_files,
                                 key=f"coderag-fleet-{spec.name}-{i}", pure=False): spec
                   for i, spec in enumerate(specs)}
        results: list[RepoResult] = []
        for future in as_completed(futures):
            spec = futures[future]
            try:
                result = RepoResult(**future.result())
            except Exception as exc:  # the worker died (killed, out of memory): only this repository fails
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                result = RepoResult(spec.name, status="error", error=f"{type(exc).__name__}: {first}"[:300])
                _record_lost_task(dsn, password_env, spec.name, result.error)
            results.append(result)
            if progress:
                progress(result)
        order = {spec.name: i for i, spec in enumerate(specs)}
        return sorted(results, key=lambda r: order.get(r.name, 0))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
