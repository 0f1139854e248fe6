"""Eventbrite: the city search pages `/d/<slug>/all-events/?page=N`.

Events come from `window.__SERVER_DATA__` (search page: `search_data.events.results`;
category pages: `event_data.<search>.events.results`; city landing page:
`buckets[].events[]`), and from the JSON-LD ItemList only when none of those is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from scrapy.http import Response

from nocturne_crawl.embedded_json import decode_assignment, ld_json_blocks
from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import combine_local, known_timezone
from spiders.base import CitySpider, browser_globals, clean_title

SERVER_DATA_MARKER = "window.__SERVER_DATA__ ="
_EVENT_ID_RE = re.compile(r"-(\d+)/?(?:\?.*)?$")


@dataclass
class ListingPage:
    """What one Eventbrite page holds: organic events and how far pagination goes."""

    events: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "none"  # search | category | buckets | jsonld | none
    page_count: int | None = None
    damaged: bool = False  # the embedded data is there but broken, or the page is cut


class EventbriteSpider(CitySpider):
    name = "eventbrite"
    base_url_setting = "EVENTBRITE_BASE_URL"

    async def start(self):
        yield self.page_request(self.listing_url(1), self.parse, meta={"page": 1})

    def listing_url(self, page: int) -> str:
        slug = self.city.eventbrite["slug"]
        return f"{self.base_url}/d/{slug}/all-events/?page={page}"

    def parse(self, response: Response):
        page_number = response.meta.get("page", 1)
        page = parse_listing(response.text, browser_globals(response))
        if page.damaged:
            # A broken payload is a failed page, not a page without events: its JSON-LD
            # has dates only (storing them would erase the times already known), and the
            # run must not pass for complete (the later pages' events would be marked
            # vanished). Counted; the next run reads the page again.
            self.count_error("damaged_page")
            self.logger.warning("damaged page at %s: event data cut or malformed", response.url)
            return
        if response.status == 403 or page.kind == "none":
            yield from self.retry_page_without_data(response)
            return
        self.count_page()
        for raw in page.events:
            if raw.get("is_cancelled") is True:
                self.count("eventbrite/cancelled")
                continue
            fields = event_fields(raw, self.city.timezone)
            if fields is None:
                self.count("eventbrite/unparsable_events")
                continue
            if not self.first_sighting(fields["source_id"]):
                continue  # same event on an earlier page or in another bucket
            yield self.new_item(**fields)
        if self._has_next_page(page, page_number):
            yield self.page_request(
                self.listing_url(page_number + 1), self.parse, meta={"page": page_number + 1}
            )

    def _has_next_page(self, page: ListingPage, page_number: int) -> bool:
        # page_count is nominal (series dedup makes pages short): stop on the first empty
        # page, never on a short one, and never past page_count or the configured maximum.
        if page.kind != "search" or not page.events:
            return False
        if page.page_count is not None and page_number >= page.page_count:
            return False
        return page_number < self.settings.getint("EVENTBRITE_MAX_PAGES", 100)


def extract_server_data(text: str) -> dict[str, Any] | None:
    """`window.__SERVER_DATA__`, decoded from its opening brace with a JSON decoder."""
    value = decode_assignment(text, SERVER_DATA_MARKER)
    return value if isinstance(value, dict) else None


def parse_listing(text: str, page_globals: dict[str, Any] | None = None) -> ListingPage:
    """The organic events of a search, category or landing page (promoted ones left out)."""
    data = extract_server_data(text)
    if data is None and page_globals and isinstance(page_globals.get("__SERVER_DATA__"), dict):
        data = page_globals["__SERVER_DATA__"]
    if data is None and (_broken_server_data(text) or _cut_short(text)):
        return ListingPage(damaged=True)
    if data is not None:
        page = _events_from_server_data(data)
        if page.kind != "none":
            return page
    events = _events_from_jsonld(text)
    return ListingPage(events=events, kind="jsonld") if events else ListingPage()


def _broken_server_data(text: str) -> bool:
    """`window.__SERVER_DATA__ = {` is there (the decoder found no whole value after it)."""
    at = text.find(SERVER_DATA_MARKER)
    return at != -1 and text[at + len(SERVER_DATA_MARKER) :].lstrip()[:1] in ("{", "[")


def _cut_short(text: str) -> bool:
    """An HTML document that opened but never closed: the body was cut in transit."""
    head = text[:2048].lower()
    return "<html" in head and "</html>" not in text[-4096:].lower()


def _events_from_server_data(data: dict[str, Any]) -> ListingPage:
    search = (data.get("search_data") or {}).get("events")
    if isinstance(search, dict):
        # promoted_results are ads, the same on every page: never read.
        pagination = search.get("pagination") or {}
        page_count = pagination.get("page_count")
        return ListingPage(
            events=[e for e in search.get("results") or [] if isinstance(e, dict)],
            kind="search",
            page_count=page_count if isinstance(page_count, int) else None,
        )
    event_data = data.get("event_data")
    if isinstance(event_data, dict):
        events = []
        for search_result in event_data.values():
            found = (search_result or {}).get("events") if isinstance(search_result, dict) else None
            if isinstance(found, dict):
                events.extend(e for e in found.get("results") or [] if isinstance(e, dict))
        return ListingPage(events=events, kind="category")
    buckets = data.get("buckets")
    if isinstance(buckets, list):
        events = [
            e
            for bucket in buckets
            if isinstance(bucket, dict)
            for e in bucket.get("events") or []
            if isinstance(e, dict)
        ]
        return ListingPage(events=events, kind="buckets")
    return ListingPage()


def _events_from_jsonld(text: str) -> list[dict[str, Any]]:
    """schema.org Events of the page's ItemList, tagged so `event_fields` knows the shape."""
    events = []
    for block in ld_json_blocks(text):
        for candidate in block if isinstance(block, list) else [block]:
            if not isinstance(candidate, dict) or candidate.get("@type") != "ItemList":
                continue
            for element in candidate.get("itemListElement") or []:
                item = element.get("item") if isinstance(element, dict) else None
                if isinstance(item, dict) and item.get("@type") == "Event":
                    events.append({"_jsonld": item})
    return events


# -- one payload field -> one item field -----------------------------------------------


def event_fields(raw: dict[str, Any], city_timezone: str) -> dict[str, Any] | None:
    """Item fields of one `destination_event` (or JSON-LD Event), None when unusable."""
    if "_jsonld" in raw:
        return _jsonld_event_fields(raw["_jsonld"], city_timezone)
    source_id = _parse_source_id(raw)
    title = _parse_title(raw.get("name"))
    link = _parse_link(raw)
    if not (source_id and title and link):
        return None
    tz = _parse_timezone(raw, city_timezone)
    starts_at = _parse_starts_at(raw, tz)
    is_online = _parse_is_online(raw)
    latitude, longitude = (None, None) if is_online else _parse_coordinates(raw)
    is_free, price = _parse_price(raw)
    return {
        "title": title,
        "link": link,
        "source_id": source_id,
        "starts_at": starts_at,
        "date": None if starts_at else _parse_date_only(raw),
        "ends_at": _parse_ends_at(raw, tz),
        "timezone": tz,
        "location": _parse_location(raw),
        "latitude": latitude,
        "longitude": longitude,
        "is_online": is_online,
        "is_free": is_free,
        "price": price,
        "description": _parse_description(raw),
        "image_url": _parse_image_url(raw),
    }


def _parse_source_id(raw: dict[str, Any]) -> str | None:
    value = raw.get("id") or raw.get("eventbrite_event_id") or raw.get("eid")
    return str(value) if value else None


def _parse_title(name: Any) -> str | None:
    return clean_title(name)


def _parse_link(raw: dict[str, Any]) -> str | None:
    # `url` is the canonical /e/<slug>-tickets-<id> page; `tickets_url` is a checkout link.
    url = raw.get("url")
    return canonical_link(url) if isinstance(url, str) else None


def _parse_timezone(raw: dict[str, Any], city_timezone: str) -> str:
    return known_timezone(raw.get("timezone")) or city_timezone


def _parse_starts_at(raw: dict[str, Any], tz: str) -> datetime | None:
    # start_date/start_time are the wall clock in the event's own zone, never UTC.
    return _local(raw.get("start_date"), raw.get("start_time"), tz)


def _parse_ends_at(raw: dict[str, Any], tz: str) -> datetime | None:
    return _local(raw.get("end_date"), raw.get("end_time"), tz)


def _local(day: Any, clock: Any, tz: str) -> datetime | None:
    if not (isinstance(day, str) and isinstance(clock, str) and day and clock):
        return None
    try:
        return combine_local(day, clock[:5], tz)
    except ValueError:
        return None


def _parse_date_only(raw: dict[str, Any]) -> str | None:
    day = raw.get("start_date")
    return day if isinstance(day, str) and len(day) == 10 else None


def _parse_is_online(raw: dict[str, Any]) -> bool:
    return bool(raw.get("is_online_event"))


def _parse_location(raw: dict[str, Any]) -> str | None:
    if _parse_is_online(raw):
        return "Online"
    venue = raw.get("primary_venue")
    if not isinstance(venue, dict):
        return None
    name = _parse_title(venue.get("name"))
    address = venue.get("address") or {}
    display = _parse_title(address.get("localized_address_display"))
    if not display:
        parts = [address.get(k) for k in ("address_1", "address_2", "city", "region")]
        display = ", ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None
    if name and display and not display.startswith(name):
        return f"{name}, {display}"
    return display or name


def _parse_coordinates(raw: dict[str, Any]) -> tuple[float | None, float | None]:
    # Eventbrite sends coordinates as strings ("40.67446109999999").
    address = (raw.get("primary_venue") or {}).get("address") or {}
    try:
        return float(address["latitude"]), float(address["longitude"])
    except (KeyError, TypeError, ValueError):
        return None, None


def _parse_price(raw: dict[str, Any]) -> tuple[bool | None, str | None]:
    tickets = raw.get("ticket_availability")
    if not isinstance(tickets, dict):
        return None, None
    is_free = tickets.get("is_free")
    is_free = is_free if isinstance(is_free, bool) else None
    if is_free:
        return True, "Free"
    low = (tickets.get("minimum_ticket_price") or {}).get("display")
    high = (tickets.get("maximum_ticket_price") or {}).get("display")
    if low and high and low != high:
        return is_free, f"{low} - {high}"
    return is_free, low or high or None


def _parse_description(raw: dict[str, Any]) -> str | None:
    summary = raw.get("summary")
    return summary.strip() or None if isinstance(summary, str) else None


def _parse_image_url(raw: dict[str, Any]) -> str | None:
    image = raw.get("image")
    if not isinstance(image, dict):
        return None
    return image.get("url") or (image.get("original") or {}).get("url") or None


def _jsonld_event_fields(event: dict[str, Any], city_timezone: str) -> dict[str, Any] | None:
    """A JSON-LD Event: often date-only (`startDate: "2025-07-27"`), so no time is invented."""
    link = _parse_link(event)
    title = _parse_title(event.get("name"))
    match = _EVENT_ID_RE.search(link or "")
    if not (link and title and match):
        return None
    start = event.get("startDate") if isinstance(event.get("startDate"), str) else ""
    starts_at = _jsonld_instant(start, city_timezone)
    is_online = "Online" in str(event.get("eventAttendanceMode") or "")
    place = event.get("location") if isinstance(event.get("location"), dict) else {}
    geo = place.get("geo") or {}
    try:
        latitude, longitude = float(geo["latitude"]), float(geo["longitude"])
    except (KeyError, TypeError, ValueError):
        latitude = longitude = None
    return {
        "title": title,
        "link": link,
        "source_id": match.group(1),
        "starts_at": starts_at,
        "date": None if starts_at else (start[:10] or None),
        "ends_at": _jsonld_instant(event.get("endDate") or "", city_timezone),
        "timezone": city_timezone,
        "location": "Online" if is_online else _jsonld_place(place),
        "latitude": None if is_online else latitude,
        "longitude": None if is_online else longitude,
        "is_online": is_online,
        "is_free": None,
        "price": None,
        "description": event.get("description") or None,
        "image_url": event.get("image") if isinstance(event.get("image"), str) else None,
    }


def _jsonld_instant(value: str, city_timezone: str) -> datetime | None:
    if len(value) <= 10:
        return None  # date only: the validate pipeline sets local midnight, time stays None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=ZoneInfo(city_timezone))


def _jsonld_place(place: dict[str, Any]) -> str | None:
    name = _parse_title(place.get("name"))
    address = place.get("address") or {}
    if isinstance(address, dict):
        parts = [address.get(k) for k in ("streetAddress", "addressLocality", "addressRegion")]
        street = ", ".join(p for p in parts if isinstance(p, str) and p.strip())
    else:
        street = str(address)
    if name and street and not street.startswith(name):
        return f"{name}, {street}"
    return street or name
