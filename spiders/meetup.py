"""Meetup: the SSR find page, then the site's own GraphQL endpoint `/gql2`.

The find page embeds the first feed page as Apollo cache entries (`Event:<id>`); the rest
comes from `recommendedEvents` over the city's coordinates and a date window, 50 a page,
following `endCursor`. A window that reaches the per-query cap (~380 events) is queried
again one day at a time.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from scrapy.http import JsonRequest, Response

from nocturne_crawl.embedded_json import decode_script_by_id
from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import known_timezone, today_in
from spiders.base import CitySpider, browser_globals, clean_title

# The full query text: persisted-query hashes are deprecated since Dec 2024.
RECOMMENDED_EVENTS_QUERY = """
query recEvents($first: Int, $after: String, $filter: RecommendedEventsFilter!,
                $sort: RecommendedEventsSort) {
  recommendedEvents(first: $first, after: $after, filter: $filter, sort: $sort) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id title description dateTime endTime eventType eventUrl
        venue { name address city state postalCode lat lon }
        group { id name urlname timezone city state }
        featuredEventPhoto { baseUrl highResUrl id }
        feeSettings { amount currency }
      }
    }
  }
}
""".strip()

# Meetup's placeholder venue for online events (2023 gql capture: lat/lng -8.52/179.19).
ONLINE_VENUE_NAME = "online event"


class MeetupSpider(CitySpider):
    name = "meetup"
    base_url_setting = "MEETUP_BASE_URL"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.split_into_days = False

    async def start(self):
        location = quote(self.city.meetup["location"], safe="-")
        find_url = f"{self.base_url}/find/?location={location}&source=EVENTS"
        yield self.page_request(find_url, self.parse_find_page)
        first_day = today_in(self.city.tz)
        days = self.settings.getint("CRAWL_HORIZON_DAYS", 30)
        yield self.gql_request(first_day, first_day + timedelta(days=days), window="range")

    # -- the find page ----------------------------------------------------------------

    def parse_find_page(self, response: Response):
        data = decode_script_by_id(response.text, "__NEXT_DATA__")
        if not isinstance(data, dict):
            data = browser_globals(response).get("__NEXT_DATA__")
        apollo = apollo_state(data)
        if response.status == 403 or apollo is None:
            yield from self.retry_page_without_data(response)
            return
        self.count_page()
        for node in apollo_events(apollo):
            yield from self._emit(node, apollo)

    # -- gql2 -------------------------------------------------------------------------

    def gql_request(
        self,
        first_day: date,
        end_day: date,
        *,
        window: str,
        after: str | None = None,
        page: int = 1,
        seen_in_window: int = 0,
    ) -> JsonRequest:
        """One page of recommendedEvents for local days [first_day, end_day)."""
        tz = self.city.tz
        start = datetime.combine(first_day, time(0, 0), tzinfo=tz)
        end = datetime.combine(end_day, time(0, 0), tzinfo=tz) - timedelta(seconds=1)
        variables = {
            "first": self.settings.getint("MEETUP_PAGE_SIZE", 50),
            "after": after,
            "filter": {
                "lat": self.city.lat,
                "lon": self.city.lng,  # Meetup says `lon`, the catalog says `lng`
                "startDateRange": _date_range_value(start, self.city.timezone),
                "endDateRange": _date_range_value(end, self.city.timezone),
            },
            "sort": {"sortField": "RELEVANCE"},
        }
        return JsonRequest(
            f"{self.base_url}/gql2",
            data={
                "operationName": "recEvents",
                "variables": variables,
                "query": RECOMMENDED_EVENTS_QUERY,
            },
            headers={
                "Referer": f"{self.base_url}/find/",
                "Origin": self.base_url,
                "apollographql-client-name": "nextjs-web",
            },
            callback=self.parse_gql,
            errback=self.on_request_error,
            dont_filter=True,
            meta={
                "window": window,
                "first_day": first_day,
                "end_day": end_day,
                "page": page,
                "seen_in_window": seen_in_window,
                "after": after,
            },
        )

    def parse_gql(self, response: Response):
        try:
            payload = json.loads(response.body)
        except ValueError:
            payload = None
        connection = gql_connection(payload)
        if connection is None:
            self.count_error("bad_gql_response")
            self.logger.warning("gql2 gave no events connection: %.200r", response.text)
            return
        self.count_page()
        nodes = gql_nodes(connection)
        for node in nodes:
            yield from self._emit(node, {})
        meta = response.meta
        seen = meta["seen_in_window"] + len(nodes)
        page_info = connection.get("pageInfo") or {}
        cap = self.settings.getint("MEETUP_QUERY_CAP", 380)
        if seen >= cap and meta["window"] == "range":
            yield from self._day_windows(meta["first_day"], meta["end_day"])
            return
        if seen >= cap:
            self.count("meetup/capped_windows")
            self.logger.warning("day %s reached the %d-event cap", meta["first_day"], cap)
        cursor = page_info.get("endCursor")
        if (
            nodes
            and page_info.get("hasNextPage")
            and isinstance(cursor, str)
            and cursor != meta["after"]
            and meta["page"] < self.settings.getint("MEETUP_MAX_PAGES_PER_WINDOW", 10)
        ):
            yield self.gql_request(
                meta["first_day"],
                meta["end_day"],
                window=meta["window"],
                after=cursor,
                page=meta["page"] + 1,
                seen_in_window=seen,
            )

    def _day_windows(self, first_day: date, end_day: date):
        # The range query stops at the cap; one query per local day gets past it.
        if self.split_into_days:
            return
        self.split_into_days = True
        self.count("meetup/split_windows")
        day = first_day
        while day < end_day:
            yield self.gql_request(day, day + timedelta(days=1), window="day")
            day += timedelta(days=1)

    def _emit(self, node: dict[str, Any], apollo: dict[str, Any]):
        fields = event_fields(node, apollo, self.city.timezone)
        if fields is None:
            self.count("meetup/unparsable_events")
            return
        if not self.first_sighting(fields["source_id"]):
            return  # adjacent gql pages overlap (~6%), and the find page repeats page 1
        yield self.new_item(**fields)


def _date_range_value(moment: datetime, zone: str) -> str:
    """'2026-09-01T00:00:00-07:00[America/Los_Angeles]': the offset is DST-correct."""
    return f"{moment.isoformat(timespec='seconds')}[{zone}]"


# -- payload shapes ---------------------------------------------------------------------


def apollo_state(next_data: Any) -> dict[str, Any] | None:
    try:
        state = next_data["props"]["pageProps"]["__APOLLO_STATE__"]
    except (KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def apollo_events(apollo: dict[str, Any]) -> list[dict[str, Any]]:
    """Full `Event:` entries; series stubs (no title or no dateTime) are left out."""
    return [
        value
        for key, value in apollo.items()
        if key.startswith("Event:")
        and isinstance(value, dict)
        and value.get("title")
        and value.get("dateTime")
    ]


def gql_connection(payload: Any) -> dict[str, Any] | None:
    """The events connection of a gql/gql2 answer (recommendedEvents, eventSearch, ...)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    for key in ("recommendedEvents", "eventSearch", "results"):
        connection = data.get(key)
        if isinstance(connection, dict) and isinstance(connection.get("edges"), list):
            return connection
    return None


def gql_nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = []
    for edge in connection.get("edges") or []:
        node = edge.get("node") if isinstance(edge, dict) else None
        if isinstance(node, dict) and isinstance(node.get("result"), dict):
            node = node["result"]  # the 2023 keyword search wraps the event once more
        if isinstance(node, dict):
            nodes.append(node)
    return nodes


def _resolve(value: Any, apollo: dict[str, Any]) -> Any:
    """An Apollo `{"__ref": "Group:1"}` replaced by the entry it points to."""
    if isinstance(value, dict) and "__ref" in value:
        return {
            **apollo.get(value["__ref"], {}),
            **{k: v for k, v in value.items() if k != "__ref"},
        }
    return value


# -- one payload field -> one item field -----------------------------------------------


def event_fields(
    node: dict[str, Any], apollo: dict[str, Any], city_timezone: str
) -> dict[str, Any] | None:
    """Item fields of one Event (Apollo entry or gql node), None when unusable."""
    source_id = str(node.get("id") or "")
    title = clean_title(node.get("title"))
    link = canonical_link(node.get("eventUrl") or "")
    tz = _parse_timezone(node, apollo, city_timezone)
    starts_at = _parse_instant(node.get("dateTime"), tz)
    if not (source_id and title and link and starts_at):
        return None
    venue = _resolve(node.get("venue"), apollo)
    venue = venue if isinstance(venue, dict) else {}
    is_online = _parse_is_online(node, venue)
    latitude, longitude = (None, None) if is_online else _parse_coordinates(venue)
    is_free, price = _parse_price(node.get("feeSettings"))
    return {
        "title": title,
        "link": link,
        "source_id": source_id,
        "starts_at": starts_at,
        "ends_at": _parse_instant(node.get("endTime"), tz),
        "timezone": tz,
        "location": "Online" if is_online else _parse_location(venue),
        "latitude": latitude,
        "longitude": longitude,
        "is_online": is_online,
        "is_free": is_free,
        "price": price,
        "description": (node.get("description") or "").strip() or None,
        "image_url": _parse_image_url(node, apollo),
    }


def _parse_timezone(node: dict[str, Any], apollo: dict[str, Any], city_timezone: str) -> str:
    # Events carry no zone of their own; their group does (newer gql also has `timezone`).
    group = _resolve(node.get("group"), apollo)
    for candidate in (node.get("timezone"), (group or {}).get("timezone")):
        tz = known_timezone(candidate)
        if tz is not None:
            return tz
    return city_timezone


def _parse_instant(value: Any, tz: str) -> datetime | None:
    """`dateTime` holds the event-local offset ("2026-09-24T18:00:00+07:00")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        instant = datetime.fromisoformat(value.split("[", 1)[0].replace("Z", "+00:00"))
    except ValueError:
        return None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=ZoneInfo(tz))
    return instant.astimezone(ZoneInfo(tz))


def _parse_is_online(node: dict[str, Any], venue: dict[str, Any]) -> bool:
    if str(node.get("eventType") or "").upper() == "ONLINE":
        return True
    name = venue.get("name")
    return isinstance(name, str) and name.strip().lower() == ONLINE_VENUE_NAME


def _parse_location(venue: dict[str, Any]) -> str | None:
    parts = []
    for key in ("name", "address", "city", "state"):
        value = venue.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    return ", ".join(parts) or None


def _parse_coordinates(venue: dict[str, Any]) -> tuple[float | None, float | None]:
    # gql2 says `lon`; the 2023 gql said `lng`.
    lat = venue.get("lat")
    lon = venue.get("lon", venue.get("lng"))
    try:
        return float(lat), float(lon)
    except (TypeError, ValueError):
        return None, None


def _parse_price(fee: Any) -> tuple[bool | None, str | None]:
    # No feeSettings means no fee was set up, which is not proof the event is free.
    if not isinstance(fee, dict) or fee.get("amount") in (None, ""):
        return None, None
    try:
        amount = float(fee["amount"])
    except (TypeError, ValueError):
        return None, None
    if amount == 0:
        return True, "Free"
    return False, f"{amount:.2f} {str(fee.get('currency') or '').upper()}".strip()


def _parse_image_url(node: dict[str, Any], apollo: dict[str, Any]) -> str | None:
    photo = _resolve(node.get("featuredEventPhoto") or node.get("displayPhoto"), apollo)
    if isinstance(photo, dict):
        return photo.get("highResUrl") or photo.get("baseUrl") or None
    images = node.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict):
        return images[0].get("source") or images[0].get("baseUrl") or None
    return None
