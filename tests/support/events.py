"""Rows for tests: insert events straight into the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from nocturne_crawl.localtime import local_date_time


def insert_event(
    conn: psycopg.Connection,
    *,
    city: str = "ca--los-angeles",
    tz: str = "America/Los_Angeles",
    starts_at: datetime | None = None,
    title: str = "Warehouse Rave",
    link: str | None = None,
    source: str = "eventbrite",
    status: str = "active",
    **extra,
) -> int:
    starts_at = starts_at or datetime.now(UTC) + timedelta(days=1)
    day, clock = local_date_time(starts_at, ZoneInfo(tz))
    row = {
        "title": title,
        "link": link or f"https://www.eventbrite.com/e/test-{abs(hash((title, starts_at, city)))}",
        "date": day,
        "time": clock,
        "location": "Downtown LA",
        "description": "Underground electronic music",
        "source": source,
        "city": city,
        "starts_at": starts_at,
        "timezone": tz,
        "status": status,
        **extra,
    }
    cols = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    return conn.execute(
        f"INSERT INTO events ({cols}) VALUES ({marks}) RETURNING id", list(row.values())
    ).fetchone()[0]
