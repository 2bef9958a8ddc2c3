"""Connecting to PostgreSQL: where the DSN comes from, one-line errors, no secret in any message.

The DSN is read, in order, from the backend option ``dsn``, from ``git config
coderag.postgres.dsn`` of the repository that owns the store's directory, and
from ``$CODERAG_POSTGRES_DSN``.  A password should not be written into git
config: ``coderag.postgres.password-env`` (or the option ``password_env``)
names an environment variable that holds it, and libpq's own ``PGPASSWORD``
and ``~/.pgpass`` work as usual.  The password never reaches an error message,
``git coderag status`` or the index's recorded settings.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from coderag.errors import ConfigError
from coderag.errors import StoreUnavailable

DSN_ENV = "CODERAG_POSTGRES_DSN"
CONNECT_TIMEOUT_S = 10

_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with any password of a URL or keyword DSN replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def git_dir_of(directory: Path) -> Path | None:
    """The ``.git`` folder that holds ``directory`` (a store lives under ``.git/coderag``)."""
    for parent in [directory, *directory.parents]:
        if parent.name == "coderag" and (parent.parent / "HEAD").exists():
            return parent.parent
    return None


def _git_config(git_dir: Path, key: str) -> str:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "config", "--get", key],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def resolve_dsn(options: dict[str, Any], directory: Path | None = None) -> tuple[str, str]:
    """``(dsn, password_env)`` from the options, the owning repository's git config or the environment."""
    dsn = str(options.get("dsn") or "")
    password_env = str(options.get("password_env") or "")
    git_dir = git_dir_of(Path(directory).resolve()) if directory is not None else None
    if git_dir is not None:
        dsn = dsn or _git_config(git_dir, "coderag.postgres.dsn")
        password_env = password_env or _git_config(git_dir, "coderag.postgres.password-env")
    dsn = dsn or os.environ.get(DSN_ENV, "")
    if not dsn:
        raise ConfigError("no PostgreSQL DSN: set `git config coderag.postgres.dsn postgresql://user@host/db` "
                          f"(or ${DSN_ENV})")
    return dsn, password_env


def connect_kwargs(password_env: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "coderag"}
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"coderag.postgres.password-env names ${password_env}, which is not set")
        kwargs["password"] = password
    return kwargs


def describe(exc: BaseException, dsn: str = "") -> str:
    """One line for a database error, with the server named and no password in it."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f" ({redact(dsn)})" if dsn else ""
    return redact(f"PostgreSQL{where}: {first}")


def connect(dsn: str, password_env: str = "", *, autocommit: bool = False, **kwargs: Any):
    """A psycopg connection, or :class:`StoreUnavailable` with one clean line."""
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=autocommit, **connect_kwargs(password_env), **kwargs)
    except psycopg.Error as exc:
        raise StoreUnavailable(describe(exc, dsn)) from None


def _locked_version(conn, component: str) -> int:
    """Inside a transaction: take the schema lock, then ``component``'s recorded version (0 if none)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('coderag schema'))")
    conn.execute("CREATE TABLE IF NOT EXISTS coderag_schema (component text PRIMARY KEY, version int NOT NULL)")
    row = conn.execute("SELECT version FROM coderag_schema WHERE component = %s", (component,)).fetchone()
    return row[0] if row else 0


def _refuse_newer(component: str, have: int, wanted: int) -> None:
    if have > wanted:
        raise ConfigError(f"the database's {component} schema is version {have}, newer than this "
                          f"coderag-postgres knows ({wanted}): upgrade coderag-postgres")


def ensure_schema(conn, component: str, migrations: list[str]) -> None:
    """Create or check ``component``'s tables; ``migrations[i]`` takes version ``i`` to ``i + 1``.

    An empty database gets every migration.  A database at an older version is
    not changed behind the user's back: it names the command that migrates it.
    A newer one (written by a newer coderag-postgres) is refused.
    """
    wanted = len(migrations)
    with conn.transaction():
        have = _locked_version(conn, component)
        if have == wanted:
            return
        _refuse_newer(component, have, wanted)
        if have:
            raise ConfigError(f"the database's {component} schema is version {have}, this coderag-postgres "
                              f"needs {wanted}: run `coderag-fleet migrate --dsn ...`")
        apply_migrations(conn, component, migrations, 0)


def migrate_schema(conn, component: str, migrations: list[str]) -> tuple[int, int]:
    """Bring ``component``'s tables to the newest version; ``(version before, version after)``."""
    with conn.transaction():
        have = _locked_version(conn, component)
        _refuse_newer(component, have, len(migrations))
        return have, apply_migrations(conn, component, migrations, have)


def apply_migrations(conn, component: str, migrations: list[str], have: int) -> int:
    """Run the migrations after version ``have`` (inside the caller's transaction); the new version."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for sql in migrations[have:]:
        conn.execute(sql)
    conn.execute("INSERT INTO coderag_schema (component, version) VALUES (%s, %s) "
                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (component, len(migrations)))
    return len(migrations)


def schema_version(conn, component: str) -> int:
    """The version of ``component``'s tables in the database, 0 when it has none (nothing is written)."""
    if conn.execute("SELECT to_regclass('coderag_schema')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT version FROM coderag_schema WHERE component = %s", (component,)).fetchone()
    return row[0] if row else 0
