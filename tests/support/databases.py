"""Real PostgreSQL databases for tests: a fresh, migrated database per test session.

The server is `DATABASE_URL`'s when that is set (CI also runs the suite against the
machine's PostgreSQL this way), otherwise the embedded pgserver in `.nocturne/pgdata-test`.
Every database a test makes has a unique name, so parallel runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.db import embedded_server_uri, with_database
from nocturne_crawl.migrate import migrate


def admin_uri() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_server_uri(REPO_ROOT / ".nocturne" / "test")


def create_database(admin: str, prefix: str = "nocturne_test", migrated: bool = True) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    uri = with_database(admin, name)
    if migrated:
        migrate(uri)
    return uri


def drop_database(admin: str, uri: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(uri)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def truncate_all(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )
        ]
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )


@contextmanager
def temporary_role(
    conn: psycopg.Connection, prefix: str, *grants: str, options: str = ""
) -> Iterator[str]:
    """A role made for one test, with each of `grants` ("SELECT ON events", ...) given to
    it; dropped afterwards with whatever it owns. Roles are cluster-wide, so the name is
    unique: a leftover of an interrupted run cannot collide. `conn` must be autocommit."""
    role = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn.execute(f"CREATE ROLE {role} {options}")
    try:
        for grant in grants:
            conn.execute(f"GRANT {grant} TO {role}")
        yield role
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
