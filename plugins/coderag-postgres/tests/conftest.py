"""A real PostgreSQL 16 with pgvector (the pgserver wheel) for the whole session, on a unix socket."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The server object; ``pg_server.get_uri()`` is a DSN for its ``postgres`` database."""
    import pgserver

    folder = tmp_path_factory.mktemp("pg")
    # pgserver looks up XDG_RUNTIME_DIR through platformdirs; give it a private one.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("xdg")))
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
