"""The simulator's payloads have the real sites' key structure (compared with captures).

The captures are real responses collected by third parties (see the shared fixtures'
PROVENANCE.md); these tests read them in place and skip when the folder is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from nocturne_crawl.simulator import Simulator
from tests.simulator.conftest import CITY


def server_data(html: str) -> dict:
    start = html.index("{", html.index("window.__SERVER_DATA__"))
    value, _ = json.JSONDecoder().raw_decode(html, start)
    return value


def next_data(html: str) -> dict:
    match = re.search(
        r'<script id="__NEXT_DATA__" type="application/json">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_eventbrite_results_have_the_search_page_keys(
    shared_fixtures: Path, http: httpx.Client
) -> None:
    real = server_data(
        (
            shared_fixtures
            / "eventbrite/search-page_TRIMMED-5-events_buenos-aires_stand-up_2026-08.html"
        ).read_text()
    )["search_data"]["events"]["results"]
    ours = server_data(http.get(f"/d/{CITY}/all-events/?page=1").text)["search_data"]["events"]
    offline = next(e for e in ours["results"] if not e["is_online_event"])
    assert set(offline) == set(real[0])
    assert set(offline["primary_venue"]["address"]) >= set(real[0]["primary_venue"]["address"]) - {
        "localized_area_display"
    }
    for key in ("start_date", "start_time", "timezone", "url", "name", "is_online_event"):
        assert type(offline[key]) is type(real[0][key])
    assert set(ours["pagination"]) == {"object_count", "page_count", "page_number", "page_size"}


def test_eventbrite_landing_page_has_the_city_browse_shape(
    shared_fixtures: Path, http: httpx.Client
) -> None:
    real = server_data(
        (shared_fixtures / "eventbrite/city-browse_ny--new-york_events_2025-07.html").read_text()
    )
    ours = server_data(http.get(f"/d/{CITY}/events/").text)
    assert ours["current_page"] == real["current_page"] == "city_browse"
    assert "search_data" not in ours and "search_data" not in real
    real_online = next(
        e for b in real["buckets"] for e in b.get("events", []) if e["is_online_event"]
    )
    our_online = next(e for b in ours["buckets"] for e in b["events"] if e["is_online_event"])
    assert set(our_online) == set(real_online)  # online events have no primary_venue key
    ids = [e["id"] for b in ours["buckets"] for e in b["events"]]
    assert len(ids) > len(set(ids))  # the same event in several buckets
    real_item = real["jsonld"][0]["itemListElement"][0]["item"]
    our_item = ours["jsonld"][0]["itemListElement"][0]["item"]
    assert set(our_item) == set(real_item)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", our_item["startDate"])  # date only, like the capture


def test_meetup_apollo_entries_have_the_find_page_keys(
    shared_fixtures: Path, http: httpx.Client
) -> None:
    real = next_data(
        (
            shared_fixtures / "meetup/find-page_full-NEAR-VERBATIM_th--Chiang-Mai_2026-09-24.html"
        ).read_text()
    )
    ours = next_data(
        http.get("/find/", params={"location": "us--ca--Los Angeles", "source": "EVENTS"}).text
    )
    assert ours["page"] == real["page"] == "/find"
    real_state = real["props"]["pageProps"]["__APOLLO_STATE__"]
    our_state = ours["props"]["pageProps"]["__APOLLO_STATE__"]

    def full_events(state: dict) -> list[dict]:
        return [v for k, v in state.items() if k.startswith("Event:") and "title" in v]

    def stubs(state: dict) -> list[dict]:
        return [v for k, v in state.items() if k.startswith("Event:") and "title" not in v]

    assert {frozenset(e) for e in full_events(our_state)} == {frozenset(full_events(real_state)[0])}
    assert {frozenset(e) for e in stubs(our_state)} == {frozenset(stubs(real_state)[0])}
    assert any(not e["id"].isdigit() for e in stubs(our_state))
    real_group = next(v for k, v in real_state.items() if k.startswith("Group:"))
    our_group = next(v for k, v in our_state.items() if k.startswith("Group:"))
    assert set(our_group) == set(real_group)
    for event in full_events(our_state):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", event["dateTime"])
        assert event["group"]["__ref"] in our_state
    assert any(k.startswith("recommendedEvents:") for k in our_state["ROOT_QUERY"])


def test_luma_entries_have_the_discover_keys(
    shared_fixtures: Path, http: httpx.Client, sim: Simulator
) -> None:
    real = json.loads(
        (shared_fixtures / "luma/discover_get-paginated-events_dc_2026-06.json").read_text()
    )
    place = "discplace-OgfEAh5KgfMzise"
    ours = http.get(
        "/discover/get-paginated-events",
        params={"discover_place_api_id": place, "pagination_limit": 50},
    ).json()
    assert set(ours) == set(real)
    assert set(ours["entries"][0]) == set(real["entries"][0])
    shown = next(
        e
        for e in ours["entries"]
        if e["event"]["geo_address_info"] and e["event"]["geo_address_info"].get("type") == "google"
    )
    assert set(shown["event"]) == set(real["entries"][0]["event"])
    assert set(shown["event"]["geo_address_info"]) == set(
        real["entries"][0]["event"]["geo_address_info"]
    )
    sf = json.loads((shared_fixtures / "luma/discover_entries_sf_2026-07-24.json").read_text())
    real_hidden = next(
        e for e in sf["entries"] if e["event"]["geo_address_info"]["mode"] == "obfuscated"
    )
    our_hidden = next(
        e
        for e in ours["entries"]
        if (e["event"]["geo_address_info"] or {}).get("mode") == "obfuscated"
    )
    assert set(our_hidden["event"]["geo_address_info"]) == set(
        real_hidden["event"]["geo_address_info"]
    )


def test_luma_event_get_has_a_prosemirror_description(
    shared_fixtures: Path, http: httpx.Client
) -> None:
    real_all = json.loads(
        (shared_fixtures / "luma/event-get_details_sf_2026-07-24.json").read_text()
    )["details"]
    real = next(iter(real_all.values()))
    page = http.get(
        "/discover/get-paginated-events",
        params={"discover_place_api_id": "discplace-OgfEAh5KgfMzise"},
    ).json()
    ours = http.get("/event/get", params={"event_api_id": page["entries"][0]["api_id"]}).json()
    assert set(ours) <= set(real)
    assert set(ours["event"]) == set(real["event"])
    real_types = set(re.findall(r'"type": ?"(\w+)"', json.dumps(real_all)))
    our_types = set(re.findall(r'"type": ?"(\w+)"', json.dumps(ours["description_mirror"])))
    assert ours["description_mirror"]["type"] == "doc"
    assert {"paragraph", "text", "hard_break", "bold", "link"} <= our_types <= real_types
