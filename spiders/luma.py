"""Luma: the discover feed `/discover/get-paginated-events`, descriptions from `/event/get`.

The feed has no descriptions; each event's `/event/get` is fetched on its own rate-limited
download slot, and an event whose details fail (429, 404, timeout) is still yielded.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from scrapy.http import Request, Response
from twisted.python.failure import Failure

from nocturne_crawl.items import EventItem
from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import known_timezone
from nocturne_crawl.prosemirror import prosemirror_text
from spiders.base import CitySpider, clean_title

DETAILS_SLOT = "luma-event-details"
PUBLIC_HOST = "https://luma.com"
# Luma checks these for CORS (OpenMates luma.py); the real site's pages send them.
API_HEADERS = {
    "Accept": "application/json",
    "Origin": PUBLIC_HOST,
    "Referer": f"{PUBLIC_HOST}/discover",
}


class LumaSpider(CitySpider):
    name = "luma"
    base_url_setting = "LUMA_API_BASE_URL"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_cursors: set[str] = set()
        self.link_base = PUBLIC_HOST

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        # One slot for /event/get with its own delay: per-event fetches in a tight loop
        # get 429 (SOURCES.md §3.3), the feed pages keep their own pace.
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        slots.setdefault(
            DETAILS_SLOT,
            {
                "concurrency": settings.getint("LUMA_DETAILS_CONCURRENCY", 2),
                "delay": settings.getfloat("LUMA_DETAILS_DELAY", 0.5),
            },
        )
        settings.set("DOWNLOAD_SLOTS", slots, priority="spider")

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Links point at the public site, never at the API host being crawled.
        spider.link_base = str(crawler.settings.get("LUMA_BASE_URL") or PUBLIC_HOST).rstrip("/")
        return spider

    async def start(self):
        yield self.feed_request(None)

    def feed_request(self, cursor: str | None) -> Request:
        params: dict[str, Any] = {}
        place = self.city.luma.get("place")
        if place:
            params["discover_place_api_id"] = place
        else:  # a city Luma has not launched: the feed takes coordinates instead
            params["latitude"] = self.city.luma["latitude"]
            params["longitude"] = self.city.luma["longitude"]
        params["pagination_limit"] = self.settings.getint("LUMA_PAGE_SIZE", 50)
        if cursor:
            # `pagination_cursor`, never `cursor`: Luma silently ignores the latter and
            # serves the first page again with has_more true forever.
            params["pagination_cursor"] = cursor
        url = f"{self.base_url}/discover/get-paginated-events?{urlencode(params)}"
        return Request(
            url,
            headers=API_HEADERS,
            callback=self.parse,
            errback=self.on_request_error,
            meta={"page": len(self.seen_cursors) + 1},
        )

    def parse(self, response: Response):
        feed = _decode_json(response)
        if not isinstance(feed, dict) or not isinstance(feed.get("entries"), list):
            self.count_error("bad_feed")
            self.logger.warning("not a discover feed page: %s", response.url)
            return
        self.count_page()
        fetch_details = self.settings.getbool("LUMA_FETCH_DESCRIPTIONS", True)
        for entry in feed["entries"]:
            fields = entry_fields(entry, self.link_base)
            if fields is None:
                self.count("luma/unparsable_events")
                continue
            if not self.first_sighting(fields["source_id"]):
                continue  # one event listed on several calendars
            item = self.new_item(**fields)
            yield self.details_request(item) if fetch_details else item
        next_request = self._next_page(feed, response.meta.get("page", 1))
        if next_request is not None:
            yield next_request

    def _next_page(self, feed: dict[str, Any], page: int) -> Request | None:
        # has_more decides: the last page still carries a next_cursor (DC capture).
        cursor = feed.get("next_cursor")
        if feed.get("has_more") is not True or not isinstance(cursor, str) or not cursor:
            return None
        if cursor in self.seen_cursors:
            self.count("luma/repeated_cursor")
            self.logger.warning("Luma served cursor %s again; stopping pagination", cursor)
            return None
        if page >= self.settings.getint("LUMA_MAX_PAGES", 100):
            return None
        self.seen_cursors.add(cursor)
        return self.feed_request(cursor)

    def details_request(self, item: EventItem) -> Request:
        url = f"{self.base_url}/event/get?{urlencode({'event_api_id': item.source_id})}"
        return Request(
            url,
            headers=API_HEADERS,
            callback=self.parse_details,
            errback=self.details_failed,
            cb_kwargs={"item": item},
            meta={
                "download_slot": DETAILS_SLOT,
                "autothrottle_dont_adjust_delay": True,
                # A lost description is expected now and then, not an error of the crawl.
                "give_up_log_level": logging.WARNING,
            },
            # The feed is the source of truth; a details page is only ever fetched once.
            dont_filter=True,
        )

    def parse_details(self, response: Response, item: EventItem):
        details = _decode_json(response)
        text = _parse_description(details) if isinstance(details, dict) else None
        if text is None:
            self.count("luma/descriptions_missing")
        item.description = text
        yield item

    def details_failed(self, failure: Failure):
        """The details request failed after its retries: the event goes out without them."""
        self.count_error(f"details_{type(failure.value).__name__}")
        self.count("luma/descriptions_missing")
        yield failure.request.cb_kwargs["item"]


def _decode_json(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


# -- one payload field -> one item field -----------------------------------------------


def entry_fields(entry: Any, link_base: str = PUBLIC_HOST) -> dict[str, Any] | None:
    """Item fields of one discover entry, None when it lacks an id, a name or a start."""
    event = entry.get("event") if isinstance(entry, dict) else None
    if not isinstance(event, dict):
        return None
    source_id = event.get("api_id") or entry.get("api_id")
    title = clean_title(event.get("name"))
    link = _parse_link(event, link_base)
    tz = _parse_timezone(event)
    starts_at = _parse_instant(event.get("start_at") or entry.get("start_at"), tz)
    if not (source_id and title and link and starts_at):
        return None
    is_online = _parse_is_online(event)
    latitude, longitude = _parse_coordinates(event)
    is_free, price = _parse_price(entry.get("ticket_info"))
    return {
        "title": title,
        "link": link,
        "source_id": str(source_id),
        "starts_at": starts_at,
        "ends_at": _parse_instant(event.get("end_at"), tz),
        "timezone": tz,
        "location": _parse_location(event),
        "latitude": latitude,
        "longitude": longitude,
        "is_online": is_online,
        "is_free": is_free,
        "price": price,
        "image_url": event.get("cover_url") or None,
    }


def _parse_link(event: dict[str, Any], link_base: str = PUBLIC_HOST) -> str | None:
    # `url` is a slug ("swarmhack"): the public page is https://luma.com/<slug>.
    slug = event.get("url")
    if not isinstance(slug, str) or not slug.strip():
        return None
    slug = slug.strip()
    if slug.startswith(("http://", "https://")):
        return canonical_link(slug)
    return canonical_link(f"{link_base}/{slug.lstrip('/')}")


def _parse_timezone(event: dict[str, Any]) -> str:
    return known_timezone(event.get("timezone")) or "UTC"


def _parse_instant(value: Any, tz: str) -> datetime | None:
    """`start_at` is UTC ("2026-07-24T16:30:00.000Z"): the same instant in the event's zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(tz))


def _geo(event: dict[str, Any]) -> dict[str, Any]:
    geo = event.get("geo_address_info")
    return geo if isinstance(geo, dict) else {}


def _parse_is_online(event: dict[str, Any]) -> bool:
    # Some online events are filed as offline with the address "Online" and no coordinate
    # (Delhi capture); they are online all the same.
    if event.get("location_type") == "online":
        return True
    address = _geo(event).get("address")
    return isinstance(address, str) and address.strip().lower() == "online"


def _parse_location(event: dict[str, Any]) -> str | None:
    if _parse_is_online(event):
        return "Online"
    geo = _geo(event)
    if geo.get("mode") == "obfuscated":
        # Guests-only address: Luma gives the area only; keep it as what it is.
        parts = [geo.get("sublocality"), geo.get("city_state") or geo.get("city")]
        area = ", ".join(p for p in parts if isinstance(p, str) and p.strip())
        return area or geo.get("region") or None
    name = geo.get("address") if isinstance(geo.get("address"), str) else ""
    full = geo.get("full_address") if isinstance(geo.get("full_address"), str) else ""
    if name and full and not full.startswith(name):
        return f"{name}, {full}"
    return full or name or geo.get("city_state") or None


def _parse_coordinates(event: dict[str, Any]) -> tuple[float | None, float | None]:
    # An obfuscated address comes with a deliberately blurred point: not a venue location.
    if _parse_is_online(event) or _geo(event).get("mode") == "obfuscated":
        return None, None
    point = event.get("coordinate")
    if not isinstance(point, dict):
        return None, None
    try:
        return float(point["latitude"]), float(point["longitude"])
    except (KeyError, TypeError, ValueError):
        return None, None


def _parse_price(ticket_info: Any) -> tuple[bool | None, str | None]:
    if not isinstance(ticket_info, dict):
        return None, None
    is_free = ticket_info.get("is_free")
    is_free = is_free if isinstance(is_free, bool) else None
    if is_free:
        return True, "Free"
    low, high = _money(ticket_info.get("price")), _money(ticket_info.get("max_price"))
    if low and high and low != high:
        return is_free, f"{low} - {high}"
    return is_free, low or high


def _money(price: Any) -> str | None:
    if not isinstance(price, dict) or not isinstance(price.get("cents"), int):
        return None
    currency = str(price.get("currency") or "").upper()
    return f"{price['cents'] / 100:.2f} {currency}".strip()


def _parse_description(details: dict[str, Any]) -> str | None:
    mirror = details.get("description_mirror")
    if not isinstance(mirror, dict):
        return None
    return prosemirror_text(mirror) or None
