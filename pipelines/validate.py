"""Step 1: required fields, the city's local date and time, plain text, canonical URLs.

Every bound checked here mirrors a CHECK of the `events` table (migration 0001), so a
bad item is dropped and counted here and never reaches the database to be refused there.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from nocturne_crawl.cities import SOURCES, City, get_city
from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import combine_local, local_date_time, zone_named
from pipelines.drops import drop
from pipelines.fields import field_view, write_fields
from pipelines.text import plain_text

# The schema's limits (0001_initial.sql).
MAX_TITLE = 1000
MAX_LOCATION = 2000
MAX_DESCRIPTION = 20000
MAX_PRICE = 200
MAX_URL = 2048
MAX_SOURCE_ID = 200


_UNSAFE_URL_RE = re.compile("[\\s\x00-\x1f\x7f\ud800-\udfff]")
# The common image URL (ASCII host, printable ASCII after it), which urlsplit always
# splits into an http(s) scheme and a non-empty host: accepted without splitting it.
_PLAIN_HTTP_URL_RE = re.compile(r"(?i:https?)://[A-Za-z0-9.-]+(?::[0-9]+)?(?:[/?#][!-~]*)?")


class Invalid(ValueError):
    """An item that cannot be stored; args[0] is the reason counted in the stats."""


def _instant(value: object, zone: ZoneInfo) -> datetime | None:
    """An aware datetime from a datetime or ISO string; naive values are local to `zone`."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("invalid_start") from None
    if not isinstance(value, datetime):
        raise Invalid("invalid_start")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid("invalid_start") from None


def _start(adapter: dict[str, Any], city: City, zone: ZoneInfo) -> tuple[datetime, str, str | None]:
    """(starts_at in UTC, local date, local HH:MM or None for a date-only event)."""
    starts_at = _instant(adapter.get("starts_at"), zone)
    if starts_at is not None:
        day, clock = local_date_time(starts_at, city.tz)
        return starts_at, day, clock
    raw_day = adapter.get("date")
    if isinstance(raw_day, date) and not isinstance(raw_day, datetime):
        raw_day = raw_day.isoformat()
    if not raw_day:
        raise Invalid("missing_start")
    try:
        # A site that gives only a day: local midnight in the city, time unknown.
        midnight = combine_local(str(raw_day).strip(), None, city.tz)
        return midnight.astimezone(UTC), midnight.date().isoformat(), None
    except (ValueError, OverflowError):
        raise Invalid("invalid_start") from None


def _coordinates(lat: object, lng: object) -> tuple[float | None, float | None]:
    try:
        la, lo = float(lat), float(lng)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, None
    if not (math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180):
        return None, None
    return la, lo


def image_url(value: object) -> str | None:
    """An http(s) image URL as given (signed CDN URLs must keep their query), or None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL:
        return None
    if _PLAIN_HTTP_URL_RE.fullmatch(url):
        return url  # the common shape: the rule below would keep it too
    return http_url_by_splitting(url)


def http_url_by_splitting(url: str) -> str | None:
    """`url` when it is a safe http(s) URL with a host (checked with `urlsplit`), or None."""
    if _UNSAFE_URL_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)


def normalize_event(raw: Any) -> dict[str, Any]:
    """The row to store for one scraped item; raises Invalid(reason) when it cannot be."""
    adapter = raw if isinstance(raw, dict) else field_view(raw)
    source = adapter.get("source")
    if source not in SOURCES:
        raise Invalid("invalid_source")
    city = get_city(adapter.get("city")) if isinstance(adapter.get("city"), str) else None
    if city is None:
        raise Invalid("unknown_city")
    title = plain_text(adapter.get("title"), MAX_TITLE)
    if not title:
        raise Invalid("missing_title")
    raw_link = adapter.get("link")
    if not raw_link:
        raise Invalid("missing_link")
    link = canonical_link(raw_link)
    if link is None:
        raise Invalid("invalid_link")
    zone = zone_named(adapter.get("timezone")) or city.tz
    starts_at, day, clock = _start(adapter, city, zone)
    try:
        ends_at = _instant(adapter.get("ends_at"), zone)
    except Invalid:
        ends_at = None  # a bad end time loses the end, not the event
    if ends_at is not None and ends_at < starts_at:
        ends_at = None
    latitude, longitude = _coordinates(adapter.get("latitude"), adapter.get("longitude"))
    source_id = adapter.get("source_id")
    return {
        "title": title,
        "link": link,
        "date": day,
        "time": clock,
        "location": plain_text(adapter.get("location"), MAX_LOCATION),
        "description": plain_text(adapter.get("description"), MAX_DESCRIPTION, multiline=True),
        "source": source,
        "city": city.id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "timezone": zone.key,
        "latitude": latitude,
        "longitude": longitude,
        "is_online": bool(adapter.get("is_online")),
        "is_free": _flag(adapter.get("is_free")),
        "price": plain_text(adapter.get("price"), MAX_PRICE),
        "image_url": image_url(adapter.get("image_url")),
        "source_id": plain_text(source_id, MAX_SOURCE_ID) if source_id is not None else None,
    }


class ValidatePipeline:
    """Normalizes each item in place; drops (and counts) the ones that cannot be stored."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        try:
            row = normalize_event(field_view(item))
        except Invalid as exc:
            raise drop(self.stats, exc.args[0], _describe(item)) from None
        except DropItem:
            raise
        except Exception as exc:  # never let one odd item stop the crawl
            raise drop(self.stats, "invalid_item", f"{type(exc).__name__}: {exc}") from None
        write_fields(item, row)
        return item


def _describe(item: Any) -> str:
    try:
        fields = field_view(item)
        return f"{fields.get('source')} {str(fields.get('link'))[:200]}"
    except Exception:
        return type(item).__name__
