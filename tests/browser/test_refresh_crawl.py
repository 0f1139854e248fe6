"""The refresh button on the real crawl, in headless Chromium.

The click sends `POST /scrape/{city}`; the crawl launcher starts `scrapy crawl` subprocesses
for the three sources; the spiders read the local site simulator (Eventbrite, Meetup and
Luma paths); the pipelines write the test's PostgreSQL database; the page polls
`GET /scrape/{city}` and `GET /events/{city}` every second until the crawl ends.

Crawl processes are slow to start on a busy machine, so these tests assert what holds however
the crawl's rows are spread over the page's polls (one poll may bring them all, or several).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import httpx
import psycopg
import pytest

from api.app import create_app
from nocturne_crawl.launcher import CrawlLauncher
from nocturne_crawl.simulator import Simulator, start_simulator
from tests.browser.conftest import save_if_failed
from tests.support.events import insert_event
from tests.support.live_app import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LA = "ca--los-angeles"
NY = "ny--new-york"
BASE_URLS = ("EVENTBRITE_BASE_URL", "MEETUP_BASE_URL", "LUMA_API_BASE_URL", "LUMA_BASE_URL")
FOUND = re.compile(r"^Found \d+ new events?$")


@dataclass
class Site:
    url: str
    db: str
    sim: Simulator
    known: str  # the title of the one event on screen before the refresh


@pytest.fixture
def site(db, config) -> Iterator[Site]:
    with start_simulator(seed=11, events_per_city=4, cities=[LA]) as sim:
        env = {name: sim.url for name in BASE_URLS}

        def launcher(cfg, conninfo):
            return CrawlLauncher(cfg, conninfo, env=env)

        app = create_app(
            replace(config, scrape_cooldown_seconds=600), conninfo=db, launcher_factory=launcher
        )
        # One event the sites serve is already stored: the crawl updates it, so it is not new.
        known = sim.truth("eventbrite", LA)[0]
        with psycopg.connect(db) as conn:
            insert_event(
                conn,
                title=known["title"],
                link=known["link"],
                starts_at=datetime.fromisoformat(known["starts_at"]),
                source_id=known["source_id"],
            )
            insert_event(
                conn, city=NY, tz="America/New_York", title="Bushwick Loft", link="https://lu.ma/bk"
            )
        with serve(app) as url:
            yield Site(url, db, sim, known["title"])


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    save_if_failed(request, page)
    context.close()


def refresh_button(page):
    return page.locator("button.button--refresh")


def new_cards(page) -> list[dict]:
    cards = page.locator(".card--new").evaluate_all(
        """els => els.map(e => ({
            index: Number(e.dataset.newIndex),
            title: e.querySelector('h3').textContent,
            animation: getComputedStyle(e).animationName,
            delay: parseFloat(getComputedStyle(e).animationDelay),
        }))"""
    )
    return sorted(cards, key=lambda c: c["index"])


def test_refresh_runs_the_real_crawl_and_the_limit_holds_for_the_session(
    browser, page, site, artifacts
):
    page.goto(site.url + "/")
    page.locator(".map[data-ready=true]").wait_for()
    page.locator(f'.marker[data-city="{LA}"]').click()
    assert page.url.endswith(f"?city={LA}")
    page.locator(".card", has_text=site.known).wait_for()
    assert refresh_button(page).inner_text() == "REFRESH EVENTS (1/1)"
    page.screenshot(path=artifacts / "01-city-selected.png", full_page=True)

    refresh_button(page).click()
    page.locator(".card--new").first.wait_for(timeout=30_000)
    page.screenshot(path=artifacts / "02-new-cards-animating.png", full_page=True)
    status = page.locator("#refresh-status")
    status.filter(has_text=FOUND).wait_for(timeout=30_000)
    page.screenshot(path=artifacts / "03-found-new-events.png", full_page=True)

    fresh = new_cards(page)
    count = len(fresh)
    assert status.inner_text() == (
        "Found 1 new event" if count == 1 else f"Found {count} new events"
    )
    assert [c["index"] for c in fresh] == list(range(count))
    assert {c["animation"] for c in fresh} == {"card-in"}
    # Within the poll that found them cards start 120 ms apart; each poll starts again at 0.
    assert fresh[0]["delay"] == 0
    for before, after in zip(fresh, fresh[1:], strict=False):
        assert round(after["delay"] - before["delay"], 3) == 0.12 or after["delay"] == 0
    served = {e["title"] for s in ("eventbrite", "meetup", "luma") for e in site.sim.truth(s, LA)}
    assert {c["title"] for c in fresh} <= served
    assert site.known not in {c["title"] for c in fresh}
    assert page.locator(".card:not(.card--new)", has_text=site.known).count() == 1
    with psycopg.connect(site.db) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE city = %s", (LA,)).fetchone()[0]
    assert count >= 1 and stored >= count + 1
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()

    # The user who asks for less motion gets the cards without the slide.
    page.emulate_media(reduced_motion="reduce")
    assert {c["animation"] for c in new_cards(page)} == {"none"}

    page.reload()
    page.locator(".card", has_text=site.known).wait_for()
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()
    page.get_by_label("City", exact=True).select_option(NY)
    page.locator(".card", has_text="Bushwick Loft").wait_for()
    assert page.url.endswith(f"?city={NY}")
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()

    # A new browser session may refresh again, but the city was just crawled: the server's
    # cooldown answers 429, which the page words kindly and which costs no refresh.
    other = browser.new_context()
    try:
        second = other.new_page()
        second.goto(f"{site.url}/?city={LA}")
        second.locator(".card").first.wait_for()
        assert refresh_button(second).inner_text() == "REFRESH EVENTS (1/1)"
        refresh_button(second).click()
        second.locator("#refresh-status", has_text="refreshed moments ago").wait_for()
        assert refresh_button(second).inner_text() == "REFRESH EVENTS (1/1)"
        assert refresh_button(second).is_enabled()
        second.screenshot(path=artifacts / "07-cooldown-429.png", full_page=True)
    finally:
        other.close()


def wait_for_crawl_status(site: Site, wanted: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{site.url}/scrape/{LA}", timeout=5).json()
        if body["status"] in wanted:
            return body
        time.sleep(0.2)
    raise AssertionError(f"the crawl never reached {wanted}: {body}")


def test_a_crawl_whose_sources_all_fail_shows_failed_to_load_events(page, site, artifacts):
    """Every simulated site answers 403 after 4 s. The crawl is started just before the click
    and the page joins it (`joined: true`), so the seconds that crawl processes take to start
    on a busy machine fall outside the page's 20 s of polling."""
    site.sim.set_faults({"source": "*", "kind": "403"}, latency_ms=4000)
    page.goto(f"{site.url}/?city={LA}")
    page.locator(".card", has_text=site.known).wait_for()
    assert httpx.post(f"{site.url}/scrape/{LA}", timeout=10).json()["joined"] is False
    wait_for_crawl_status(site, {"running"})
    refresh_button(page).click()
    status = page.locator("#refresh-status")
    status.filter(has_text=re.compile(r"Failed|Found")).wait_for(timeout=30_000)
    assert status.inner_text() == "Failed to load events"
    assert wait_for_crawl_status(site, {"failed"}, timeout=5)["error"]
    assert page.locator(".card").count() == 1
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    page.screenshot(path=artifacts / "04-crawl-failed.png", full_page=True)
