"""The refresh button on the real crawl: Chromium clicks, `POST /scrape/{city}` starts
`scrapy crawl` subprocesses for the three sources (the crawl launcher), the spiders read the
local site simulator, the pipelines write PostgreSQL, and the page polls until it is done.

Crawl processes are slow to start on a busy machine, so these tests only assert what holds
however the crawl's rows are spread over the page's polls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest

from api.app import create_app
from nocturne_crawl.launcher import CrawlLauncher
from nocturne_crawl.simulator import Simulator, start_simulator
from tests.support.events import insert_event
from tests.support.live_app import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LA = "ca--los-angeles"
BASE_URLS = ("EVENTBRITE_BASE_URL", "MEETUP_BASE_URL", "LUMA_API_BASE_URL", "LUMA_BASE_URL")


@dataclass
class Site:
    url: str
    db: str
    sim: Simulator


@pytest.fixture
def site(db, config) -> Iterator[Site]:
    with start_simulator(seed=11, events_per_city=4, cities=[LA]) as sim:
        env = {name: sim.url for name in BASE_URLS}

        def launcher(cfg, conninfo):
            return CrawlLauncher(cfg, conninfo, env=env)

        app = create_app(
            replace(config, scrape_cooldown_seconds=600), conninfo=db, launcher_factory=launcher
        )
        with psycopg.connect(db) as conn:
            insert_event(conn, title="Already here", link="https://www.eventbrite.com/e/known-1")
        with serve(app) as url:
            yield Site(url, db, sim)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def refresh_button(page):
    return page.locator("button.button--refresh")


def test_refresh_runs_the_real_crawl_and_shows_its_new_events(browser, page, site, artifacts):
    page.goto(site.url + "/")
    page.locator(".map[data-ready=true]").wait_for()
    page.locator(f'.marker[data-city="{LA}"]').click()
    page.locator(".card", has_text="Already here").wait_for()
    refresh_button(page).click()

    status = page.locator("#refresh-status")
    status.filter(has_text=re.compile(r"^Found \d+ new events?$")).wait_for(timeout=30_000)
    page.screenshot(path=artifacts / "10-real-crawl-found.png", full_page=True)
    fresh = page.locator(".card--new").evaluate_all(
        """els => els.map(e => ({
            index: Number(e.dataset.newIndex),
            title: e.querySelector('h3').textContent,
            delay: parseFloat(getComputedStyle(e).animationDelay),
        }))"""
    )
    fresh.sort(key=lambda c: c["index"])
    assert fresh, "the crawl wrote events, so the page must show new cards"
    assert status.inner_text() in (f"Found {len(fresh)} new events", "Found 1 new event")
    assert [c["index"] for c in fresh] == list(range(len(fresh)))
    # Within the poll that found them, cards start 120 ms apart; each poll starts again at 0.
    for before, after in zip(fresh, fresh[1:], strict=False):
        assert round(after["delay"] - before["delay"], 3) == 0.12 or after["delay"] == 0
    served = {
        e["title"]
        for source in ("eventbrite", "meetup", "luma")
        for e in site.sim.truth(source, LA)
    }
    assert {c["title"] for c in fresh} <= served
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()
    with psycopg.connect(site.db) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE city = %s", (LA,)).fetchone()[0]
    assert stored >= len(fresh) + 1

    # Another browser session right after: the server's cooldown answers 429, shown kindly.
    other = browser.new_context()
    try:
        second = other.new_page()
        second.goto(f"{site.url}/?city={LA}")
        second.locator(".card").first.wait_for()
        refresh_button(second).click()
        second.locator("#refresh-status", has_text="refreshed moments ago").wait_for()
        assert refresh_button(second).inner_text() == "REFRESH EVENTS (1/1)"
    finally:
        other.close()


def test_a_crawl_whose_sources_all_fail_shows_failed_to_load_events(page, site, artifacts):
    site.sim.set_faults({"source": "*", "kind": "403"})
    page.goto(f"{site.url}/?city={LA}")
    page.locator(".card", has_text="Already here").wait_for()
    refresh_button(page).click()
    status = page.locator("#refresh-status")
    status.filter(has_text=re.compile(r"Failed|Found")).wait_for(timeout=30_000)
    assert status.inner_text() == "Failed to load events"
    assert page.locator(".card").count() == 1
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    page.screenshot(path=artifacts / "11-real-crawl-failed.png", full_page=True)
