"""`GET /events/{city}.ics`: the same selection as `GET /events/{city}`, as an RFC 5545 feed."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from psycopg import sql
from starlette.requests import Request
from starlette.responses import Response

from api.events import EVENT_COLUMNS, fetch_events, parse_event_query
from api.requests import require_city
from nocturne_crawl.cities import City

PRODID = "-//Nocturne//City events feed//EN"
FEED_COLUMNS = sql.SQL("{}, created_at, updated_at").format(EVENT_COLUMNS)
# Calendar apps poll feeds; five minutes matches the /cities cache and is far below the
# crawl interval.
CACHE_CONTROL = "max-age=300"


def event_uid(link: str) -> str:
    """A UID that stays the same for an event across crawls and installs: from its link."""
    return hashlib.sha256(link.encode()).hexdigest()[:32] + "@nocturne"


@lru_cache(maxsize=64)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> bytes:
    # Building a VTIMEZONE walks every offset change in the range: cached per zone and span.
    component = icalendar.Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year, 12, 31)
    )
    return component.to_ical()


def city_timezone(city: City, rows: list[dict[str, Any]]) -> icalendar.Timezone:
    """The city's VTIMEZONE, covering every event in the feed (and this year at least)."""
    years = [datetime.now(UTC).year]
    for row in rows:
        years.append(row["starts_at"].year)
        if row["ends_at"] is not None:
            years.append(row["ends_at"].year)
    ical = _vtimezone(city.timezone, min(years), max(years) + 1)
    return icalendar.Timezone.from_ical(ical)


def feed_event(row: dict[str, Any], zone: ZoneInfo) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", event_uid(row["link"]))
    event.add("dtstamp", row["updated_at"].astimezone(UTC))
    event.add("created", row["created_at"].astimezone(UTC))
    event.add("last-modified", row["updated_at"].astimezone(UTC))
    event.add("summary", row["title"])
    if row["time"] is None:
        # Only the day is known: an all-day event on the local date.
        event.add("dtstart", date.fromisoformat(row["date"]))
    else:
        event.add("dtstart", row["starts_at"].astimezone(zone))
        if row["ends_at"] is not None:
            event.add("dtend", row["ends_at"].astimezone(zone))
    event.add("url", row["link"])
    if row["location"]:
        event.add("location", row["location"])
    if row["description"]:
        event.add("description", row["description"])
    if row["latitude"] is not None and row["longitude"] is not None:
        event.add("geo", (row["latitude"], row["longitude"]))
    event.add("status", "CANCELLED" if row["status"] == "cancelled" else "CONFIRMED")
    event.add("categories", [row["source"]])
    return event


def build_calendar(city: City, rows: list[dict[str, Any]], public_url: str) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Nocturne: {city.name}")
    cal.add("x-wr-timezone", city.timezone)
    cal.add("x-published-ttl", "PT1H")
    cal.add("source", f"{public_url.rstrip('/')}/events/{city.id}.ics")
    cal.add_component(city_timezone(city, rows))
    zone = city.tz
    for row in rows:
        cal.add_component(feed_event(row, zone))
    return cal.to_ical()


def _not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        # RFC 9110: If-None-Match wins over If-Modified-Since; weak comparison for GET.
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        since_at = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since_at


async def events_calendar(request: Request) -> Response:
    """
    summary: A city's events as an iCalendar (RFC 5545) feed, with the same filters as /events/{city}.
    description: >
      Cancelled events are included by default (STATUS:CANCELLED), so subscribed calendars
      learn about cancellations; pass include_cancelled=false to leave them out.
    parameters:
      - {name: city, in: path, required: true, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
      - {name: start_date, in: query, schema: {type: string, format: date}}
      - {name: end_date, in: query, schema: {type: string, format: date}}
      - {name: include_cancelled, in: query, schema: {type: boolean, default: true}}
      - {name: free, in: query, schema: {type: boolean}}
      - {name: online, in: query, schema: {type: string, enum: [include, exclude, only], default: include}}
      - {name: q, in: query, schema: {type: string, maxLength: 200}}
      - {name: If-None-Match, in: header, schema: {type: string}}
      - {name: If-Modified-Since, in: header, schema: {type: string}}
    responses:
      200:
        description: The calendar, with ETag and Last-Modified.
        content:
          text/calendar: {schema: {type: string}}
      304: {description: Not modified since the ETag or date the client sent.}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    city = require_city(request.path_params["city"])
    selection = parse_event_query(request, city, include_cancelled_default=True)
    selection.columns = FEED_COLUMNS
    rows = await fetch_events(request, selection)
    body = build_calendar(city, rows, request.app.state.config.public_url)
    # The body is deterministic (DTSTAMP is the row's updated_at, not the clock), so its
    # hash is a strong validator.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    last_modified = max((r["updated_at"] for r in rows), default=None)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    if _not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{city.id}.ics"'
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
