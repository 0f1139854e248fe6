"""Luma's discover feed and event details, shaped like the real captures.

`/discover/get-paginated-events` returns entries sorted by `start_at` (UTC `...Z`),
`has_more`, and a base64 `next_cursor` ({"sv": start, "fb": api_id}) that is present
even on the last page. Only `pagination_cursor` pages: a `cursor` parameter is ignored
(the same first page again, `has_more` still true), as on the real site. There is no
description in the feed: `/event/get?event_api_id=` has it as a ProseMirror doc.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from nocturne_crawl.simulator.generate import Place, SimEvent

MAX_LIMIT = 50


class CursorError(ValueError):
    pass


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sort_key(event: SimEvent) -> tuple[str, str]:
    return (_utc(event.start), event.source_id)


def encode_cursor(event: SimEvent) -> str:
    sv = event.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    raw = orjson.dumps({"sv": sv, "fb": event.source_id})
    return base64.b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(UTC start as '...Z', api id) of the last entry the cursor points after."""
    try:
        data = orjson.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4), validate=True))
        sv = datetime.strptime(data["sv"], "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=UTC)
        return _utc(sv), str(data["fb"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CursorError(f"invalid pagination_cursor {cursor!r}") from exc


def _geo(event: SimEvent, place: Place) -> dict | None:
    venue = event.venue
    if venue is None:
        return None
    if event.luma_mode == "manual-online":
        # An online event filed as offline: the address says "Online", no coordinate.
        return {"type": "manual", "address": "Online", "mode": "shown"}
    region_name = place.region or venue.city
    if event.luma_mode == "obfuscated":
        return {
            "mode": "obfuscated",
            "city": venue.city,
            "city_state": f"{venue.city}, {venue.region}".strip(", "),
            "sublocality": venue.neighborhood,
            "country": place.country,
            "country_code": venue.country,
            "region": region_name,
            "region_short": venue.region,
        }
    tail = f"{venue.region} {venue.postal_code}".strip()
    return {
        "city": venue.city,
        "type": "google",
        "region": region_name,
        "address": venue.name,
        "country": place.country,
        "place_id": f"ChIJsim{venue.id}",
        "localized": None,
        "city_state": f"{venue.city}, {venue.region}".strip(", "),
        "description": "",
        "sublocality": venue.neighborhood,
        "country_code": venue.country,
        "full_address": f"{venue.name}, {venue.address_1}, {venue.city}, {tail}, {venue.country}",
        "short_address": f"{venue.address_1}, {venue.city}",
        "apple_maps_place_id": None,
        "mode": "shown",
    }


def event_object(event: SimEvent, place: Place) -> dict:
    coordinate = event.coordinate()
    online = event.is_online and event.luma_mode != "manual-online"
    return {
        "api_id": event.source_id,
        "calendar_api_id": "cal-" + event.source_id[4:],
        "cover_url": f"https://images.lumacdn.com/event-covers/sim/{event.source_id}.png",
        "end_at": _utc(event.end),
        "event_type": "independent",
        "hide_rsvp": False,
        "location_type": "online" if online else "offline",
        "name": event.title,
        "one_to_one": False,
        "recurrence_id": None,
        "show_guest_list": True,
        "social_image_url": f"https://images.lumacdn.com/event-social/sim/{event.source_id}.png",
        "start_at": _utc(event.start),
        "timezone": event.timezone,
        "url": event.url,
        "user_api_id": "usr-" + event.source_id[4:],
        "visibility": "public",
        "virtual_info": {"has_access": False},
        "geo_address_info": None if online else _geo(event, place),
        "geo_address_visibility": "guests-only" if event.luma_mode == "obfuscated" else "public",
        "coordinate": {"longitude": coordinate[1], "latitude": coordinate[0]}
        if coordinate
        else None,
        "waitlist_enabled": False,
        "waitlist_status": "disabled",
    }


def _ticket_info(event: SimEvent) -> dict:
    price = (
        None
        if event.is_free
        else {"cents": event.price_cents, "currency": event.currency, "is_flexible": False}
    )
    return {
        "price": price,
        "is_free": event.is_free,
        "max_price": price,
        "is_sold_out": False,
        "spots_remaining": None,
        "is_near_capacity": False,
        "require_approval": event.index % 5 == 0,
    }


def _calendar(event: SimEvent, place: Place) -> dict:
    return {
        "access_level": "public",
        "api_id": "cal-" + event.source_id[4:],
        "name": event.host,
        "slug": None,
        "timezone": place.city.timezone,
        "is_personal": False,
        "personal_user": None,
        "geo_city": place.name,
        "geo_region": place.region,
        "luma_plan": "free",
    }


def entry(event: SimEvent, place: Place) -> dict:
    """One discover entry: the event plus calendar, hosts, tickets and the featured city."""
    return {
        "api_id": event.source_id,
        "event": event_object(event, place),
        "cover_image": {"colors": ["#0d1946", "#07132b"], "palette": {}},
        "calendar": _calendar(event, place),
        "start_at": _utc(event.start),
        "hosts": [
            {"api_id": "usr-" + event.source_id[4:], "name": event.host, "timezone": event.timezone}
        ],
        "guest_count": 10 + event.index % 90,
        "ticket_count": 10 + event.index % 90,
        "ticket_info": _ticket_info(event),
        "registration_availability": "open",
        "manager_info": None,
        "guest_info": None,
        "host_info": None,
        "waitlist_active": False,
        "featured_city": {
            "api_id": place.city.luma.get("place") or f"discplace-sim{place.index}",
            "name": place.name,
            "slug": place.city.slug,
        },
        "featured_guests": [],
        "role": None,
        "submitted_by_user_api_id": None,
        "score": round(1 / (1 + event.index), 6),
        "query_score": 0,
    }


def discover_page(place: Place, events: Sequence[SimEvent], limit: int, cursor: str | None) -> dict:
    """One page of the discover feed (entries after `cursor`, up to `limit`)."""
    ordered = events  # the caller keeps them sorted by (start_at, api_id)
    rows = ordered
    if cursor:
        after = decode_cursor(cursor)
        rows = [e for e in ordered if sort_key(e) > after]
    page = rows[: max(1, min(limit, MAX_LIMIT))]
    has_more = len(rows) > len(page)
    last = page[-1] if page else (ordered[-1] if ordered else None)
    body: dict = {"entries": [entry(e, place) for e in page], "has_more": has_more}
    body["next_cursor"] = encode_cursor(last) if last else None
    return body


def description_doc(event: SimEvent) -> dict:
    """The description as a ProseMirror doc: a bold paragraph, then a paragraph whose
    lines are joined by hard breaks, with a link mark, like the real `description_mirror`."""
    first, *rest = event.description.split("\n")
    content: list[dict] = [
        {
            "type": "paragraph",
            "content": [{"text": first, "type": "text", "marks": [{"type": "bold"}]}],
        }
    ]
    if rest:
        inline: list[dict] = []
        for k, line in enumerate(rest):
            if k:
                inline.append({"type": "hard_break"})
            marks = (
                [{"type": "link", "attrs": {"href": f"https://luma.com/{event.url}"}}]
                if k == 0
                else []
            )
            node = {"text": line, "type": "text"}
            if marks:
                node["marks"] = marks
            inline.append(node)
        content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "content": content}


def event_details(event: SimEvent, place: Place) -> dict:
    """`/event/get?event_api_id=`: the event, its description and the rest of the page data."""
    base = entry(event, place)
    return {
        "api_id": event.source_id,
        "event": base["event"],
        "description_mirror": description_doc(event),
        "calendar": base["calendar"],
        "categories": [{"api_id": "cat-tech", "name": "Tech", "slug": "tech"}],
        "featured_city": base["featured_city"],
        "hosts": base["hosts"],
        "guest_count": base["guest_count"],
        "ticket_count": base["ticket_count"],
        "ticket_info": base["ticket_info"],
        "ticket_types": [],
        "sessions": [],
        "start_at": base["start_at"],
        "registration_availability": "open",
        "locale": "en",
        "role": None,
        "waitlist_active": False,
    }
