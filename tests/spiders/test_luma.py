"""Luma spider: real captured feeds and details (shared fixtures) and the project's own."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from scrapy.http import Request
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from nocturne_crawl.prosemirror import prosemirror_text
from spiders.luma import (
    DETAILS_SLOT,
    LumaSpider,
    _parse_coordinates,
    _parse_instant,
    _parse_is_online,
    _parse_link,
    _parse_location,
    _parse_price,
)
from tests.support.responses import json_response, response_from_file
from tests.support.spiders import make_spider, split, start_requests, stat

FIXTURES = Path(__file__).parent / "fixtures"
FEED = "https://api.lu.ma/discover/get-paginated-events?discover_place_api_id=x&pagination_limit=50"


def _failure(exc: Exception, request: Request) -> Failure:
    failure = Failure(exc)
    failure.request = request
    return failure


def _not_found(request: Request) -> Failure:
    return _failure(
        HttpError(json_response({"message": "Not found"}, request.url, status=404)), request
    )


def _finish(spider, details_requests, details: dict) -> list:
    """Answer each /event/get request from `details` (404 for the ids it lacks)."""
    items = []
    for request in details_requests:
        event_id = parse_qs(urlsplit(request.url).query)["event_api_id"][0]
        if event_id in details:
            response = json_response(details[event_id], request.url, request=request)
            out, _ = split(request.callback(response, **request.cb_kwargs))
        else:
            out, _ = split(request.errback(_not_found(request)))
        items.extend(out)
    return items


async def test_start_asks_for_the_place_feed_with_the_page_size():
    spider = make_spider(LumaSpider, LUMA_API_BASE_URL="http://127.0.0.1:9")
    [request] = await start_requests(spider)
    url = urlsplit(request.url)
    assert (url.netloc, url.path) == ("127.0.0.1:9", "/discover/get-paginated-events")
    assert parse_qs(url.query) == {
        "discover_place_api_id": ["discplace-OgfEAh5KgfMzise"],
        "pagination_limit": ["50"],
    }
    assert request.headers["Origin"] == b"https://luma.com"


async def test_city_without_a_place_uses_coordinates():
    spider = make_spider(LumaSpider)
    spider.city = replace(spider.city, luma={"latitude": 50.06, "longitude": 19.94})
    [request] = await start_requests(spider)
    query = parse_qs(urlsplit(request.url).query)
    assert (query["latitude"], query["longitude"]) == (["50.06"], ["19.94"])
    assert "discover_place_api_id" not in query


# -- real captures -----------------------------------------------------------------------


def test_san_francisco_every_entry_once_with_details_where_captured(shared_fixtures):
    wrapper = json.loads((shared_fixtures / "luma/discover_entries_sf_2026-07-24.json").read_text())
    details = json.loads(
        (shared_fixtures / "luma/event-get_details_sf_2026-07-24.json").read_text()
    )
    details = details["details"]
    raw = {e["event"]["api_id"]: e["event"] for e in wrapper["entries"]}
    assert len(raw) == 79

    spider = make_spider(LumaSpider, city="ca--san-francisco")
    feed = {"entries": wrapper["entries"], "has_more": False}  # PROVENANCE: unwrap
    direct, requests = split(spider.parse(json_response(feed, FEED)))
    assert direct == []
    assert all(r.meta["download_slot"] == DETAILS_SLOT for r in requests)
    items = _finish(spider, requests, details)

    assert sorted(i.source_id for i in items) == sorted(raw)
    for item in items:
        event = raw[item.source_id]
        assert item.title == " ".join(event["name"].split())
        assert item.link == f"https://luma.com/{event['url']}"
        utc = datetime.fromisoformat(event["start_at"].replace("Z", "+00:00"))
        assert item.starts_at == utc and item.starts_at.tzinfo == ZoneInfo("America/Los_Angeles")
        assert item.is_online is False
        assert (item.description is not None) == (item.source_id in details)
    obfuscated = [i for i in items if raw[i.source_id]["geo_address_info"]["mode"] == "obfuscated"]
    assert len(obfuscated) == 43
    assert all(i.latitude is None and i.longitude is None for i in obfuscated)
    for item in obfuscated:  # the area only, as Luma gives it; one entry gives nothing
        geo = raw[item.source_id]["geo_address_info"]
        area = [part for part in (geo.get("sublocality"), geo.get("city_state")) if part]
        assert item.location == (", ".join(area) or None)
    assert stat(spider, "luma/descriptions_missing".join(["nocturne/", ""])) == 79 - len(
        set(raw) & set(details)
    )


def test_san_francisco_spot_checks(shared_fixtures):
    wrapper = json.loads((shared_fixtures / "luma/discover_entries_sf_2026-07-24.json").read_text())
    details = json.loads(
        (shared_fixtures / "luma/event-get_details_sf_2026-07-24.json").read_text()
    )
    spider = make_spider(LumaSpider, city="ca--san-francisco")
    feed = {"entries": wrapper["entries"], "has_more": False}
    _, requests = split(spider.parse(json_response(feed, FEED)))
    by_id = {i.source_id: i for i in _finish(spider, requests, details["details"])}

    hackathon = by_id["evt-OXp3PfY6HU8tcp0"]
    assert hackathon.title == "Self-Evolving Agents Hackathon"
    assert hackathon.link == "https://luma.com/swarmhack"
    assert hackathon.starts_at.strftime("%Y-%m-%d %H:%M") == "2026-07-24 09:30"
    assert hackathon.location == "Yerba Buena, San Francisco, CA"
    assert (hackathon.latitude, hackathon.longitude) == (None, None)

    swap = by_id["evt-MQZAWbon63422na"]
    assert swap.title == "Costume & Clothing Swap #3"
    assert swap.location == "660 Alabama St, San Francisco, CA 94110, USA"
    assert (swap.latitude, swap.longitude) == (37.7608144, -122.4121379)
    assert (swap.is_free, swap.price) == (True, "Free")

    board_games = by_id["evt-BU1CFyR2Ha4ji5f"]
    assert board_games.description.startswith(
        "Entrepreneurs First is hosting an evening of niche board games"
    )
    assert "\n\nWe'll be playing a curated selection" in board_games.description


def test_dc_last_page_keeps_a_cursor_but_has_more_false_ends_it(shared_fixtures):
    path = shared_fixtures / "luma/discover_get-paginated-events_dc_2026-06.json"
    raw = json.loads(path.read_text())
    assert raw["has_more"] is False and raw["next_cursor"]
    spider = make_spider(LumaSpider, city="dc--washington", LUMA_FETCH_DESCRIPTIONS=False)
    items, requests = split(spider.parse(response_from_file(path, FEED)))
    assert requests == []
    assert sorted(i.source_id for i in items) == sorted(
        e["event"]["api_id"] for e in raw["entries"]
    )


def test_delhi_online_event_filed_as_offline(shared_fixtures):
    path = shared_fixtures / "luma/discover_get-paginated-events_query-hackathon_delhi_2026-10.json"
    spider = make_spider(LumaSpider, LUMA_FETCH_DESCRIPTIONS=False)
    items, _ = split(spider.parse(response_from_file(path, FEED)))
    by_title = {i.title: i for i in items}
    assert len(items) == 3
    neat = by_title["neatHack"]
    assert (neat.is_online, neat.location, neat.latitude) == (True, "Online", None)
    gurugram = by_title["INNOVATION MEETUP"]
    assert (gurugram.is_online, gurugram.location) == (False, "Sector 28, Gurugram, India")
    assert gurugram.starts_at.strftime("%Y-%m-%d %H:%M %Z") == "2026-10-09 16:00 IST"


# -- the project's own feeds --------------------------------------------------------------


def test_own_pages_duplicates_once_and_a_repeated_cursor_stops():
    spider = make_spider(LumaSpider, LUMA_FETCH_DESCRIPTIONS=False)
    items1, [next_page] = split(
        spider.parse(response_from_file(FIXTURES / "luma_discover_page1.json", FEED))
    )
    query = parse_qs(urlsplit(next_page.url).query)
    assert query["pagination_cursor"] == ["eyJzdiI6IjIwMjYtMDMtMTEifQ"]
    assert "cursor" not in query
    items2, more = split(
        spider.parse(
            response_from_file(
                FIXTURES / "luma_discover_page2_repeated_cursor.json",
                next_page.url,
                meta=next_page.meta,
            )
        )
    )
    assert more == []  # the same cursor again: stop instead of looping forever
    assert stat(spider, "nocturne/luma/repeated_cursor") == 1
    assert [i.source_id for i in items1 + items2] == [
        "evt-Midnight1",
        "evt-DstJump01",
        "evt-Online001",
        "evt-Html00001",
        "evt-Berlin001",
    ]
    by_id = {i.source_id: i for i in items1 + items2}
    assert by_id["evt-Midnight1"].starts_at.isoformat() == "2026-03-07T23:30:00-08:00"
    assert by_id["evt-Midnight1"].price == "20.00 USD - 30.00 USD"
    assert by_id["evt-DstJump01"].starts_at.isoformat() == "2026-03-08T03:30:00-07:00"
    assert by_id["evt-DstJump01"].location == "Silver Lake, Los Angeles, CA"
    assert by_id["evt-Online001"].is_online is True
    assert by_id["evt-Html00001"].title == "Rock & Roll Karaoke"
    berlin = by_id["evt-Berlin001"]
    assert (berlin.timezone, berlin.starts_at.isoformat()) == (
        "Europe/Berlin",
        "2026-10-25T02:30:00+02:00",
    )
    assert (berlin.location, berlin.latitude) == (None, None)  # no venue at all


def test_details_fill_the_description_from_prosemirror():
    spider = make_spider(LumaSpider)
    _, requests = split(
        spider.parse(response_from_file(FIXTURES / "luma_discover_page1.json", FEED))
    )
    details = {"evt-Midnight1": json.loads((FIXTURES / "luma_event-get_midnight.json").read_text())}
    items = _finish(spider, [r for r in requests if "event_api_id" in r.url], details)
    midnight = next(i for i in items if i.source_id == "evt-Midnight1")
    assert midnight.description == (
        "Late Night Techno\n\nDoors at 11:30pm.\nTickets at the door\n\n"
        "- 21+\n- No photos <please> & thanks\n\n1. Arrive\n2. Dance"
    )
    assert all(i.description is None for i in items if i.source_id != "evt-Midnight1")


@pytest.mark.parametrize(
    "exc_for",
    [
        lambda r: HttpError(json_response({"message": "slow down"}, r.url, status=429)),
        lambda r: TwistedTimeoutError("took too long"),
    ],
    ids=["429", "timeout"],
)
def test_failed_details_still_yield_the_event(exc_for):
    spider = make_spider(LumaSpider)
    _, requests = split(
        spider.parse(response_from_file(FIXTURES / "luma_discover_page1.json", FEED))
    )
    request = next(r for r in requests if "evt-Midnight1" in r.url)
    items, _ = split(request.errback(_failure(exc_for(request), request)))
    assert [(i.source_id, i.description) for i in items] == [("evt-Midnight1", None)]
    assert stat(spider, "nocturne/source_errors") == 1


def test_not_a_feed_is_counted_not_raised():
    spider = make_spider(LumaSpider)
    assert split(spider.parse(json_response({"message": "Not found"}, FEED))) == ([], [])
    assert split(
        spider.parse(response_from_file(FIXTURES / "eventbrite_interstitial.html", FEED))
    ) == (
        [],
        [],
    )
    assert stat(spider, "nocturne/source_errors") == 2


def test_link_uses_the_public_host_not_the_api_host():
    spider = make_spider(LumaSpider, LUMA_API_BASE_URL="http://127.0.0.1:8765")
    assert spider.link_base == "https://luma.com"
    assert _parse_link({"url": "swarmhack"}) == "https://luma.com/swarmhack"
    assert _parse_link({"url": "https://luma.com/abc/"}) == "https://luma.com/abc"
    assert _parse_link({"url": ""}) is None


def test_parse_helpers_one_field_each():
    assert _parse_instant("2026-07-24T16:30:00.000Z", "America/Los_Angeles").isoformat() == (
        "2026-07-24T09:30:00-07:00"
    )
    assert _parse_instant(None, "UTC") is None
    assert _parse_is_online({"location_type": "online"}) is True
    assert _parse_is_online({"location_type": "offline", "geo_address_info": {"address": "Online"}})
    assert _parse_location({"geo_address_info": {"mode": "shown", "address": "Venue"}}) == "Venue"
    assert _parse_coordinates({"coordinate": None}) == (None, None)
    assert _parse_coordinates({"coordinate": {"latitude": 1.5, "longitude": 2}}) == (1.5, 2.0)
    assert _parse_price({"is_free": False, "price": {"cents": 1250, "currency": "eur"}}) == (
        False,
        "12.50 EUR",
    )
    assert _parse_price(None) == (None, None)


def test_prosemirror_walker_skips_media_and_unknown_nodes_keep_text():
    doc = {
        "type": "doc",
        "content": [
            {
                "type": "callout",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
            },
            {"type": "image"},
            {
                "type": "blockquote",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Q"}]}],
            },
            {"type": "code_block", "content": [{"type": "text", "text": "x = 1"}]},
        ],
    }
    assert prosemirror_text(doc) == "Hi\n\nQ\n\nx = 1"
    assert prosemirror_text(None) == ""
