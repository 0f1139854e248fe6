"""Meetup's find page (`__NEXT_DATA__` Apollo state) and its gql2 endpoint.

The find page embeds only the first feed page; the rest comes from `POST /gql2`
(`recommendedEvents` or `eventSearch`), `first` up to 50, paged with `after` =
`pageInfo.endCursor`. Like the real API, adjacent pages overlap by ~6%, `totalCount`
is the page's edge count, the cursor turns from an offset into an event id on the last
page, and one query returns at most ~380 events (so a big city needs day windows).
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from urllib.parse import unquote_plus

import orjson

from nocturne_crawl.simulator import graphql
from nocturne_crawl.simulator.eventbrite import script_json
from nocturne_crawl.simulator.generate import Place, SimEvent

FIND_PAGE_SIZE = 20
MAX_FIRST = 50
OVERLAP = 0.06
ROOT_FIELDS = ("recommendedEvents", "eventSearch")
BUILD_ID = "342f3f088ecae58ca41f8ffd0c3a6cd93465b77a"


def location_key(location: str) -> str:
    """Catalog and URL spellings of a find-page location compared loosely:
    'us--ca--Los Angeles', 'us--ca--Los%20Angeles' and 'US--CA--Los-Angeles' are one."""
    return re.sub(r"[\s+\-]+", "-", unquote_plus(location).strip().lower())


def _date_time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _venue(event: SimEvent, find_page: bool) -> dict | None:
    if event.venue is None:
        # The find page shows a placeholder venue for online events; gql2 gives null.
        if find_page:
            return {
                "__typename": "Venue",
                "name": "Online event",
                "address": "",
                "city": "",
                "state": "",
                "country": "",
            }
        return None
    venue = event.venue
    data = {
        "__typename": "Venue",
        "name": venue.name,
        "address": venue.address_1,
        "city": venue.city,
        "state": venue.region,
        "country": venue.country.lower(),
    }
    if not find_page:  # the find page's inline venue has no id, postal code or coordinates
        data.update(id=venue.id, postalCode=venue.postal_code, lat=venue.lat, lon=venue.lng)
    return data


def _photo(event: SimEvent) -> dict:
    return {
        "__typename": "PhotoInfo",
        "baseUrl": "https://secure-content.meetupstatic.com/images/classic-events/",
        "highResUrl": f"https://secure.meetupstatic.com/photos/event/5/a/6/0/highres_{event.image_id}.jpeg",
        "id": event.image_id,
    }


def _fee(event: SimEvent) -> dict | None:
    if event.is_free:
        return None
    return {
        "__typename": "FeeSettings",
        "amount": (event.price_cents or 0) / 100,
        "currency": event.currency.upper(),
    }


def _group(event: SimEvent) -> dict:
    group = event.group
    assert group is not None
    return {
        "__typename": "Group",
        "id": group.id,
        "name": group.name,
        "urlname": group.urlname,
        "timezone": group.timezone,
        "city": group.city,
        "state": group.region,
        "country": group.country,
        "groupPhoto": {
            "__typename": "PhotoInfo",
            "highResUrl": f"https://secure.meetupstatic.com/photos/event/highres_{group.id}.jpeg",
        },
    }


def gql_node(event: SimEvent) -> dict:
    """Every field a gql2 Event node can give; the query's selection picks from it."""
    return {
        "__typename": "Event",
        "id": event.source_id,
        "title": event.title,
        "description": event.description,
        "dateTime": _date_time(event.start),
        "endTime": _date_time(event.end),
        "eventType": "ONLINE" if event.is_online else "PHYSICAL",
        "eventUrl": event.url,
        "rsvpState": "JOIN_OPEN",
        "maxTickets": 0,
        "isAttending": False,
        "isSaved": False,
        "venue": _venue(event, find_page=False),
        "group": _group(event),
        "going": {"__typename": "EventRsvpConnection", "totalCount": 3 + event.index % 40},
        "rsvps": {"__typename": "RsvpConnection", "totalCount": 3 + event.index % 40},
        "featuredEventPhoto": _photo(event),
        "displayPhoto": _photo(event),
        "feeSettings": _fee(event),
    }


def relevance_order(events: Sequence[SimEvent], seed: int, city_id: str) -> list[SimEvent]:
    """The feed's order: a stable shuffle (RELEVANCE is not chronological)."""
    ordered = list(events)
    random.Random(f"{seed}|meetup-relevance|{city_id}").shuffle(ordered)
    return ordered


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- the find page ----------------------------------------------------------------------


def find_page(place: Place, feed: Sequence[SimEvent], location: str, now: datetime) -> str:
    """`/find/?location=...&source=EVENTS` with the first feed page in Apollo state."""
    first = list(feed[:FIND_PAGE_SIZE])
    shown = {e.source_id for e in first}
    apollo: dict = {}
    edges = []
    start_range = f"{_date_time(now)}[{place.city.timezone}]"
    for event in first:
        group = event.group
        assert group is not None
        edge_key = f'RecommendedEventsEdge:{{"node":{{"id":"{event.source_id}"}}}}'
        edges.append({"__ref": edge_key})
        apollo[edge_key] = {
            "__typename": "RecommendedEventsEdge",
            "node": {"__ref": f"Event:{event.source_id}", "id": event.source_id},
            "metadata": {
                "__typename": "SearchMetadata",
                "recId": f"sim-{event.source_id}",
                "recSource": "ml-popular-events-nearby-online"
                if event.is_online
                else "ml-popular-events-nearby-offline",
            },
        }
        apollo[f"PhotoInfo:{event.image_id}"] = _photo(event)
        apollo[f"Group:{group.id}"] = {
            "__typename": "Group",
            "id": group.id,
            "name": group.name,
            "urlname": group.urlname,
            "timezone": group.timezone,
            "keyGroupPhoto": {"__ref": f"PhotoInfo:{event.image_id}"},
            "stats": {
                "__typename": "GroupStats",
                "eventRatings": {
                    "__typename": "GroupStatsEventRatings",
                    "average": 4.8,
                    "totalRatings": 25,
                },
            },
        }
        apollo[f"Event:{event.source_id}"] = {
            "__typename": "Event",
            "id": event.source_id,
            "title": event.title,
            "dateTime": _date_time(event.start),
            "description": event.description,
            "eventType": "ONLINE" if event.is_online else "PHYSICAL",
            "eventUrl": event.url,
            "isAttending": False,
            "isSaved": False,
            "maxTickets": 0,
            "rsvpState": "JOIN_OPEN",
            "featuredEventPhoto": {"__ref": f"PhotoInfo:{event.image_id}"},
            "displayPhoto": {"__ref": f"PhotoInfo:{event.image_id}"},
            "feeSettings": _fee(event),
            "group": {"__ref": f"Group:{group.id}"},
            "socialProofInsights": None,
            "rsvps": {
                "__typename": "RsvpConnection",
                "totalCount": 3 + event.index % 40,
                "edges": [],
            },
            "series": None,
            "venue": _venue(event, find_page=True),
        }
    _add_series_stubs(apollo, first, feed, shown)
    query = {
        "filter": {
            "doConsolidateEvents": True,
            "doPromotePaypalEvents": False,
            "lat": place.city.lat,
            "lon": place.city.lng,
            "startDateRange": start_range,
        },
        "sort": {"sortField": "RELEVANCE"},
    }
    apollo["ROOT_QUERY"] = {
        "__typename": "Query",
        "self": None,
        "recommendedEvents:" + orjson.dumps(query).decode(): {
            "__typename": "RecommendedEventsConnection",
            "totalCount": len(first),
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": len(feed) > len(first),
                "endCursor": _encode(str(len(first))),
            },
            "edges": edges,
        },
    }
    user_location = {
        "__typename": "LocationSearch",
        "city": place.name,
        "country": place.country.lower(),
        "lat": place.city.lat,
        "lon": place.city.lng,
        "name": f"{place.name}, {place.region or place.country}",
        "state": place.region.lower(),
        "timeZone": place.city.timezone,
    }
    next_data = {
        "props": {
            "pageProps": {
                "isMobile": False,
                "memberLocale": "en-US",
                "country": place.country,
                "user": None,
                "isIndexed": True,
                "filters": {"source": "EVENTS"},
                "location": location,
                "ssrQueryParams": {"startDateRange": start_range},
                "userLocation": user_location,
                "isLoggedInSsr": False,
                "__APOLLO_STATE__": apollo,
            },
            "__N_SSP": True,
        },
        "page": "/find",
        "query": {"location": location, "source": "EVENTS"},
        "buildId": BUILD_ID,
        "isFallback": False,
        "gssp": True,
        "locale": "en-US",
        "locales": ["en-US"],
        "defaultLocale": "en-US",
        "scriptLoader": [],
    }
    ld = [_ld_event(e) for e in first]
    cards = "".join(
        f'<div data-testid="categoryResults-eventCard" data-eventref="{e.source_id}">'
        f'<a href="{escape(e.url)}"><h2>{escape(e.title)}</h2></a></div>'
        for e in first
    )
    return (
        '<!DOCTYPE html><html lang="en-US"><head><meta charSet="utf-8" data-next-head=""/>'
        f"<title>Find events near {escape(place.name)} | Meetup</title>"
        '<script type="application/ld+json" data-next-head="">'
        '{"@type":"Organization","@context":"https://schema.org","name":"Meetup","url":"https://www.meetup.com/"}</script>'
        f'<script type="application/ld+json" data-next-head="">{script_json(ld)}</script>'
        f'</head><body><div id="__next"><main>{cards}</main></div>'
        f'<script id="__NEXT_DATA__" type="application/json">{script_json(next_data)}</script>'
        "</body></html>"
    )


def _add_series_stubs(
    apollo: dict, first: list[SimEvent], feed: Sequence[SimEvent], shown: set[str]
) -> None:
    """Series stubs like the real page: a few fields only, some with non-numeric ids.

    Stubs point at later events of the same group (which the feed lists in full later)
    and at one placeholder that is no event at all; a spider must skip them all.
    """
    for event in first[:2]:
        group = event.group
        assert group is not None
        later = [
            e for e in feed if e.group == group and e.source_id not in shown and e is not event
        ][:2]
        refs = []
        for other in later:
            apollo[f"Event:{other.source_id}"] = {
                "__typename": "Event",
                "id": other.source_id,
                "dateTime": _date_time(other.start),
                "isAttending": False,
                "group": {"__typename": "Group", "urlname": group.urlname},
            }
            refs.append(other.source_id)
        placeholder = (
            "wprb" + base64.b32encode(event.source_id.encode()).decode().lower().strip("=")[:9]
        )
        apollo[f"Event:{placeholder}"] = {
            "__typename": "Event",
            "id": placeholder,
            "dateTime": _date_time(event.start),
            "isAttending": False,
            "group": {"__typename": "Group", "urlname": group.urlname},
        }
        refs.append(placeholder)
        apollo[f"Event:{event.source_id}"]["series"] = {
            "__typename": "Series",
            "description": "Every week until further notice",
            "weeklyRecurrence": {
                "__typename": "WeeklyRecurrenceInfo",
                "weeklyDaysOfWeek": [event.start.strftime("%A").upper()],
                "weeklyInterval": 1,
            },
            "monthlyRecurrence": None,
            'events({"numberOfEvents":5})': {
                "__typename": "SeriesEventConnection",
                "edges": [
                    {"__typename": "EventEdge", "node": {"__ref": f"Event:{ref}"}} for ref in refs
                ],
            },
        }


def _ld_event(event: SimEvent) -> dict:
    """The find page's ld+json Event: UTC start, no time zone (a spider should prefer Apollo)."""
    group = event.group
    assert group is not None
    utc = event.start.astimezone(UTC)
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "url": event.url,
        "description": event.description,
        "startDate": utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "endDate": "",
        "eventStatus": "https://schema.org/EventScheduled",
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode"
        if event.is_online
        else "https://schema.org/OfflineEventAttendanceMode",
        "organizer": {
            "@type": "Organization",
            "name": group.name,
            "url": f"https://www.meetup.com/{group.urlname}/",
        },
        "performer": group.name,
    }
    if event.venue is None:
        data["location"] = {"@type": "VirtualLocation", "url": event.url}
    else:
        venue = event.venue
        data["location"] = {
            "@type": "Place",
            "name": venue.name,
            "address": {
                "@type": "PostalAddress",
                "addressLocality": venue.city,
                "addressRegion": venue.region,
                "addressCountry": venue.country.lower(),
                "streetAddress": f"{venue.address_1}, {venue.city}",
            },
        }
    return data


# -- gql2 -------------------------------------------------------------------------------


class GqlError(Exception):
    """Answered as HTTP 200 with `errors`, the way GraphQL servers report them."""


def parse_range(value: object) -> datetime | None:
    """'2026-09-01T00:00:00-07:00[US/Pacific]' or without the zone suffix."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise GqlError(f"Invalid date range value {value!r}")
    text = re.sub(r"\[[^\]]*\]$", "", value.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GqlError(f"Invalid date range value {value!r}") from exc
    if moment.tzinfo is None:
        raise GqlError(f"Date range {value!r} needs an offset")
    return moment


def decode_cursor(cursor: object, ordered: Sequence[SimEvent]) -> int:
    if cursor in (None, ""):
        return 0
    try:
        text = base64.b64decode(str(cursor), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise GqlError(f"Invalid cursor {cursor!r}") from exc
    if text.isdigit() and len(text) < 7:
        return int(text)
    for i, event in enumerate(ordered):
        if event.source_id == text:
            return i + 1
    raise GqlError(f"Invalid cursor {cursor!r}")


def connection(ordered: Sequence[SimEvent], first: int, after: object, root: str) -> dict:
    """One page of the feed, overlapping the previous page by ~6%."""
    offset = decode_cursor(after, ordered)
    overlap = round(first * OVERLAP) if offset else 0
    start = max(0, offset - overlap)
    page = list(ordered[start : start + first])
    end = start + len(page)
    has_next = end < len(ordered)
    # The real cursor is an offset, except on the last page where it is an event id.
    last_id = page[-1].source_id if page else None
    cursor = _encode(str(end)) if has_next else (_encode(last_id) if last_id else None)
    edge_type = "RecommendedEventsEdge" if root == "recommendedEvents" else "SearchResultEdge"
    return {
        "__typename": "RecommendedEventsConnection"
        if root == "recommendedEvents"
        else "SearchConnection",
        "totalCount": len(page),
        "count": len(page),
        "pageInfo": {"__typename": "PageInfo", "hasNextPage": has_next, "endCursor": cursor},
        "edges": [
            {
                "__typename": edge_type,
                "cursor": _encode(str(start + i + 1)),
                "node": gql_node(e),
                "metadata": {
                    "__typename": "SearchMetadata",
                    "recSource": "ml-popular-events-nearby-offline",
                },
            }
            for i, e in enumerate(page)
        ],
    }


def filter_feed(feed: Sequence[SimEvent], flt: dict, cap: int) -> list[SimEvent]:
    low = parse_range(flt.get("startDateRange"))
    high = parse_range(flt.get("endDateRange"))
    kind = flt.get("eventType")
    rows = []
    for event in feed:
        if low is not None and event.start < low:
            continue
        if high is not None and event.start > high:
            continue
        if kind in ("PHYSICAL", "physical") and event.is_online:
            continue
        if kind in ("ONLINE", "online") and not event.is_online:
            continue
        rows.append(event)
    return rows[:cap]


def gql_request(
    body: object, feed_for: Callable[[float, float], Sequence[SimEvent]], cap: int
) -> dict:
    """Answer a gql2 POST body. `feed_for(lat, lon)` gives the city's feed (or [])."""
    if not isinstance(body, dict):
        raise GqlError("Request body must be a JSON object")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        if isinstance(body.get("extensions"), dict) and "persistedQuery" in body["extensions"]:
            raise GqlError("PersistedQueryNotFound")
        raise GqlError("Missing query")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise GqlError("variables must be an object")
    try:
        doc = graphql.parse(query)
    except graphql.GraphQLSyntaxError as exc:
        raise GqlError(str(exc)) from exc
    data: dict = {}
    for sel in doc.operations[0]:
        if sel.name == "__typename":
            data[sel.key] = "Query"
            continue
        if sel.name not in ROOT_FIELDS:
            raise GqlError(
                f"Validation error (FieldUndefined@[{sel.name}]) : Field '{sel.name}' in type 'Query' is undefined"
            )
        args = graphql.resolve_arguments(sel.arguments, variables)
        flt = args.get("filter") or args.get("input") or {}
        if (
            not isinstance(flt, dict)
            or not isinstance(flt.get("lat"), int | float)
            or not isinstance(flt.get("lon"), int | float)
        ):
            raise GqlError(f"Validation error (WrongType@[{sel.name}]) : filter needs lat and lon")
        first = args.get("first") or 20
        if not isinstance(first, int) or first < 1:
            raise GqlError("first must be a positive integer")
        rows = filter_feed(feed_for(float(flt["lat"]), float(flt["lon"])), flt, cap)
        conn = connection(rows, min(first, MAX_FIRST), args.get("after"), sel.name)
        data[sel.key] = graphql.project(conn, sel.children or [], doc.fragments)
    return {"data": data}
