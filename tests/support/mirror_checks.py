"""Comparing the local and the shared database after a mirror."""

from __future__ import annotations

import psycopg

CONTENT = "link, title, date, time, source, city, starts_at, status, updated_at"


def content(uri: str) -> set[tuple]:
    with psycopg.connect(uri) as conn:
        return set(conn.execute(f"SELECT {CONTENT} FROM events"))


def pending(uri: str) -> int:
    with psycopg.connect(uri) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE synced_at IS NULL").fetchone()[0]


def count(uri: str) -> int:
    with psycopg.connect(uri) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
