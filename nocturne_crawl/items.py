"""The one normalized event item every spider yields (read through `ItemAdapter`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass
class EventItem:
    """One event, in the shape of the `events` table.

    Spiders fill what their site gives; the validate pipeline derives `date`/`time` from
    `starts_at` in the event's (or city's) time zone, canonicalizes `link` and cleans text.
    """

    title: str | None = None
    link: str | None = None
    source: str | None = None
    city: str | None = None
    date: str | None = None  # local YYYY-MM-DD
    time: str | None = None  # local HH:MM, None when the site gives no time
    starts_at: datetime | None = None  # timezone-aware
    ends_at: datetime | None = None
    timezone: str | None = None  # IANA name of the event's own zone
    location: str | None = None
    description: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    is_online: bool = False
    is_free: bool | None = None
    price: str | None = None
    image_url: str | None = None
    source_id: str | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}


# The `events` columns a crawl writes, in the one order every row built from an item
# uses (the store's COPY, the matching queries, the mirror): EventItem's fields. The rest
# of a row is the database's (id, status, synced_at and the times).
EVENT_COLUMNS: tuple[str, ...] = EventItem.field_names()
# What travels between installs: the event and its history, not local ids or sync marks.
SHARED_COLUMNS: tuple[str, ...] = (
    *EVENT_COLUMNS,
    "status",
    "last_scraped",
    "created_at",
    "updated_at",
)
