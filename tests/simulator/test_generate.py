"""Generated events: deterministic, upcoming, in the right zones, with the edge cases."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nocturne_crawl.links import canonical_link
from nocturne_crawl.simulator import Simulator

ANCHOR = date(2026, 10, 20)  # the window crosses the end of US daylight time (Nov 1)
SOURCES = ("eventbrite", "meetup", "luma")


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(
        seed=7, events_per_city=90, cities=["ca--los-angeles", "germany--berlin"], anchor=ANCHOR
    )


def test_same_seed_same_truth_and_other_seed_differs(sim: Simulator) -> None:
    again = Simulator(seed=7, events_per_city=90, cities=["ca--los-angeles"], anchor=ANCHOR)
    other = Simulator(seed=8, events_per_city=90, cities=["ca--los-angeles"], anchor=ANCHOR)
    for source in SOURCES:
        assert sim.truth(source, "ca--los-angeles") == again.truth(source, "ca--los-angeles")
        links = {e["link"] for e in other.truth(source, "ca--los-angeles")}
        assert links != {e["link"] for e in sim.truth(source, "ca--los-angeles")}


@pytest.mark.parametrize("source", SOURCES)
def test_count_ids_and_links_unique_and_canonical(sim: Simulator, source: str) -> None:
    truth = sim.truth(source, "ca--los-angeles")
    assert len(truth) == 90
    assert len({e["link"] for e in truth}) == 90
    assert len({e["source_id"] for e in truth}) == 90
    for event in truth:
        assert canonical_link(event["link"]) == event["link"]
        assert canonical_link(event["url"]) == event["link"]
    prefix = {
        "eventbrite": "https://www.eventbrite.com/e/",
        "meetup": "https://www.meetup.com/",
        "luma": "https://luma.com/",
    }[source]
    assert all(e["link"].startswith(prefix) for e in truth)


@pytest.mark.parametrize("source", SOURCES)
def test_events_are_upcoming_within_the_window_in_the_city_zone(
    sim: Simulator, source: str
) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    for event in sim.truth(source, "ca--los-angeles"):
        start = datetime.fromisoformat(event["starts_at"])
        local = start.astimezone(zone)
        assert ANCHOR < local.date() < ANCHOR + timedelta(days=30)
        assert (event["date"], event["time"]) == (
            local.strftime("%Y-%m-%d"),
            local.strftime("%H:%M"),
        )
        assert datetime.fromisoformat(event["ends_at"]) > start


def test_offsets_follow_daylight_saving(sim: Simulator) -> None:
    offsets = Counter()
    for event in sim.truth("meetup", "ca--los-angeles"):
        start = datetime.fromisoformat(event["starts_at"])
        if event["timezone"] == "America/Los_Angeles":
            expected = -7 if start.date() < date(2026, 11, 1) else -8
            assert start.utcoffset() == timedelta(hours=expected)
            offsets[expected] += 1
    assert offsets[-7] and offsets[-8]


@pytest.mark.parametrize("source", SOURCES)
def test_edge_cases_are_present(sim: Simulator, source: str) -> None:
    truth = sim.truth(source, "ca--los-angeles")
    quirks = Counter(q for e in truth for q in e["quirks"])
    assert quirks["online"] >= 1 and quirks["late_night"] >= 1
    assert quirks["crosses_utc_midnight"] >= 1
    assert any(e["is_online"] and e["location"] is None for e in truth)
    # An online event hosted from another zone: its local time in the city differs.
    remote = [e for e in truth if "remote_zone" in e["quirks"]]
    assert remote and all(e["timezone"] != "America/Los_Angeles" for e in remote)
    if source == "luma":
        assert quirks["obfuscated"] >= 1 and quirks["online_filed_as_offline"] >= 1
        hidden = next(e for e in truth if "obfuscated" in e["quirks"])
        assert hidden["venue"]["address"] is None and "Los Angeles" in hidden["location"]
    if source == "eventbrite":
        assert quirks["reseller_zone"] >= 1 and quirks["tracking_params"] >= 1


def test_cross_source_twins_point_at_each_other(sim: Simulator) -> None:
    by_link = {e["link"]: e for s in SOURCES for e in sim.truth(s, "ca--los-angeles")}
    twins = [e for e in by_link.values() if e["twin"]]
    assert len(twins) >= 6  # 90 // 30 pairs, two sides each
    for event in twins:
        other = by_link[event["twin"]["link"]]
        assert other["twin"]["link"] == event["link"]
        assert other["source"] != event["source"]
        assert other["starts_at"] == event["starts_at"]
        assert other["title"].lower() == event["title"].lower()
        assert other["venue"]["city"] == event["venue"]["city"]


def test_berlin_events_live_in_berlin_time(sim: Simulator) -> None:
    truth = sim.truth("eventbrite", "germany--berlin")
    local = [e for e in truth if e["timezone"] == "Europe/Berlin"]
    assert len(local) > 80
    assert all(e["venue"] is None or e["venue"]["country"] == "DE" for e in truth)


def test_unknown_city_or_source_is_refused() -> None:
    with pytest.raises(ValueError):
        Simulator(cities=["xx--nowhere"])
    sim = Simulator(cities=["ca--los-angeles"])
    with pytest.raises(ValueError):
        sim.truth("myspace", "ca--los-angeles")
    with pytest.raises(ValueError):
        sim.truth("luma", "ny--new-york")
