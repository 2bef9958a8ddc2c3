"""A real PostgreSQL 16 with pgvector (the pgserver wheel) for the whole session, on a unix socket."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The server object; ``pg_server.get_uri()`` is a DSN for its ``postgres`` database."""
    # pgserver looks up XDG_RUNTIME_DIR through platformdirs (at import); give it a private one.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = tmp_path_factory.mktemp("xdg")
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pgserver

    folder = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def pg_dsn(pg_server, request):
    """A DSN for a fresh database of the session's server, dropped after the test."""
    import psycopg

    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.replace("/postgres?", f"/{name}?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_db(pg_server):
    """``make_db(name)``: a DSN for another fresh database of the session's server."""
    import psycopg

    admin = pg_server.get_uri()
    made = []

    def make(name: str) -> str:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin.replace("/postgres?", f"/{name}?")

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def dask_cluster():
    """A real Dask LocalCluster with 2 worker processes for the session."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=50)
    yield cluster
    cluster.close()
