"""Meetup spider: real captured pages (shared fixtures) and the project's own."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from spiders.meetup import (
    MeetupSpider,
    _parse_coordinates,
    _parse_instant,
    _parse_is_online,
    _parse_location,
    _parse_price,
    event_fields,
    gql_connection,
    gql_nodes,
)
from tests.support.responses import json_response, response_from_file, response_from_text
from tests.support.spiders import make_spider, split, start_requests, stat

FIXTURES = Path(__file__).parent / "fixtures"
FIND_URL = "https://www.meetup.com/find/?location=us--ca--Los%20Angeles&source=EVENTS"
# 2026-03-07 noon in Los Angeles: the horizon starts the day before the DST jump.
PINNED = datetime(2026, 3, 7, 12, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def _find_page(spider, path: Path, url: str = FIND_URL):
    return split(spider.parse_find_page(response_from_file(path, url)))


def _gql(spider, request, path: Path):
    return split(spider.parse_gql(response_from_file(path, request.url, request=request)))


@time_machine.travel(PINNED, tick=False)
async def test_start_find_page_and_first_gql_window():
    spider = make_spider(MeetupSpider, MEETUP_BASE_URL="http://127.0.0.1:9")
    find, gql = await start_requests(spider)
    assert find.url == "http://127.0.0.1:9/find/?location=us--ca--Los%20Angeles&source=EVENTS"
    assert (gql.method, gql.url) == ("POST", "http://127.0.0.1:9/gql2")
    body = json.loads(gql.body)
    assert "recommendedEvents(first: $first" in body["query"]  # full text, no persisted hash
    assert body["variables"]["first"] == 50 and body["variables"]["after"] is None
    assert body["variables"]["filter"] == {
        "lat": 34.0522,
        "lon": -118.2437,
        "startDateRange": "2026-03-07T00:00:00-08:00[America/Los_Angeles]",
        "endDateRange": "2026-04-05T23:59:59-07:00[America/Los_Angeles]",
    }
    assert gql.headers["apollographql-client-name"] == b"nextjs-web"


# -- real captures -----------------------------------------------------------------------


def test_chiang_mai_full_find_page_every_feed_event_once(shared_fixtures):
    path = shared_fixtures / "meetup/find-page_full-NEAR-VERBATIM_th--Chiang-Mai_2026-09-24.html"
    text = path.read_text()
    # Independent of the spider: the feed's edges name the events of page one.
    feed_ids = set(re.findall(r'RecommendedEventsEdge:\{\\"node\\":\{\\"id\\":\\"(\d+)\\"', text))
    assert len(feed_ids) == 12

    spider = make_spider(MeetupSpider)
    items, requests = _find_page(
        spider, path, "https://www.meetup.com/find/?location=th--Chiang-Mai"
    )
    assert requests == []
    assert sorted(i.source_id for i in items) == sorted(feed_ids)
    for item in items:
        assert re.fullmatch(rf"https://www\.meetup\.com/[\w-]+/events/{item.source_id}", item.link)
        assert item.title == item.title.strip() and item.title
    assert stat(spider, "nocturne/pages") == 1


def test_chiang_mai_spot_checks(shared_fixtures):
    path = shared_fixtures / "meetup/find-page_full-NEAR-VERBATIM_th--Chiang-Mai_2026-09-24.html"
    items, _ = _find_page(make_spider(MeetupSpider), path)
    by_id = {i.source_id: i for i in items}

    welcome = by_id["316415704"]
    assert welcome.title.startswith("New In Town Meetup: Welcome to Chiang Ma")
    assert welcome.link == "https://www.meetup.com/makenewfriendsinchiangmai/events/316415704"
    assert welcome.timezone == "Asia/Bangkok"
    assert welcome.starts_at.strftime("%Y-%m-%d %H:%M") == "2026-09-24 18:00"
    assert welcome.location.startswith("SHINE ON – Social Bar & Restaurant")
    assert welcome.is_online is False

    # The card shows <time dateTime="2026-09-30T11:00:00+07:00[Asia/Bangkok]"> for 6 PM:
    # the attribute is mislabelled UTC; the Apollo dateTime is the truth.
    family = by_id["316638674"]
    assert family.starts_at.strftime("%Y-%m-%d %H:%M") == "2026-09-30 18:00"

    japan = by_id["316043814"]
    assert (japan.is_online, japan.location, japan.latitude) == (True, "Online", None)
    assert japan.timezone == "Asia/Kolkata"
    assert japan.starts_at.strftime("%Y-%m-%d %H:%M") == "2026-09-27 11:00"
    assert sum(i.is_online for i in items) == 2


def test_chiang_mai_excerpt_stub_entries_are_ignored(shared_fixtures):
    path = shared_fixtures / "meetup/find-page_EXCERPT_th--Chiang-Mai_2026-09-24.html"
    items, _ = _find_page(make_spider(MeetupSpider), path)
    assert sorted(i.source_id for i in items) == ["316043814", "316415704"]


def test_cologne_detail_page_resolves_the_venue_reference(shared_fixtures):
    path = shared_fixtures / "meetup/event-detail_next-data-apollo_sfugcgn_290308810.html"
    items, _ = _find_page(make_spider(MeetupSpider), path)
    [meeting] = [i for i in items if i.source_id == "290308810"]
    assert meeting.link == "https://www.meetup.com/sfugcgn/events/290308810"
    assert meeting.starts_at.utcoffset().total_seconds() == 3600
    assert meeting.starts_at.strftime("%Y-%m-%d") == "2023-01-19"
    assert meeting.latitude is not None and meeting.longitude is not None
    assert meeting.ends_at > meeting.starts_at


def test_2023_gql_keyword_search_lng_and_online_placeholder(shared_fixtures):
    payload = json.loads(
        (
            shared_fixtures / "meetup/gql_eventKeywordSearch_toronto-tech-meetup_2023-03-03.json"
        ).read_text()
    )
    nodes = gql_nodes(gql_connection(payload))
    assert len(nodes) == 20
    fields = [event_fields(n, {}, "America/Toronto") for n in nodes]
    assert sum(f["is_online"] for f in fields) == 18
    for f in fields:
        if f["is_online"]:
            assert (f["location"], f["latitude"], f["longitude"]) == ("Online", None, None)
    pub = next(f for f in fields if f["title"].startswith("Toronto's Biggest Professional"))
    assert (pub["latitude"], pub["longitude"]) == (43.6757, -79.40383)  # from `lng`
    assert pub["location"].startswith("Pour House Pub and Kitchen, 182 Dupont St")


# -- the project's own pages ---------------------------------------------------------------


def test_own_find_page_stubs_refs_online_and_text():
    spider = make_spider(MeetupSpider)
    items, _ = _find_page(spider, FIXTURES / "meetup_find_page.html")
    by_id = {i.source_id: i for i in items}
    assert sorted(by_id) == ["1001", "1003", "1004"]  # 1002 and wprbztyjcnbdc are stubs

    ride = by_id["1001"]
    assert ride.starts_at.isoformat() == "2026-03-07T23:45:00-08:00"  # not the card's 07:45
    assert ride.ends_at.isoformat() == "2026-03-08T03:15:00-07:00"  # across midnight and DST
    assert ride.location == "Union Station, 800 N Alameda St, Los Angeles, CA"
    assert ride.image_url == "https://secure.meetupstatic.com/photos/event/highres_9001.jpeg"
    assert (ride.is_free, ride.price) == (None, None)

    show = by_id["1003"]
    assert show.title == "Remote Makers: Show & Tell online"
    assert (show.is_online, show.timezone, show.price) == (True, "America/New_York", "5.00 USD")

    picnic = by_id["1004"]
    assert (picnic.latitude, picnic.longitude) == (34.0563, -118.2467)
    assert picnic.location == "Grand Park, 200 N Grand Ave, Los Angeles, CA"


@time_machine.travel(PINNED, tick=False)
async def test_overlapping_gql_pages_are_deduplicated_and_paging_follows_the_cursor():
    spider = make_spider(MeetupSpider)
    _, first = await start_requests(spider)
    items1, [second] = _gql(spider, first, FIXTURES / "meetup_gql2_page1.json")
    assert json.loads(second.body)["variables"]["after"] == "NTA="
    items2, more = _gql(spider, second, FIXTURES / "meetup_gql2_page2_overlapping.json")
    assert more == []  # hasNextPage false
    ids = [i.source_id for i in items1 + items2]
    assert len(ids) == len(set(ids)) == 90  # 50 + 44 edges, 4 repeated
    assert ids == [str(n) for n in range(2001, 2091)]
    no_venue = next(i for i in items2 if i.source_id == "2060")
    assert (no_venue.location, no_venue.latitude) == (None, None)
    assert stat(spider, "nocturne/pages") == 2


@time_machine.travel(PINNED, tick=False)
async def test_a_window_at_the_cap_is_split_into_local_days():
    spider = make_spider(MeetupSpider, MEETUP_QUERY_CAP=60, CRAWL_HORIZON_DAYS=3)
    _, first = await start_requests(spider)
    _, [second] = _gql(spider, first, FIXTURES / "meetup_gql2_page1.json")
    _, days = _gql(spider, second, FIXTURES / "meetup_gql2_page2_overlapping.json")
    ranges = [
        (
            json.loads(r.body)["variables"]["filter"]["startDateRange"],
            json.loads(r.body)["variables"]["filter"]["endDateRange"],
        )
        for r in days
    ]
    assert ranges == [
        (
            "2026-03-07T00:00:00-08:00[America/Los_Angeles]",
            "2026-03-07T23:59:59-08:00[America/Los_Angeles]",
        ),
        (
            "2026-03-08T00:00:00-08:00[America/Los_Angeles]",
            "2026-03-08T23:59:59-07:00[America/Los_Angeles]",
        ),
        (
            "2026-03-09T00:00:00-07:00[America/Los_Angeles]",
            "2026-03-09T23:59:59-07:00[America/Los_Angeles]",
        ),
    ]
    assert stat(spider, "nocturne/meetup/split_windows") == 1
    # A day that reaches the cap again is paged to its own limit, not split further.
    _, day_more = _gql(spider, days[0], FIXTURES / "meetup_gql2_page1.json")
    _, day_end = _gql(spider, day_more[0], FIXTURES / "meetup_gql2_page2_overlapping.json")
    assert day_end == []
    assert stat(spider, "nocturne/meetup/capped_windows") == 1


def test_graphql_errors_and_bot_pages_are_counted():
    spider = make_spider(MeetupSpider)
    errors = {"errors": [{"message": 'Cannot query field "foo" on type "Event"'}]}
    request = spider.gql_request(PINNED.date(), PINNED.date(), window="range")
    assert split(spider.parse_gql(json_response(errors, request.url, request=request))) == ([], [])
    assert stat(spider, "nocturne/source_errors") == 1

    bot = response_from_text("<html><body>Please verify you are human</body></html>", FIND_URL)
    _, [retry] = split(spider.parse_find_page(bot))
    assert retry.meta["playwright"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-09-24T18:00:00+07:00", "2026-09-24T18:00:00+07:00"),
        # an offset from another zone: the same instant on the event zone's clock
        ("2023-03-15T19:00-04:00", "2023-03-16T06:00:00+07:00"),
        ("2026-09-30T11:00:00+07:00[Asia/Bangkok]", "2026-09-30T11:00:00+07:00"),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_instant(value, expected):
    parsed = _parse_instant(value, "Asia/Bangkok")
    assert (parsed.isoformat() if parsed else None) == expected


def test_parse_helpers_one_field_each():
    assert _parse_is_online({"eventType": "ONLINE"}, {}) is True
    assert _parse_is_online({"eventType": "physical"}, {"name": "Online event"}) is True
    assert _parse_is_online({"eventType": "PHYSICAL"}, {"name": "Bar"}) is False
    assert _parse_location({"name": "Bar", "address": "", "city": "Bar"}) == "Bar"
    assert _parse_location({}) is None
    assert _parse_coordinates({"lat": 1, "lon": 2}) == (1.0, 2.0)
    assert _parse_coordinates({"lat": 1, "lng": 2}) == (1.0, 2.0)
    assert _parse_coordinates({"lat": None}) == (None, None)
    assert _parse_price({"amount": 0, "currency": "USD"}) == (True, "Free")
    assert _parse_price(None) == (None, None)
