"""The page end to end in headless Chromium: the real app (uvicorn, real PostgreSQL), the
built React page, and the refresh flow against the scrape API contract.

The crawl behind `/scrape/{city}` is tests/support/crawl_standin.py until the launcher
(issue 5) lands: it answers the contract and writes new events into the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.app import create_app
from nocturne_crawl.tokens import make_token
from tests.support.crawl_standin import CrawlStandIn
from tests.support.events import insert_event
from tests.support.live_app import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LA = "ca--los-angeles"


@dataclass
class Site:
    url: str
    db: str
    crawl: CrawlStandIn


@pytest.fixture
def site(db, config) -> Iterator[Site]:
    crawl = CrawlStandIn(db)
    app = create_app(config, conninfo=db)
    for route in reversed(crawl.routes()):
        app.router.routes.insert(0, route)
    with psycopg.connect(db) as conn:
        start = datetime.now(UTC) + timedelta(days=1)
        for i, title in enumerate(["Warehouse Rave", "Jazz at the Dresden", "Rooftop Cinema"]):
            insert_event(
                conn,
                title=title,
                link=f"https://www.eventbrite.com/e/seed-{i}",
                starts_at=start + timedelta(hours=i),
            )
        insert_event(conn, city="ny--new-york", tz="America/New_York", title="Bushwick Loft")
    with serve(app) as url:
        yield Site(url, db, crawl)


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def refresh_button(page):
    return page.locator("button.button--refresh")


def open_city_from_map(page, site: Site, city: str = LA) -> None:
    page.goto(site.url + "/")
    page.locator(".map[data-ready=true]").wait_for()
    page.locator(f'.marker[data-city="{city}"]').click()
    page.locator(".card").first.wait_for()


def test_refresh_flow_new_cards_stagger_and_the_session_limit(page, site, artifacts):
    open_city_from_map(page, site)
    assert page.url.endswith(f"?city={LA}")
    assert page.locator(".card").count() == 3
    first = page.locator(".card").first
    link = first.locator("a")
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert first.locator(".badge--eventbrite").inner_text().lower() == "eventbrite"
    assert refresh_button(page).inner_text() == "REFRESH EVENTS (1/1)"
    calendar = page.get_by_role("link", name="Add to calendar")
    calendar.wait_for()
    assert calendar.get_attribute("href") == f"/events/{LA}.ics"
    page.screenshot(path=artifacts / "01-city-selected.png", full_page=True)

    refresh_button(page).click()
    page.locator(".card--new").nth(3).wait_for()
    fresh = page.locator(".card--new")
    assert fresh.count() == 4
    cards = fresh.evaluate_all(
        """els => els.map(e => ({
            index: Number(e.dataset.newIndex),
            title: e.querySelector('h3').textContent,
            name: getComputedStyle(e).animationName,
            delay: getComputedStyle(e).animationDelay,
        }))"""
    )
    cards.sort(key=lambda c: c["index"])
    assert [c["index"] for c in cards] == [0, 1, 2, 3]
    assert [c["title"] for c in cards] == [f"Found by refresh #{i}" for i in range(4)]
    assert {c["name"] for c in cards} == {"card-in"}
    assert [c["delay"] for c in cards] == ["0s", "0.12s", "0.24s", "0.36s"]
    page.screenshot(path=artifacts / "02-new-cards-animating.png", full_page=True)

    status = page.locator("#refresh-status")
    status.filter(has_text="Found 4 new events").wait_for()
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()
    assert page.locator(".card").count() == 7
    assert site.crawl.posts == 1
    page.screenshot(path=artifacts / "03-found-new-events.png", full_page=True)

    page.reload()
    page.locator(".card").first.wait_for()
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()

    page.get_by_label("City", exact=True).select_option("ny--new-york")
    page.locator(".card", has_text="Bushwick Loft").wait_for()
    assert page.url.endswith("?city=ny--new-york")
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    assert refresh_button(page).is_disabled()
    page.locator('.marker[data-city="ca--los-angeles"]').click()
    page.locator(".card", has_text="Found by refresh #0").wait_for()
    assert refresh_button(page).is_disabled()
    assert site.crawl.posts == 1


def test_failed_crawl_says_so_and_keeps_the_list(page, site, artifacts):
    site.crawl.mode = "fail"
    open_city_from_map(page, site)
    refresh_button(page).click()
    page.locator("#refresh-status", has_text="Failed to load events").wait_for()
    assert page.locator(".card").count() == 3
    assert refresh_button(page).inner_text() == "REFRESH USED (0/1)"
    page.screenshot(path=artifacts / "04-crawl-failed.png", full_page=True)


def test_rate_limit_is_a_friendly_message_and_keeps_the_refresh(page, site):
    site.crawl.mode = "limit"
    open_city_from_map(page, site)
    refresh_button(page).click()
    page.locator("#refresh-status", has_text="refreshed moments ago").wait_for()
    assert "4 minutes" in page.locator("#refresh-status").inner_text()
    assert refresh_button(page).inner_text() == "REFRESH EVENTS (1/1)"
    assert refresh_button(page).is_enabled()


def test_subscribe_writes_the_row_and_unsubscribe_page_clears_it(page, site, config, artifacts):
    open_city_from_map(page, site)
    email = page.locator("#subscribe-email")
    email.fill("not-an-email")
    page.get_by_role("button", name="Subscribe").click()
    page.locator(".field-error", has_text="doesn't look like an email").wait_for()
    email.fill("Night.Owl@Example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.locator(".subscribe__outcome--ok", has_text="You're in").wait_for()
    page.screenshot(path=artifacts / "05-subscribed.png", full_page=True)
    with psycopg.connect(site.db) as conn:
        rows = conn.execute("SELECT id, email, city, is_active FROM subscriptions").fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [("night.owl@example.com", LA, True)]

    token = make_token(config, "unsubscribe", rows[0][0], rows[0][1])
    page.goto(f"{site.url}/unsubscribe?token={token}")
    page.get_by_role("button", name="Unsubscribe").click()
    page.locator(".subscribe__outcome--ok", has_text="no more Los Angeles emails").wait_for()
    with psycopg.connect(site.db) as conn:
        assert conn.execute("SELECT is_active FROM subscriptions").fetchone()[0] is False
    page.goto(f"{site.url}/unsubscribe?token={token[:-3]}xyz")
    page.get_by_role("button", name="Unsubscribe").click()
    page.locator(".subscribe__outcome--error", has_text="did not work").wait_for()


def test_phone_width_and_reduced_motion(browser, site, artifacts):
    context = browser.new_context(viewport={"width": 320, "height": 640}, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{site.url}/?city={LA}")
        page.locator(".card").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        refresh_button(page).click()
        page.locator(".card--new").nth(3).wait_for()
        names = page.locator(".card--new").evaluate_all(
            "els => els.map(e => getComputedStyle(e).animationName)"
        )
        assert names == ["none"] * 4
        page.locator("#refresh-status", has_text="Found 4 new events").wait_for()
        page.screenshot(path=artifacts / "06-phone-reduced-motion.png", full_page=True)
    finally:
        context.close()


def test_keyboard_picks_a_city_on_the_map(page, site):
    page.goto(site.url + "/")
    page.locator(".map[data-ready=true]").wait_for()
    marker = page.locator('.marker[data-city="il--chicago"]')
    marker.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/?city=il--chicago")
    assert marker.get_attribute("aria-pressed") == "true"
    page.locator(".events-state", has_text="No events in Chicago").wait_for()
    assert page.locator(".marker").count() >= 25


def test_date_filter_asks_the_api_for_the_citys_days(page, site):
    with psycopg.connect(site.db) as conn:
        insert_event(
            conn,
            title="In a month",
            link="https://www.eventbrite.com/e/later-1",
            starts_at=datetime.now(UTC) + timedelta(days=30),
        )
    page.goto(f"{site.url}/?city={LA}")
    page.locator(".card", has_text="In a month").wait_for()
    assert page.locator(".card").count() == 4
    with page.expect_request(lambda r: "/events/" in r.url and "end_date=" in r.url) as sent:
        page.get_by_text("Next 7 days").click()
    assert "start_date=" in sent.value.url
    page.locator(".card", has_text="In a month").wait_for(state="detached")
    assert page.locator(".card").count() == 3
    page.get_by_text("Pick dates").click()
    page.get_by_label("From", exact=True).fill("2030-01-02")
    page.get_by_label("To", exact=True).fill("2030-01-01")
    page.locator("#range-error", has_text="before the start").wait_for()
