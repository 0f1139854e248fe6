"""End to end: `scrapy crawl <source>` as a real subprocess against the local simulator.

The live sites cannot be crawled from here, so the spiders crawl the simulator, a local
stand-in speaking the sites' HTTP shapes (nocturne_crawl/simulator). Each crawl must
yield exactly the simulator's truth set: same canonical links, titles, local date and
time in the city's zone, location and online flag. With faults switched on, retries
recover what can be recovered and the crawl finishes in bounded time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.links import canonical_link
from nocturne_crawl.simulator import Simulator, start_simulator

pytestmark = pytest.mark.slow

CITY = "ca--los-angeles"
SOURCES = ("eventbrite", "meetup", "luma")
CRAWL_TIMEOUT = 120
SCRAPY = str(Path(sys.executable).with_name("scrapy"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with start_simulator(seed=11, events_per_city=60, cities=[CITY]) as running:
        yield running


def crawl_command(sim: Simulator, source: str, out: Path, *settings: str) -> list[str]:
    """`scrapy crawl` of one source against the simulator, fast and without pipelines.

    Pipelines are left out (ITEM_PIPELINES={}) so the test is about spiders and pages,
    not the database, unless `settings` names ITEM_PIPELINES=default; politeness delays
    are zeroed because the server is local.
    """
    options = {
        "EVENTBRITE_BASE_URL": sim.url,
        "MEETUP_BASE_URL": sim.url,
        "LUMA_API_BASE_URL": sim.url,
        "ITEM_PIPELINES": "{}",
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "False",
        "LUMA_DETAILS_DELAY": "0",
        "RETRY_BACKOFF_BASE": "0.1",
        "DOWNLOAD_TIMEOUT": "3",
        "LOG_LEVEL": "INFO",
    }
    for setting in settings:
        name, _, value = setting.partition("=")
        options[name] = value
    if options["ITEM_PIPELINES"] == "default":
        del options["ITEM_PIPELINES"]  # the project's validate -> dedupe -> store -> mirror
    args = [SCRAPY, "crawl", source, "-a", f"city={CITY}", "-O", str(out)]
    for name, value in options.items():
        args += ["-s", f"{name}={value}"]
    return args


def run_crawls(sim: Simulator, tmp_path: Path, sources=SOURCES, *settings: str, env=None) -> dict:
    """Run the crawls side by side; {source: (items, stats, returncode)}."""
    procs = {}
    for source in sources:
        out = tmp_path / f"{source}.json"
        procs[source] = (
            subprocess.Popen(
                crawl_command(sim, source, out, *settings),
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "NOCTURNE_RENDER": "off", **(env or {})},
            ),
            out,
        )
    results = {}
    for source, (proc, out) in procs.items():
        try:
            _, stderr = proc.communicate(timeout=CRAWL_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"{source} crawl did not finish in {CRAWL_TIMEOUT} s")
        items = json.loads(out.read_text()) if out.exists() and out.stat().st_size else []
        results[source] = (items, crawl_stats(stderr), proc.returncode, stderr)
    return results


def crawl_stats(log: str) -> dict[str, int]:
    """Integer stats from the crawl's closing stats dump."""
    return {k: int(v) for k, v in re.findall(r"'([\w/.-]+)': (\d+)(?=,|\})", log)}


def location_matches(found: str | None, truth: dict) -> bool:
    """The spider's location names what the site shows: venue and street, or city only."""
    venue = truth["venue"]
    text = (found or "").lower()
    if venue is None or truth["location"] == "Online":
        return text in ("", "online") or "online" in text
    if venue["name"] is None:  # Luma obfuscated address: city and area only
        return venue["city"].lower() in text
    return all(part.lower() in text for part in (venue["name"], venue["address"], venue["city"]))


def assert_same_as_truth(items: list[dict], truth: list[dict], source: str) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    by_link = {canonical_link(i["link"]): i for i in items}
    assert len(by_link) == len(items), f"{source}: duplicate links in the output"
    assert set(by_link) == {t["link"] for t in truth}, f"{source}: links differ from the truth"
    for expected in truth:
        item = by_link[expected["link"]]
        local = datetime.fromisoformat(item["starts_at"]).astimezone(zone)
        assert item["title"] == expected["title"], expected["link"]
        assert local.strftime("%Y-%m-%d") == expected["date"], expected["link"]
        assert local.strftime("%H:%M") == expected["time"], expected["link"]
        assert item["is_online"] is expected["is_online"], (expected["link"], expected["quirks"])
        assert location_matches(item["location"], expected), (
            item["location"],
            expected["location"],
        )
        assert (item["source"], item["city"]) == (source, CITY)


def test_each_spider_yields_exactly_the_truth(sim: Simulator, tmp_path: Path) -> None:
    results = run_crawls(sim, tmp_path)
    for source, (items, stats, code, log) in results.items():
        assert code == 0, log[-2000:]
        assert_same_as_truth(items, sim.truth(source, CITY), source)
        assert stats.get("nocturne/pages", 0) >= 2
        assert stats.get("nocturne/source_errors", 0) == 0
    luma_items = {i["link"]: i for i in results["luma"][0]}
    for expected in sim.truth("luma", CITY):  # descriptions come from /event/get
        assert expected["description"].split("\n")[0] in (
            luma_items[expected["link"]]["description"] or ""
        )


def test_transient_faults_are_retried_to_the_full_truth(sim: Simulator, tmp_path: Path) -> None:
    for source in SOURCES:  # each source's first requests fail, then it recovers
        sim.set_faults(
            {"source": source, "kind": "500", "count": 2},
            {"source": source, "kind": "429", "count": 1, "retry_after": 1},
            {"source": source, "kind": "timeout", "count": 1},
        )
    results = run_crawls(sim, tmp_path)
    for source, (items, stats, code, log) in results.items():
        assert code == 0, log[-2000:]
        assert_same_as_truth(items, sim.truth(source, CITY), source)
        assert stats["retry/count"] >= 4, stats
        assert stats.get("nocturne/source_errors", 0) == 0
    assert sim.stats()["faults"] == {"500": 6, "429": 3, "timeout": 3}


def test_damaged_and_failing_pages_end_the_crawl_with_what_could_be_read(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_faults(
        # Eventbrite's first page cut in half: __SERVER_DATA__ is lost (the JSON-LD in the
        # head survives, dates only): a damaged page, counted as an error, nothing stored
        # from it (its dates-only events would overwrite known times, and a run ending
        # there without an error would pass for complete).
        {"source": "eventbrite", "kind": "truncated", "path": "/all-events", "count": 1},
        # Meetup's gql2 down for good: the find page's events only, no hang.
        {"source": "meetup", "kind": "500", "path": "/gql2"},
        # Some Luma details malformed: every event still comes, some without description.
        {"source": "luma", "kind": "malformed", "path": "/event/get", "count": 5},
    )
    results = run_crawls(sim, tmp_path)
    eventbrite_items, eventbrite_stats, code, log = results["eventbrite"]
    assert code == 0, log[-2000:]
    assert eventbrite_items == []
    assert eventbrite_stats["nocturne/eventbrite/errors/damaged_page"] == 1
    assert eventbrite_stats["nocturne/source_errors"] == 1

    meetup_items, meetup_stats, code, log = results["meetup"]
    truth = {t["link"]: t for t in sim.truth("meetup", CITY)}
    assert code == 0 and 0 < len(meetup_items) < len(truth)
    assert {canonical_link(i["link"]) for i in meetup_items} <= set(truth)
    assert meetup_stats["nocturne/source_errors"] >= 1

    luma_items, luma_stats, code, log = results["luma"]
    assert code == 0, log[-2000:]
    assert_same_as_truth(luma_items, sim.truth("luma", CITY), "luma")
    assert sum(1 for i in luma_items if not i.get("description")) == 5


@pytest.mark.browser
def test_javascript_only_pages_are_read_through_chromium(sim: Simulator, tmp_path: Path) -> None:
    """Every search page needs its JavaScript run: the spider switches to Chromium."""
    sim.set_faults({"source": "eventbrite", "kind": "js_only", "path": "/all-events"})
    results = run_crawls(sim, tmp_path, ("eventbrite",), env={"NOCTURNE_RENDER": "auto"})
    items, stats, code, log = results["eventbrite"]
    assert code == 0, log[-3000:]
    assert_same_as_truth(items, sim.truth("eventbrite", CITY), "eventbrite")
    assert stats["nocturne/eventbrite/browser_retries"] >= 3  # one per page


def test_full_stack_stores_the_truth_once_with_twins_merged(
    sim: Simulator, tmp_path: Path, db: str
) -> None:
    """The three crawls with the real pipelines into PostgreSQL, one after another.

    Every served event is stored once with its local date and time in the city's zone,
    except the simulator's deliberate cross-source twins: one row per pair.
    """
    import psycopg

    truths = {source: sim.truth(source, CITY) for source in SOURCES}
    for source in SOURCES:  # one after another: dedupe sees what the previous stored
        results = run_crawls(
            sim, tmp_path, (source,), "ITEM_PIPELINES=default", f"NOCTURNE_DATABASE_URL={db}"
        )
        _, stats, code, log = results[source]
        assert code == 0, log[-3000:]
        assert stats.get("nocturne/db_errors", 0) == 0
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT link, date, time, is_online, source FROM events WHERE city = %s", (CITY,)
        ).fetchall()
    stored = {
        link: (str(day), clock.strftime("%H:%M") if clock else None, online)
        for link, day, clock, online, _ in rows
    }
    assert len(stored) == len(rows)
    twins = {t["link"]: t["twin"]["link"] for ts in truths.values() for t in ts if t["twin"]}
    assert twins, "the simulator serves cross-source twins"
    for link, other in twins.items():
        assert (link in stored) != (other in stored), (
            f"twin pair stored {'twice' if link in stored else 'never'}"
        )
    expected = [t for ts in truths.values() for t in ts if not t["twin"] or t["link"] in stored]
    assert len(stored) == len(expected) == sum(map(len, truths.values())) - len(twins) // 2
    for event in expected:
        day, clock, online = stored[event["link"]]
        assert (day, clock, online) == (event["date"], event["time"], event["is_online"]), event[
            "link"
        ]
