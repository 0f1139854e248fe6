"""Eventbrite's city pages and search API, shaped like the real captures.

`/d/<slug>/all-events/?page=N` carries `window.__SERVER_DATA__ = {...};` followed in the
SAME script by `window.__REACT_QUERY_STATE__ = {...}` (a greedy regex breaks on it), with
`search_data.events.{results, promoted_results, pagination}` and a JSON-LD ItemList whose
`startDate` is a date only. The landing page `/d/<slug>/events/` has no `search_data`,
only `buckets[].events[]` with the same event in several buckets.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import math
import random
from collections.abc import Sequence

import orjson

from nocturne_crawl.simulator.generate import Place, SimEvent, slugify

PAGE_SIZE = 20
API_ROW_CAP = 950  # the destination search API stops at 19 pages of 50 (SOURCES.md 1.6)
EXPANDABLE = ("primary_venue", "image", "ticket_availability")


def place_id(place: Place) -> str:
    """The catalog's Eventbrite place id, or a stable made-up one for cities without it."""
    return str(place.city.eventbrite.get("place_id") or 86_000_000 + place.index)


def script_json(value: object) -> str:
    """JSON safe inside an inline <script>: '</' escaped as the sites do."""
    return orjson.dumps(value).decode().replace("</", "<\\/")


def _image(event: SimEvent) -> dict:
    base = (
        "https://img.evbuc.com/https%3A%2F%2Fcdn.evbuc.com%2Fimages%2F"
        f"{event.image_id}%2F{event.source_id[:9]}%2F1%2Foriginal.20260101-120000"
    )
    return {
        "edge_color_set": True,
        "edge_color": "#3a2f4d",
        "url": f"{base}?h=200&w=512&auto=format%2Ccompress&q=75&sharp=10&s=sim",
        "id": event.image_id,
        "crop_mask": None,
        "aspect_ratio": 2,
        "focal_point": None,
        "original": {
            "url": f"{base}?auto=format%2Ccompress&q=75&sharp=10&s=sim",
            "width": 2160,
            "height": 1080,
        },
    }


def _venue(event: SimEvent) -> dict:
    venue = event.venue
    assert venue is not None
    tail = f"{venue.region} {venue.postal_code}".strip()
    return {
        "_type": "destination_venue",
        "name": venue.name,
        "venue_profile_id": None,
        "address": {
            "city": venue.city,
            "country": venue.country,
            "region": venue.region,
            "longitude": str(venue.lng),
            "localized_address_display": venue.street_line(),
            "postal_code": venue.postal_code,
            "address_1": venue.address_1,
            "address_2": "",
            "latitude": str(venue.lat),
            "localized_multi_line_address_display": [venue.address_1, f"{venue.city}, {tail}"],
            "localized_area_display": f"{venue.city}, {venue.region}".strip(", "),
        },
        "venue_profile_url": "",
        "id": venue.id,
    }


def _ticket_availability(event: SimEvent) -> dict:
    currency = event.currency.upper()
    if event.is_free:
        price = {
            "currency": currency,
            "major_value": "0.00",
            "value": 0,
            "display": "0.00 " + currency,
        }
    else:
        cents = event.price_cents or 0
        major = f"{cents / 100:.2f}"
        price = {
            "currency": currency,
            "major_value": major,
            "value": cents,
            "display": f"{major} {currency}",
        }
    return {
        "has_available_tickets": True,
        "minimum_ticket_price": price,
        "maximum_ticket_price": price,
        "is_free": event.is_free,
        "is_sold_out": False,
    }


def _locations(place: Place) -> list[dict]:
    return [
        {"type": "country", "id": str(85_600_000 + place.index), "name": place.country},
        {"type": "locality", "id": place_id(place), "name": place.name},
    ]


def destination_event(event: SimEvent, place: Place, expand: Sequence[str] = EXPANDABLE) -> dict:
    """A `destination_event` as in search results (online events have no primary_venue)."""
    start, end = event.start, event.end
    body: dict = {
        "image": _image(event) if "image" in expand else None,
        "locations": _locations(place),
        "timezone": event.timezone,
        "id": event.source_id,
        "tickets_url": f"https://www.eventbrite.com/checkout-external?eid={event.source_id}",
        "urgency_signals": {"messages": [], "categories": []},
        "tickets_by": "Eventbrite",
        "primary_organizer_id": str(50_000_000_000 + event.index),
        "dedup": {"count": 1, "hash": hashlib.md5(event.title.encode()).hexdigest()},  # noqa: S324
        "num_children": 1,
        "debug_info": {},
        "parent_url": None,
        "hide_end_date": False,
        "start_date": start.strftime("%Y-%m-%d"),
        "end_time": end.strftime("%H:%M"),
        "_type": "destination_event",
        "end_date": end.strftime("%Y-%m-%d"),
        "tags": [
            {
                "prefix": "EventbriteCategory",
                "tag": "EventbriteCategory/103",
                "display_name": "Music",
                "localized": {"display_name": "Music"},
            },
            {
                "prefix": "EventbriteFormat",
                "tag": "EventbriteFormat/11",
                "display_name": "Party or Social Gathering",
            },
        ],
        "eventbrite_event_id": event.source_id,
        "start_time": start.strftime("%H:%M"),
        "full_description": None,
        "image_id": event.image_id,
        "is_protected_event": False,
        "is_cancelled": None,
        "primary_venue_id": event.venue.id if event.venue else None,
        "checkout_flow": "widget",
        "series_id": None,
        "name": event.title,
        "language": "en-us",
        "url": event.url,
        "hide_start_date": False,
        "summary": event.description,
        "is_online_event": event.is_online,
        "eid": event.source_id,
        "published": "2026-01-05T17:00:00Z",
    }
    if body["image"] is None:
        del body["image"]
    if event.venue is not None and "primary_venue" in expand:
        body["primary_venue"] = _venue(event)
    if "ticket_availability" in expand:
        body["ticket_availability"] = _ticket_availability(event)
    return body


def jsonld_item(event: SimEvent, position: int) -> dict:
    """One ListItem of the JSON-LD ItemList (startDate is a date only, as captured)."""
    item: dict = {
        "startDate": event.start.strftime("%Y-%m-%d"),
        "endDate": event.end.strftime("%Y-%m-%d"),
        "description": event.description,
        "url": event.url,
        "image": _image(event)["url"],
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode"
        if event.is_online
        else "https://schema.org/OfflineEventAttendanceMode",
        "@type": "Event",
        "name": event.title,
    }
    if event.venue is None:
        item["location"] = {"@type": "VirtualLocation", "url": event.url}
    else:
        venue = event.venue
        item["location"] = {
            "address": {
                "addressCountry": venue.country,
                "addressLocality": venue.city,
                "addressRegion": venue.region,
                "streetAddress": venue.address_1,
                "postalCode": venue.postal_code,
                "@type": "PostalAddress",
            },
            "geo": {
                "latitude": str(venue.lat),
                "@type": "GeoCoordinates",
                "longitude": str(venue.lng),
            },
            "@type": "Place",
            "name": venue.name,
        }
    return {"position": position, "@type": "ListItem", "item": item}


def item_list(events: Sequence[SimEvent]) -> dict:
    return {
        "@context": "https://schema.org",
        "itemListElement": [jsonld_item(e, i + 1) for i, e in enumerate(events)],
        "@type": "ItemList",
    }


# -- the search page ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SearchPages:
    """How a city's organic results fall into pages, plus the promoted (ad) results."""

    pages: tuple[tuple[SimEvent, ...], ...]
    promoted: tuple[SimEvent, ...]
    object_count: int


def paginate(events: Sequence[SimEvent], seed: int, city_id: str) -> SearchPages:
    """Pages of up to 20 results: some short (series dedup), some repeating an event
    from the page before (cross-page duplicates), like the real search pages."""
    rng = random.Random(f"{seed}|eventbrite-pages|{city_id}")
    pages: list[tuple[SimEvent, ...]] = []
    rest = list(events)
    while rest:
        size = PAGE_SIZE - (1 if rng.random() < 0.25 else 0)
        page = rest[:size]
        rest = rest[size:]
        if pages and rng.random() < 0.35 and len(page) < PAGE_SIZE:
            page.insert(rng.randrange(len(page) + 1), pages[-1][-1])
        elif pages and rng.random() < 0.35 and rest:
            # Keep the page at 20 while repeating one: push the displaced event along.
            rest.insert(0, page.pop())
            page.insert(rng.randrange(len(page) + 1), pages[-1][-1])
        pages.append(tuple(page))
    promoted: list[SimEvent] = []
    if events:
        # Ads: the same on every page; one is also an organic result, two are not
        # events of this search at all (a spider must drop promoted_results).
        promoted.append(events[len(events) // 2])
        for k in range(2):
            base = events[k % len(events)]
            ad_id = str(int(base.source_id) + 7 + k)
            title = f"Sponsored: {base.title}"
            url = f"https://www.eventbrite.com/e/{slugify(title)}-tickets-{ad_id}"
            promoted.append(
                dataclasses.replace(
                    base, source_id=ad_id, title=title, url=url, link=url, quirks=("promoted",)
                )
            )
    return SearchPages(pages=tuple(pages), promoted=tuple(promoted), object_count=len(events))


def _server_data_common(place: Place, current_page: str, canonical: str) -> dict:
    city = place.city
    return {
        "isGDPRCountry": False,
        "app_name": "discover",
        "head_title": f"Events in {place.name} | Eventbrite",
        "citySlug": city.eventbrite["slug"],
        "cityPlaceId": place_id(place),
        "placeId": place_id(place),
        "current_page": current_page,
        "canonical_url": canonical,
        "city": place.name,
        "region": place.region,
        "country": place.country,
        "currentPlace": place.name,
        "location_slug": city.eventbrite["slug"],
        "place_type": "locality",
        "is_online": False,
        "isBotRequest": False,
        "app_version": "10.4.214",
        "env": {"isProduction": True},
    }


def search_server_data(place: Place, layout: SearchPages, page: int) -> dict:
    results = layout.pages[page - 1] if 1 <= page <= len(layout.pages) else ()
    slug = place.city.eventbrite["slug"]
    data = _server_data_common(place, "search", f"/d/{slug}/all-events/")
    data["jsonld"] = [item_list(results)]
    data["search_data"] = {
        "events": {
            "results": [destination_event(e, place, ("primary_venue", "image")) for e in results],
            "promoted_results": [
                destination_event(e, place, ("primary_venue", "image")) for e in layout.promoted
            ],
            "pagination": {
                "object_count": layout.object_count,
                "page_count": len(layout.pages),
                "page_number": page,
                "page_size": PAGE_SIZE,
            },
            "aggs": {},
        },
        "event_search": {
            "dates": "current_future",
            "dedup": True,
            "places": [place_id(place)],
            "page": page,
            "page_size": PAGE_SIZE,
            "online_events_only": False,
        },
    }
    return data


def _react_query_state(place: Place, page: int, object_count: int) -> dict:
    # Not empty on purpose: a regex running from __SERVER_DATA__'s brace to the last
    # '}' of the script swallows this too and fails to parse.
    return {
        "mutations": [],
        "queries": [
            {
                "queryKey": ["search", {"places": [place_id(place)], "page": page}],
                "state": {
                    "data": {"pagination": {"object_count": object_count}},
                    "status": "success",
                },
            }
        ],
    }


def _document(title: str, canonical: str, head_extra: str, body: str, script: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en-us">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        f'<link rel="canonical" href="https://www.eventbrite.com{canonical}">\n'
        f"{head_extra}</head>\n<body>\n{body}\n<script>\n"
        "            // Get user's timezone and save in cookies\n"
        "            const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;\n"
        '            document.cookie = "django_timezone=" + timezone;\n\n'
        '            window.__i18n__ = {"locale":"en_US"};\n\n'
        f"{script}\n        </script>\n</body>\n</html>\n"
    )


def _server_data_script(server_data: dict, react_state: dict) -> str:
    return (
        f"                window.__SERVER_DATA__ = {script_json(server_data)};\n"
        "            \n            \n"
        f"                    window.__REACT_QUERY_STATE__ = {script_json(react_state)}\n"
    )


def _cards(events: Sequence[SimEvent]) -> str:
    from html import escape

    cards = "".join(
        f'<li><section class="event-card" data-event-id="{e.source_id}">'
        f'<a href="{escape(e.url)}"><h3>{escape(e.title)}</h3></a></section></li>'
        for e in events
    )
    return f'<main><ul class="search-results">{cards}</ul></main>'


def search_page(place: Place, layout: SearchPages, page: int) -> str:
    data = search_server_data(place, layout, page)
    slug = place.city.eventbrite["slug"]
    results = layout.pages[page - 1] if 1 <= page <= len(layout.pages) else ()
    ld = f'<script type="application/ld+json">{script_json(data["jsonld"][0])}</script>\n'
    return _document(
        f"Events in {place.name} | Eventbrite",
        f"/d/{slug}/all-events/",
        ld,
        _cards(results),
        _server_data_script(data, _react_query_state(place, page, layout.object_count)),
    )


def js_only_search_page(place: Place, layout: SearchPages, page: int) -> str:
    """The same page, but its data appears only once its inline JavaScript runs.

    The raw HTML holds neither `window.__SERVER_DATA__ =` nor the JSON-LD: both are
    base64 inside a bootstrap script that writes them into the DOM, so a plain HTTP
    client sees a 2xx page without data and only a browser gets the events.
    """
    data = search_server_data(place, layout, page)
    state = _react_query_state(place, page, layout.object_count)
    payload = (
        f"window.__SERVER_DATA__ = {script_json(data)};\n"
        f"window.__REACT_QUERY_STATE__ = {script_json(state)}\n"
    )
    ld = script_json(data["jsonld"][0])
    encoded = base64.b64encode(payload.encode()).decode()
    encoded_ld = base64.b64encode(ld.encode()).decode()
    slug = place.city.eventbrite["slug"]
    bootstrap = (
        "<script>\n(function () {\n"
        "  function text(b64) {\n"
        "    var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });\n"
        "    return new TextDecoder().decode(bytes);\n  }\n"
        '  var ld = document.createElement("script");\n'
        '  ld.type = "application/ld" + "+json";\n'
        f'  ld.text = text("{encoded_ld}");\n'
        "  document.head.appendChild(ld);\n"
        '  var data = document.createElement("script");\n'
        f'  data.text = text("{encoded}");\n'
        "  document.body.appendChild(data);\n"
        '  var root = document.getElementById("root");\n'
        '  var list = document.createElement("ul");\n'
        # Spelled in two halves so the raw page never holds the marker a parser looks for.
        '  var server = window["__SERVER" + "_DATA__"];\n'
        "  (server.search_data.events.results || []).forEach(function (e) {\n"
        '    var li = document.createElement("li");\n'
        '    li.className = "event-card";\n'
        "    li.textContent = e.name;\n"
        "    list.appendChild(li);\n  });\n"
        '  root.textContent = "";\n'
        "  root.appendChild(list);\n"
        "})();\n</script>"
    )
    body = (
        '<div id="root"><noscript>Please enable JavaScript to see events.</noscript>'
        "<p>Loading events…</p></div>\n" + bootstrap
    )
    return (
        '<!DOCTYPE html>\n<html lang="en-us">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Events in {place.name} | Eventbrite</title>\n"
        f'<link rel="canonical" href="https://www.eventbrite.com/d/{slug}/all-events/">\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# -- the landing page -----------------------------------------------------------------


def landing_page(place: Place, events: Sequence[SimEvent]) -> str:
    """`/d/<slug>/events/`: buckets of events (duplicates across buckets), no search_data."""
    offline = [e for e in events if not e.is_online]
    online = [e for e in events if e.is_online]
    nightlife = [e for e in offline if e.start.hour >= 20]
    weekend = [e for e in events if e.start.weekday() >= 5]
    slug = place.city.eventbrite["slug"]
    buckets = [
        ("neighbourhood_events", "Explore by neighbourhood", "cnl", offline[:4]),
        ("nightlife_events", "After 8pm", "cne", nightlife[:4]),
        ("best_of_city_events", "Editor's Picks", "cboce", offline[2:10]),
        ("popular_events", f"Popular in {place.name}", "cpe2", offline[:8]),
        ("online_events", "Online Events", "coe", online[:8]),
        ("this_weekend", "This Weekend", "ctw", weekend[:8]),
    ]
    server_buckets = []
    listed: list[SimEvent] = []
    for key, name, key_min, bucket in buckets:
        listed.extend(bucket)
        server_buckets.append(
            {
                "key_min": key_min,
                "name": name,
                "see_more": {
                    "url": f"https://www.eventbrite.com/d/{slug}/all-events/",
                    "params": {"dates": ["future"], "places": [place_id(place)]},
                },
                "promoted_events": [],
                "key": key,
                "type": "event",
                "events": [destination_event(e, place, ("primary_venue", "image")) for e in bucket],
                "template": f"card_small_{max(len(bucket), 4)}",
            }
        )
    data = _server_data_common(place, "city_browse", f"/d/{slug}/events/")
    data["jsonld"] = [item_list(listed)]
    data["buckets"] = server_buckets
    ld = f'<script type="application/ld+json">{script_json(data["jsonld"][0])}</script>\n'
    return _document(
        f"Things to do in {place.name} | Eventbrite",
        f"/d/{slug}/events/",
        ld,
        _cards(listed),
        _server_data_script(data, {"mutations": [], "queries": []}),
    )


# -- the destination search API --------------------------------------------------------


def _continuation(page: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"page": page})).decode().rstrip("=")


def destination_search(
    place: Place, events: Sequence[SimEvent], event_search: dict, expand: Sequence[str]
) -> dict:
    """`POST /api/v3/destination/search/`: paged rows, capped at 950 per query."""
    rows = list(events)
    window = event_search.get("date_range")
    if isinstance(window, dict):
        low, high = str(window.get("from", "")), str(window.get("to", "9999-12-31"))
        rows = [e for e in rows if low <= e.start.strftime("%Y-%m-%d") <= high]
    if event_search.get("online_events_only"):
        rows = [e for e in rows if e.is_online]
    bbox = event_search.get("bbox")
    if isinstance(bbox, str) and bbox.count(",") == 3:
        west, south, east, north = (float(v) for v in bbox.split(","))
        rows = [
            e
            for e in rows
            if e.venue and south <= e.venue.lat <= north and west <= e.venue.lng <= east
        ]
    page_size = max(1, min(int(event_search.get("page_size") or 20), 50))
    page = max(1, int(event_search.get("page") or 1))
    capped = rows[:API_ROW_CAP]
    page_count = max(1, math.ceil(len(capped) / page_size))
    chunk = capped[(page - 1) * page_size : page * page_size]
    return {
        "events": {
            "pagination": {
                "object_count": len(capped),
                "page_count": page_count,
                "page_number": page,
                "page_size": page_size,
                "continuation": _continuation(page + 1) if page < page_count else None,
            },
            "results": [destination_event(e, place, expand) for e in chunk],
        },
        "event_search": event_search,
    }
