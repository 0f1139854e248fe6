"""The page end to end in headless Chromium: the real app (uvicorn, real PostgreSQL) and the
built React page: the map, the cards, the filter, subscribe and unsubscribe, phone width,
keyboard. The refresh button, which runs real crawls, is in test_refresh_crawl.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from api.app import create_app
from nocturne_crawl.tokens import make_token
from tests.browser.conftest import save_if_failed
from tests.support.events import insert_event
from tests.support.live_app import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LA = "ca--los-angeles"


@dataclass
class Site:
    url: str
    db: str


@pytest.fixture
def site(db, config) -> Iterator[Site]:
    app = create_app(config, conninfo=db)
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
        yield Site(url, db)


@pytest.fixture
def page(browser, site, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    save_if_failed(request, page)
    context.close()


def open_city_from_map(page, site: Site, city: str = LA) -> None:
    page.goto(site.url + "/")
    page.locator(".map[data-ready=true]").wait_for()
    page.locator(f'.marker[data-city="{city}"]').click()
    page.locator(".card").first.wait_for()


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


def test_map_cards_and_calendar_link(page, site, artifacts):
    open_city_from_map(page, site)
    assert page.url.endswith(f"?city={LA}")
    # The list may still be settling from the city switch: let the expectations retry.
    expect(page.locator(".card")).to_have_count(3)
    first = page.locator(".card").first
    link = first.locator("h3 a")
    expect(link).to_have_text("Warehouse Rave")
    assert link.get_attribute("href") == "https://www.eventbrite.com/e/seed-0"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"
    expect(first.locator(".badge--eventbrite")).to_have_text(re.compile("^eventbrite$", re.I))
    expect(first.locator(".card__venue")).to_have_text("Downtown LA")
    calendar = page.get_by_role("link", name="Add to calendar")
    calendar.wait_for()
    assert calendar.get_attribute("href") == f"/events/{LA}.ics"
    page.screenshot(path=artifacts / "08-map-and-cards.png", full_page=True)


def test_phone_width(browser, site, artifacts):
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{site.url}/?city={LA}")
        page.locator(".card").first.wait_for()
        page.locator(".map[data-ready=true]").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        page.screenshot(path=artifacts / "06-phone.png", full_page=True)
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
