"""Eventbrite spider: real captured pages (shared fixtures) and the project's own pages."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from spiders.base import UnknownCityError
from spiders.eventbrite import (
    EventbriteSpider,
    _parse_coordinates,
    _parse_is_online,
    _parse_location,
    _parse_price,
    _parse_starts_at,
    _parse_title,
    event_fields,
    extract_server_data,
    parse_listing,
)
from tests.support.responses import response_from_file, response_from_text
from tests.support.spiders import make_spider, split, start_requests, stat

FIXTURES = Path(__file__).parent / "fixtures"
LA = ZoneInfo("America/Los_Angeles")


def _page_url(slug: str, page: int = 1) -> str:
    return f"https://www.eventbrite.com/d/{slug}/all-events/?page={page}"


def _crawl_file(spider, path: Path, page: int = 1):
    url = _page_url(spider.city.id, page)
    return split(spider.parse(response_from_file(path, url, meta={"page": page})))


def _server_data_by_split(text: str) -> dict:
    """Independent of the spider: cut the assignment out by its neighbours, then json.loads."""
    body = text.split("window.__SERVER_DATA__ = ", 1)[1]
    body = body.split("window.__REACT_QUERY_STATE__", 1)[0].strip().rstrip(";")
    return json.loads(body)


def _destination_events(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if node.get("_type") == "destination_event":
            found.append(node)
        for value in node.values():
            found.extend(_destination_events(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_destination_events(value))
    return found


# -- the spider's set-up ----------------------------------------------------------------


def test_unknown_city_is_a_clear_error_before_any_request():
    with pytest.raises(UnknownCityError, match="unknown city 'atlantis'.*ca--los-angeles"):
        make_spider(EventbriteSpider, city="atlantis")


async def test_start_requests_page_one_of_the_city_search_on_the_configured_host():
    spider = make_spider(EventbriteSpider, EVENTBRITE_BASE_URL="http://127.0.0.1:9/")
    [request] = await start_requests(spider)
    assert request.url == "http://127.0.0.1:9/d/ca--los-angeles/all-events/?page=1"
    assert not request.meta.get("playwright")


async def test_render_browser_forces_chromium_from_the_first_request():
    spider = make_spider(EventbriteSpider, NOCTURNE_RENDER="browser")
    [request] = await start_requests(spider)
    assert request.meta["playwright"] is True
    assert request.meta["playwright_page_methods"]


# -- real captures -----------------------------------------------------------------------


def test_greedy_regex_breaks_on_the_real_page_but_the_decoder_does_not(shared_fixtures):
    text = (shared_fixtures / "eventbrite/city-browse_ny--new-york_events_2025-07.html").read_text()
    greedy = re.search(r"window\.__SERVER_DATA__ = (.*);\s*</script>", text, re.S)
    assert greedy is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(greedy.group(1))
    assert extract_server_data(text) == _server_data_by_split(text)


def test_new_york_landing_page_every_bucket_event_once(shared_fixtures):
    path = shared_fixtures / "eventbrite/city-browse_ny--new-york_events_2025-07.html"
    raw = _destination_events(_server_data_by_split(path.read_text())["buckets"])
    expected = {e["id"]: e for e in raw}
    assert (len(raw), len(expected)) == (40, 34)  # what PROVENANCE.md says the capture holds

    spider = make_spider(EventbriteSpider, city="ny--new-york")
    items, requests = _crawl_file(spider, path)
    assert requests == []  # a landing page has no pagination to follow
    assert sorted(i.source_id for i in items) == sorted(expected)
    for item in items:
        event = expected[item.source_id]
        assert item.title == " ".join(event["name"].split())
        assert item.link == event["url"]
        assert item.starts_at.strftime("%Y-%m-%d %H:%M") == (
            f"{event['start_date']} {event['start_time']}"
        )
        assert item.starts_at.tzinfo == ZoneInfo(event["timezone"])
        assert item.is_online is event["is_online_event"]
        assert (item.source, item.city) == ("eventbrite", "ny--new-york")
    assert stat(spider, "nocturne/pages") == 1


def test_new_york_spot_checks(shared_fixtures):
    path = shared_fixtures / "eventbrite/city-browse_ny--new-york_events_2025-07.html"
    items, _ = _crawl_file(make_spider(EventbriteSpider, city="ny--new-york"), path)
    by_id = {i.source_id: i for i in items}

    lemonade = by_id["1248448987529"]
    assert lemonade.title == "Pink Lemonade 2025"
    assert lemonade.link == "https://www.eventbrite.com/e/pink-lemonade-2025-tickets-1248448987529"
    assert lemonade.starts_at == datetime(2025, 7, 27, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    assert lemonade.ends_at == datetime(2025, 7, 27, 21, 0, tzinfo=ZoneInfo("America/New_York"))
    assert lemonade.location == (
        "Brooklyn Children's Museum Rooftop, 145 Brooklyn Avenue, Brooklyn, NY 11213"
    )
    assert (lemonade.latitude, lemonade.longitude) == (40.67446109999999, -73.94398629999999)
    assert lemonade.is_online is False

    summit = by_id["1378024742099"]
    assert summit.title == "2025 Northeast Miniforest Summit"
    assert summit.is_online is True
    assert summit.location == "Online"
    assert summit.latitude is None
    assert sum(i.is_online for i in items) == 8


def test_new_york_json_ld_fallback_gives_dates_without_inventing_times(shared_fixtures):
    text = (shared_fixtures / "eventbrite/city-browse_ny--new-york_events_2025-07.html").read_text()
    without_server_data = text.replace("window.__SERVER_DATA__ =", "window.__GONE__ =")
    ld_urls = set(re.findall(r'"url":\s*"(https://www\.eventbrite\.[a-z.]+/e/[^"]+)"', text))

    page = parse_listing(without_server_data)
    assert page.kind == "jsonld"
    spider = make_spider(EventbriteSpider, city="ny--new-york")
    items, _ = split(
        spider.parse(response_from_text(without_server_data, _page_url("ny--new-york")))
    )
    assert len(items) == len({i.link for i in items}) == 34
    assert {i.link for i in items} <= {u.split("?")[0] for u in ld_urls}
    for item in items:
        assert item.starts_at is None and item.time is None
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.date)
    lemonade = next(i for i in items if i.source_id == "1248448987529")
    assert lemonade.date == "2025-07-27"


def test_miami_category_page_event_data_searches(shared_fixtures):
    path = shared_fixtures / "eventbrite/category-browse_b_fl--miami_arts_musical_2024-09.html"
    data = _server_data_by_split(path.read_text())
    expected = {e["id"]: e for e in _destination_events(data["event_data"])}
    assert len(expected) == 13

    items, requests = _crawl_file(make_spider(EventbriteSpider, city="fl--miami"), path)
    assert requests == []
    assert sorted(i.source_id for i in items) == sorted(expected)
    by_id = {i.source_id: i for i in items}
    mad = by_id["989359881037"]
    assert mad.title == "Sam Wolfe @ Mad Live"
    assert mad.starts_at == datetime(2024, 9, 20, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    assert mad.ends_at == datetime(2024, 9, 21, 5, 0, tzinfo=ZoneInfo("America/New_York"))
    assert mad.location == "MAD LIVE at MAD Club Wynwood, 55 Northeast 24th Street, Miami, FL 33137"
    assert by_id["949872453077"].title == "Ryan Cooper Live @ La Tropical with Willy B & Friends!"
    assert by_id["931933657657"].title.startswith(
        "The World Premiere of Keith C. Wade's \"The Last"
    )
    assert not any(i.is_online for i in items)


def test_buenos_aires_search_results_in_their_own_zone(shared_fixtures):
    path = (
        shared_fixtures
        / "eventbrite/search-page_TRIMMED-5-events_buenos-aires_stand-up_2026-08.html"
    )
    items, requests = _crawl_file(make_spider(EventbriteSpider, city="ca--los-angeles"), path)
    assert len(items) == 5
    funko = next(i for i in items if i.source_id == "1383112128609")
    assert funko.title == "FUNKO STAND UP"
    assert funko.link == "https://www.eventbrite.com.ar/e/funko-stand-up-tickets-1383112128609"
    assert funko.timezone == "America/Argentina/Buenos_Aires"
    assert funko.starts_at.isoformat() == "2026-08-16T22:45:00-03:00"
    # A search page with results and no page_count: the next page is asked for.
    assert [r.url for r in requests] == [_page_url("ca--los-angeles", 2)]


# -- the project's own pages: pagination, promoted results, duplicates, edge fields -------


def test_search_pages_promoted_dropped_duplicates_once_stop_on_empty_page():
    spider = make_spider(EventbriteSpider)
    items1, next1 = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page1.html", 1)
    assert [r.url for r in next1] == [_page_url("ca--los-angeles", 2)]
    items2, next2 = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page2.html", 2)
    assert [r.url for r in next2] == [_page_url("ca--los-angeles", 3)]
    items3, next3 = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page3_empty.html", 3)
    # page_count says 5, but an empty page ends the listing.
    assert (items3, next3) == ([], [])

    ids = [i.source_id for i in items1 + items2]
    assert ids == [
        "100000000001",
        "100000000002",
        "100000000003",
        "100000000004",
        "100000000005",
        "100000000006",
    ]
    assert "900000000001" not in ids  # the promoted result, on every page
    assert "100000000007" not in ids  # cancelled
    assert stat(spider, "nocturne/eventbrite/cancelled") == 1
    assert stat(spider, "nocturne/pages") == 3


def test_field_coverage_is_counted_per_source():
    spider = make_spider(EventbriteSpider)
    items, _ = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page1.html")
    for item in items:
        spider.count_coverage(item)
    assert stat(spider, "nocturne/eventbrite/items") == 4
    assert stat(spider, "nocturne/eventbrite/with/starts_at") == 4
    assert stat(spider, "nocturne/eventbrite/with/latitude") == 2  # no venue; online
    assert stat(spider, "nocturne/eventbrite/with/price") == 2


def test_search_page_stops_at_page_count():
    spider = make_spider(EventbriteSpider)
    _, requests = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page2.html", 5)
    assert requests == []


def test_own_page_fields():
    spider = make_spider(EventbriteSpider)
    items, _ = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page1.html")
    items2, _ = _crawl_file(spider, FIXTURES / "eventbrite_all-events_page2.html", 2)
    by_id = {i.source_id: i for i in items + items2}

    rave = by_id["100000000001"]
    assert rave.link == "https://www.eventbrite.com/e/warehouse-tickets-100000000001"
    assert rave.starts_at.isoformat() == "2026-03-07T23:30:00-08:00"
    assert rave.ends_at.isoformat() == "2026-03-08T04:00:00-07:00"  # ends after the DST jump
    assert (rave.is_free, rave.price) == (False, "$15.00 - $25.00")
    assert rave.description == "Doors at 11pm; bring ID."

    no_venue = by_id["100000000002"]
    assert (no_venue.location, no_venue.latitude, no_venue.is_online) == (None, None, False)

    salsa = by_id["100000000003"]
    assert salsa.title == "Salsa & Bachata Night"
    assert "Dance" in salsa.description  # raw; the validate pipeline strips the HTML

    assert by_id["100000000004"].is_online is True
    comedy = by_id["100000000005"]
    assert comedy.timezone == "America/New_York"
    assert comedy.starts_at.isoformat() == "2026-03-13T20:00:00-04:00"
    assert by_id["100000000006"].starts_at.isoformat() == "2026-03-08T03:00:00-07:00"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"start_date": "2026-11-01", "start_time": "01:30"}, "2026-11-01T01:30:00-07:00"),
        ({"start_date": "2026-12-31", "start_time": "23:59"}, "2026-12-31T23:59:00-08:00"),
        ({"start_date": "2026-12-31"}, None),
        ({}, None),
    ],
)
def test_parse_starts_at(raw, expected):
    value = _parse_starts_at(raw, "America/Los_Angeles")
    assert (value.isoformat() if value else None) == expected


def test_parse_helpers_one_field_each():
    assert _parse_title("  Salsa &amp; <i>Bachata</i>\n Night ") == "Salsa & Bachata Night"
    assert _parse_title(None) is None
    assert _parse_is_online({"is_online_event": True}) is True
    assert _parse_location({"is_online_event": True}) == "Online"
    assert _parse_location({"primary_venue": {"name": "Zebulon", "address": {}}}) == "Zebulon"
    assert _parse_location({}) is None
    venue = {"primary_venue": {"address": {"latitude": "34.1", "longitude": "-118.2"}}}
    assert _parse_coordinates(venue) == (34.1, -118.2)
    assert _parse_coordinates({"primary_venue": {"address": {"latitude": ""}}}) == (None, None)
    assert _parse_price({"ticket_availability": {"is_free": True}}) == (True, "Free")
    assert _parse_price({}) == (None, None)


def test_interstitial_goes_to_the_browser_once_then_counts_an_error():
    spider = make_spider(EventbriteSpider)
    path = FIXTURES / "eventbrite_interstitial.html"
    items, [retry] = _crawl_file(spider, path)
    assert items == []
    assert retry.meta["playwright"] is True and retry.dont_filter
    assert retry.url == _page_url("ca--los-angeles")

    rendered = response_from_file(path, retry.url, request=retry)
    assert split(spider.parse(rendered)) == ([], [])
    assert stat(spider, "nocturne/source_errors") == 1
    assert stat(spider, "nocturne/pages") is None


def test_forbidden_answer_goes_to_the_browser():
    spider = make_spider(EventbriteSpider)
    response = response_from_text("Forbidden", _page_url("ca--los-angeles"), status=403)
    _, [retry] = split(spider.parse(response))
    assert retry.meta["playwright"] is True


def test_render_off_never_uses_the_browser():
    spider = make_spider(EventbriteSpider, NOCTURNE_RENDER="off")
    assert _crawl_file(spider, FIXTURES / "eventbrite_interstitial.html") == ([], [])
    assert stat(spider, "nocturne/source_errors") == 1


def test_link_is_the_real_site_even_on_a_local_host():
    spider = make_spider(EventbriteSpider, EVENTBRITE_BASE_URL="http://127.0.0.1:8765")
    text = (FIXTURES / "eventbrite_all-events_page1.html").read_text()
    response = response_from_text(
        text, "http://127.0.0.1:8765/d/ca--los-angeles/all-events/?page=1"
    )
    items, [next_page] = split(spider.parse(response))
    assert all(i.link.startswith("https://www.eventbrite.com/e/") for i in items)
    assert next_page.url.startswith("http://127.0.0.1:8765/d/ca--los-angeles/all-events/")


# -- the same destination_event objects as the JSON API returns them ----------------------


def test_simcoe_api_results_expanded_prices_and_venues(shared_fixtures):
    """Real `/api/v3/destination/search/` results with expand: the field helpers read
    ticket_availability and primary_venue the same way on API results and on pages."""
    payload = json.loads(
        (
            shared_fixtures
            / "eventbrite/destination-search_expand_simcoe-county-ON_page1_2026-09.json"
        ).read_text()
    )
    results = payload["events"]["results"]
    assert len({r["id"] for r in results}) == 50
    for raw in results:
        fields = event_fields(raw, "America/Toronto")
        tickets = raw["ticket_availability"]
        low = tickets["minimum_ticket_price"]["display"]
        high = tickets["maximum_ticket_price"]["display"]
        assert fields["price"] == (low if low == high else f"{low} - {high}")
        assert fields["is_free"] is tickets["is_free"]
        address = raw["primary_venue"]["address"]["localized_address_display"]
        assert fields["location"].endswith(address)
        assert fields["starts_at"].strftime("%Y-%m-%d %H:%M") == (
            f"{raw['start_date']} {raw['start_time']}"
        )
    abba = event_fields(results[0], "America/Toronto")
    assert abba["title"] == "ABBA vs Queen by Candlelight | Collier Street United Church | Barrie"
    assert abba["starts_at"].isoformat() == "2026-10-30T20:00:00-04:00"
    assert abba["price"] == "30.00 CAD - 80.00 CAD"
    assert (
        abba["location"] == "Collier Street United Church, 112 Collier Street, Barrie, ON L4M 1H3"
    )


def test_toronto_detail_batch_free_events(shared_fixtures):
    payload = json.loads(
        (
            shared_fixtures
            / "eventbrite/destination-events_event-ids-expand_toronto_2023-03-02.json"
        ).read_text()
    )
    fields = [event_fields(raw, "America/Toronto") for raw in payload["events"]]
    assert len(fields) == 20 and None not in fields
    first = fields[0]
    assert first["title"] == "GDSC x Microsoft: Women in Tech Conference"
    assert (first["is_free"], first["price"]) == (True, "Free")
    free = [raw for raw in payload["events"] if raw["ticket_availability"]["is_free"]]
    assert sum(f["is_free"] is True for f in fields) == len(free)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: text[: len(text) // 2], id="cut-in-half"),
        pytest.param(
            lambda text: text.replace('"search_data":', '"search_data"', 1), id="colon-removed"
        ),
    ],
)
def test_damaged_page_is_a_counted_error_not_a_json_ld_page(damage):
    # The page's JSON-LD (in <head>, like the real pages') would still give events with
    # dates only, and a run ending there would pass for complete: the page counts as
    # failed instead, and yields nothing.
    ld = {
        "@type": "ItemList",
        "itemListElement": [
            {
                "item": {
                    "@type": "Event",
                    "name": "Date Only",
                    "url": "https://www.eventbrite.com/e/date-only-tickets-123",
                    "startDate": "2026-04-01",
                }
            }
        ],
    }
    whole = (FIXTURES / "eventbrite_all-events_page1.html").read_text()
    head = f'<script type="application/ld+json">{json.dumps(ld)}</script></head>'
    whole = whole.replace("</head>", head, 1)
    assert [
        e["_jsonld"]["name"] for e in parse_listing(whole.replace("__SERVER", "__X")).events
    ] == ["Date Only"]
    spider = make_spider(EventbriteSpider)
    text = damage(whole)
    page = parse_listing(text)
    assert page.damaged and page.events == []
    response = response_from_text(text, _page_url("ca--los-angeles"), meta={"page": 1})
    assert split(spider.parse(response)) == ([], [])
    assert stat(spider, "nocturne/source_errors") == 1
    assert stat(spider, "nocturne/eventbrite/errors/damaged_page") == 1
    assert stat(spider, "nocturne/pages") is None
