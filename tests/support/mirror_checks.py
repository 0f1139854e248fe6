"""Comparing the local and the shared database after a mirror."""

from __future__ import annotations

import psycopg

from tests.support.listings import eventbrite, meetup

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
    """The Eventbrite listing, poorer, and the Meetup one of the same event, richer."""
    poor = eventbrite()
    rich = meetup(
        starts_at=poor.starts_at,
        location=poor.location,
        description="Bring earplugs",
        image_url="https://img.example/x.jpg",
        price="$10",
    )
    return poor, rich
