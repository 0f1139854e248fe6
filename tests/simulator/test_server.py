"""The simulator over real HTTP: pagination to the end, truth, faults, stats."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pytest

from nocturne_crawl.simulator import Simulator, start_simulator
from tests.simulator.conftest import CITY
from tests.simulator.test_shapes import next_data, server_data

LUMA_PLACE = "discplace-OgfEAh5KgfMzise"
GQL = """
query recEvents($first: Int, $after: String, $filter: RecommendedEventsFilter!) {
  recommendedEvents(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title dateTime eventUrl ...Where } }
  }
}
fragment Where on Event { venue { name lat lon } group { urlname timezone } }
"""


def gql_all(http: httpx.Client, flt: dict, first: int = 50) -> tuple[list[dict], int]:
    """Every node of a feed, following endCursor; also the number of pages."""
    nodes, after, pages = [], None, 0
    while True:
        body = {"query": GQL, "variables": {"first": first, "after": after, "filter": flt}}
        data = http.post("/gql2", json=body).json()["data"]["recommendedEvents"]
        pages += 1
        nodes.extend(edge["node"] for edge in data["edges"])
        if not data["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = data["pageInfo"]["endCursor"]


def test_eventbrite_pages_cover_the_truth_with_promoted_and_duplicates(
    sim: Simulator, http: httpx.Client
) -> None:
    seen, page, promoted_sets, repeats = [], 1, [], 0
    while True:
        html = http.get(f"/d/{CITY}/all-events/", params={"page": page}).text
        events = server_data(html)["search_data"]["events"]
        if not events["results"]:
            break
        assert events["pagination"]["page_number"] == page
        repeats += sum(1 for e in events["results"] if e["id"] in {s["id"] for s in seen})
        seen.extend(events["results"])
        promoted_sets.append([e["id"] for e in events["promoted_results"]])
        page += 1
    assert page - 1 == events["pagination"]["page_count"]
    assert all(p == promoted_sets[0] for p in promoted_sets) and len(promoted_sets[0]) == 3
    assert repeats >= 1  # an event repeated on the next page
    truth = sim.truth("eventbrite", CITY)
    assert {e["id"] for e in seen} == {t["source_id"] for t in truth}
    assert not set(promoted_sets[0][1:]) & {t["source_id"] for t in truth}  # ads are not results


def test_eventbrite_script_defeats_a_greedy_regex(http: httpx.Client) -> None:
    html = http.get(f"/d/{CITY}/all-events/").text
    script = re.search(r"window\.__SERVER_DATA__ = (\{.*\});?\s*</script>", html, re.S)
    assert script
    with pytest.raises(json.JSONDecodeError):
        json.loads(script.group(1))
    assert "window.__REACT_QUERY_STATE__" in script.group(0)
    assert server_data(html)["search_data"]["events"]["results"]


def test_eventbrite_api_needs_csrf_and_caps_rows(sim: Simulator, http: httpx.Client) -> None:
    body = {
        "event_search": {"places": ["85923517"], "page_size": 50, "page": 1},
        "expand.destination_event": ["primary_venue"],
    }
    assert http.post("/api/v3/destination/search/", json=body).status_code == 403
    token = http.get(f"/d/{CITY}/all-events/").cookies["csrftoken"]
    http.cookies.clear()
    ok = http.post(
        "/api/v3/destination/search/",
        json=body,
        headers={"X-CSRFToken": token, "Cookie": f"csrftoken={token}"},
    )
    assert ok.status_code == 200
    pagination = ok.json()["events"]["pagination"]
    assert pagination["object_count"] == 120 and pagination["page_count"] == 3
    assert base64.urlsafe_b64decode(pagination["continuation"] + "==") == b'{"page":2}'


def test_meetup_find_page_then_gql_pages_overlap_and_cover_the_truth(
    sim: Simulator, http: httpx.Client
) -> None:
    page = next_data(
        http.get("/find/", params={"location": "us--ca--Los%20Angeles", "source": "EVENTS"}).text
    )
    state = page["props"]["pageProps"]["__APOLLO_STATE__"]
    first = {v["id"] for k, v in state.items() if k.startswith("Event:") and "title" in v}
    assert len(first) == 20
    nodes, pages = gql_all(http, {"lat": 34.05, "lon": -118.24})
    ids = [n["id"] for n in nodes]
    truth = {t["source_id"]: t for t in sim.truth("meetup", CITY)}
    assert set(ids) == set(truth) and first <= set(truth)
    assert pages == 3 and 0.04 <= (len(ids) - len(set(ids))) / len(ids) <= 0.08
    node = next(n for n in nodes if n["venue"])
    assert set(node) == {
        "id",
        "title",
        "dateTime",
        "eventUrl",
        "venue",
        "group",
    }  # only what was asked
    assert node["dateTime"] == truth[node["id"]]["starts_at"]
    assert any(n["venue"] is None for n in nodes)  # online events: null venue on gql2


def test_meetup_cap_needs_day_windows() -> None:
    with (
        start_simulator(seed=5, events_per_city=500, cities=[CITY], gql_cap=380) as sim,
        httpx.Client(base_url=sim.url) as http,
    ):
        capped, _ = gql_all(http, {"lat": 34.05, "lon": -118.24})
        assert len({n["id"] for n in capped}) == 380
        found = set()
        for day in sorted(
            {t["date"] for t in sim.truth("meetup", CITY)}
            | {t["starts_at"][:10] for t in sim.truth("meetup", CITY)}
        ):
            window = {
                "startDateRange": f"{day}T00:00:00-08:00[US/Pacific]",
                "endDateRange": f"{day}T23:59:59-08:00",
            }
            nodes, _ = gql_all(http, {"lat": 34.05, "lon": -118.24, **window})
            found |= {n["id"] for n in nodes}
        assert found == {t["source_id"] for t in sim.truth("meetup", CITY)}


def test_meetup_gql_errors_are_graphql_errors(http: httpx.Client) -> None:
    persisted = {
        "operationName": "x",
        "variables": {},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}},
    }
    assert (
        http.post("/gql2", json=persisted).json()["errors"][0]["message"]
        == "PersistedQueryNotFound"
    )
    unknown = http.post("/gql2", json={"query": "{ keywordSearch { count } }"}).json()
    assert "keywordSearch" in unknown["errors"][0]["message"]
    broken = http.post(
        "/gql2", json={"query": "query { recommendedEvents(filter: {lat: 1}) { "}
    ).json()
    assert broken["errors"]


def test_luma_cursor_pages_to_the_end_and_cursor_param_is_ignored(
    sim: Simulator, http: httpx.Client
) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"discover_place_api_id": LUMA_PLACE, "pagination_limit": 50}
        if cursor:
            params["pagination_cursor"] = cursor
        page = http.get("/discover/get-paginated-events", params=params).json()
        pages += 1
        seen.extend(page["entries"])
        assert page["next_cursor"]  # present even on the last page
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert pages == 3
    starts = [e["start_at"] for e in seen]
    assert starts == sorted(starts)
    assert [e["api_id"] for e in seen] == [t["source_id"] for t in sim.truth("luma", CITY)]
    decoded = json.loads(base64.b64decode(cursor + "=="))
    assert set(decoded) == {"sv", "fb"}
    wrong = http.get(
        "/discover/get-paginated-events",
        params={"discover_place_api_id": LUMA_PLACE, "pagination_limit": 50, "cursor": cursor},
    ).json()
    assert wrong["has_more"] and wrong["entries"][0]["api_id"] == seen[0]["api_id"]
    by_latlng = http.get(
        "/discover/get-paginated-events", params={"latitude": 34.05, "longitude": -118.25}
    ).json()
    assert by_latlng["entries"][0]["api_id"] == seen[0]["api_id"]


def test_truth_endpoint_matches_the_object(sim: Simulator, http: httpx.Client) -> None:
    body = http.get("/_sim/truth", params={"source": "luma", "city": CITY}).json()
    assert body["events"] == sim.truth("luma", CITY) and body["count"] == 120
    assert http.get("/_sim/truth", params={"source": "luma", "city": "xx"}).status_code == 400


def test_fault_count_then_recovery_with_retry_after(http: httpx.Client) -> None:
    assert (
        http.post(
            "/_sim/faults", json={"source": "luma", "kind": "429", "count": 2, "retry_after": 3}
        ).status_code
        == 200
    )
    params = {"discover_place_api_id": LUMA_PLACE}
    first, second, third = (
        http.get("/discover/get-paginated-events", params=params) for _ in range(3)
    )
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert http.get(f"/d/{CITY}/all-events/").status_code == 200  # other sources untouched
    assert http.get("/_sim/stats").json()["faults"]["429"] == 2


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("403", 403), ("interstitial", 200)])
def test_error_faults(http: httpx.Client, kind: str, status: int) -> None:
    http.post("/_sim/faults", json={"source": "eventbrite", "kind": kind})
    response = http.get(f"/d/{CITY}/all-events/")
    assert response.status_code == status
    assert "__SERVER_DATA__" not in response.text
    http.delete("/_sim/faults")
    assert "__SERVER_DATA__" in http.get(f"/d/{CITY}/all-events/").text


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
def test_damaged_json(http: httpx.Client, kind: str) -> None:
    http.post("/_sim/faults", json={"source": "luma", "kind": kind, "count": 1})
    params = {"discover_place_api_id": LUMA_PLACE}
    damaged = http.get("/discover/get-paginated-events", params=params)
    assert damaged.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(damaged.text)
    assert http.get("/discover/get-paginated-events", params=params).json()["entries"]


def test_damaged_eventbrite_page_cannot_be_decoded(http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"source": "eventbrite", "kind": "malformed", "count": 1})
    with pytest.raises(json.JSONDecodeError):
        server_data(http.get(f"/d/{CITY}/all-events/").text)


def test_rate_faults_hit_about_that_share(http: httpx.Client) -> None:
    http.post(
        "/_sim/faults", json={"source": "meetup", "kind": "500", "rate": 0.3, "path": "/find"}
    )
    codes = [
        http.get("/find/", params={"location": "us--ca--Los Angeles"}).status_code
        for _ in range(100)
    ]
    assert 15 <= codes.count(500) <= 45 and codes.count(200) == 100 - codes.count(500)


def test_slow_timeout_and_global_latency(http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"kind": "slow", "latency_ms": 300, "count": 1})
    started = time.perf_counter()
    assert http.get("/event/get", params={"event_api_id": "evt-none"}).status_code == 404
    assert time.perf_counter() - started >= 0.3
    http.post("/_sim/faults", json={"kind": "timeout", "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"/d/{CITY}/events/", timeout=0.5)
    http.post("/_sim/faults", json={"latency_ms": 200})
    started = time.perf_counter()
    http.get(f"/d/{CITY}/events/")
    assert time.perf_counter() - started >= 0.2
    assert http.get("/_sim/faults").json()["latency_ms"] == 200


def test_js_only_page_hides_the_data_from_plain_http(http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"source": "eventbrite", "kind": "js_only", "count": 1})
    html = http.get(f"/d/{CITY}/all-events/").text
    assert "window.__SERVER_DATA__" not in html and "ld+json" not in html
    assert "<script>" in html and "atob(" in html


def test_bad_fault_bodies_are_400(http: httpx.Client) -> None:
    for body in (
        {"kind": "explode"},
        {"kind": "500", "rate": 2},
        {"kind": "500", "source": "myspace"},
        [1],
    ):
        response = http.post("/_sim/faults", json=body)
        assert response.status_code == 400 and "error" in response.json()
    assert http.post("/_sim/faults", content=b"{").status_code == 400


def test_stats_count_requests_per_path(http: httpx.Client) -> None:
    http.delete("/_sim/stats")
    for page in (1, 2):
        http.get(f"/d/{CITY}/all-events/", params={"page": page})
    stats = http.get("/_sim/stats").json()
    assert stats["requests"] == {f"/d/{CITY}/all-events/": 2}
    assert stats["sources"] == {"eventbrite": 2} and stats["total"] == 2
