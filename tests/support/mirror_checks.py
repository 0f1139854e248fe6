"""Comparing the local and the shared database after a mirror."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tests.support.pipeline_runs import make_item

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


def links(uri: str) -> set[str]:
    with psycopg.connect(uri) as conn:
        return {r[0] for r in conn.execute("SELECT link FROM events")}


def tombstones(uri: str) -> set[str]:
    """Deleted links the mirror has still to delete on the shared side."""
    with psycopg.connect(uri) as conn:
        return {r[0] for r in conn.execute("SELECT link FROM events_deleted")}


def poorer_and_richer_listing():
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)
    place = dict(location="The Warehouse, 100 Main St, Los Angeles", starts_at=start)
    poor = make_item(
        title="Warehouse Night: Techno Til Dawn",
        link="https://www.eventbrite.com/e/warehouse-night-777",
        latitude=34.0500,
        longitude=-118.2400,
        description=None,
        image_url=None,
        source_id=None,
        **place,
    )
    rich = make_item(
        title="WAREHOUSE NIGHT – Techno til Dawn!",
        link="https://www.meetup.com/la-techno/events/301",
        source="meetup",
        latitude=34.0508,
        longitude=-118.2405,
        description="Bring earplugs",
        image_url="https://img.example/x.jpg",
        price="$10",
        source_id=None,
        **place,
    )
    return poor, rich
