"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL from the pgserver wheel.

The embedded server lives in `<data dir>/pgdata`, is started on first use and left
running, so later runs (the app, `scrapy crawl`, the CLI) reuse it.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import psycopg
from psycopg import sql

from nocturne_crawl.config import Config

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "nocturne"


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in `data_dir/pgdata`; its admin URI."""
    import pgserver  # imported lazily: only the embedded default needs it

    pgdata = Path(data_dir) / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None leaves the server running after this process exits: the next
    # process (a crawl, the CLI) reuses it instead of paying for another start.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def with_database(uri: str, dbname: str) -> str:
    """The same server URI pointing at another database."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)


def ensure_database(admin_uri: str, dbname: str) -> None:
    """Create `dbname` on the server behind `admin_uri` when it does not exist yet."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            # Another process may create it between our check and our create.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def database_url(config: Config) -> str:
    """The conninfo for Nocturne's database, starting the embedded server if needed."""
    if config.database_url:
        return config.database_url
    admin = embedded_server_uri(config.data_dir)
    ensure_database(admin, EMBEDDED_DB_NAME)
    return with_database(admin, EMBEDDED_DB_NAME)


def redact(conninfo: str) -> str:
    """A conninfo safe to log: the password replaced."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparseable database url>"
    if info.get("password"):
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo(**info)
