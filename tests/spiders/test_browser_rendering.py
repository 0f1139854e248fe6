"""The browser switch for real: `scrapy crawl` against a local page whose events exist only
after its JavaScript runs, rendered by the machine's Chromium through scrapy-playwright.

The local HTTP server stands in for Eventbrite (same path and embedded-data shape); the
crawl is the real command in a subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from nocturne_crawl.browser import find_chromium
from nocturne_crawl.config import REPO_ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        find_chromium(os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")) is None
        and not os.environ.get("CI"),
        reason="no Chromium on this machine",
    ),
]

EVENTS = [
    {
        "id": f"77700000000{n}",
        "name": name,
        "url": f"https://www.eventbrite.com/e/js-only-{n}-tickets-77700000000{n}",
        "start_date": "2026-04-0" + str(n),
        "start_time": "20:00",
        "timezone": "America/Los_Angeles",
        "is_online_event": False,
    }
    for n, name in ((1, "Rendered Rave"), (2, "Hydrated Jazz"), (3, "Global Only Gala"))
]


def _server_data(results: list[dict]) -> dict:
    return {"search_data": {"events": {"results": results, "pagination": {"page_count": 9}}}}


def _dom_writing_page(results: list[dict]) -> str:
    # The data is base64 in the markup and becomes a __SERVER_DATA__ script only when the
    # inline script runs: a plain HTTP client sees no events at all.
    packed = base64.b64encode(json.dumps(_server_data(results)).encode()).decode()
    return (
        "<!DOCTYPE html><html><head><title>Loading…</title></head><body><div id=app></div>"
        "<script>const data = JSON.parse(atob('" + packed + "'));"
        "const s = document.createElement('script');"
        "s.textContent = 'window.__SERVER_DATA__ = ' + JSON.stringify(data) + ';';"
        "document.head.appendChild(s);</script></body></html>"
    )


def _global_only_page(results: list[dict]) -> str:
    # Here the data only ever lives in a JavaScript global, never in the DOM.
    packed = base64.b64encode(json.dumps(_server_data(results)).encode()).decode()
    return (
        "<!DOCTYPE html><html><body><script>"
        "window.__SERVER_DATA__ = JSON.parse(atob('" + packed + "'));</script></body></html>"
    )


FIXTURES = Path(__file__).parent / "fixtures"


class _JsOnlySite(BaseHTTPRequestHandler):
    hits: Counter
    plain = False  # serve the project's plain search pages instead (data in the HTML)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/d/ca--los-angeles/all-events/":
            self.send_error(404)
            return
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        self.hits[page] += 1
        if self.plain:
            name = {1: "page1", 2: "page2"}.get(page, "page3_empty")
            body = (FIXTURES / f"eventbrite_all-events_{name}.html").read_text()
        else:
            body = {
                1: _dom_writing_page(EVENTS[:2]),
                2: _global_only_page(EVENTS[2:]),
            }.get(page, _dom_writing_page([]))
        raw = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _serve(plain: bool) -> Iterator[tuple[str, Counter]]:
    hits: Counter = Counter()
    handler = type("Handler", (_JsOnlySite,), {"hits": hits, "plain": plain})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def js_only_site() -> Iterator[tuple[str, Counter]]:
    yield from _serve(plain=False)


@pytest.fixture
def plain_site() -> Iterator[tuple[str, Counter]]:
    yield from _serve(plain=True)


def _crawl(base_url: str, out: Path, render: str) -> str:
    env = {**os.environ, "NOCTURNE_RENDER": render, "EVENTBRITE_BASE_URL": base_url}
    command = [
        sys.executable, "-m", "scrapy", "crawl", "eventbrite", "-a", "city=ca--los-angeles",
        "-O", str(out), "-s", "ITEM_PIPELINES={}", "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=150
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _stat(log: str, key: str) -> int | None:
    match = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(match.group(1)) if match else None


def test_plain_response_without_data_is_rendered_in_chromium(js_only_site, tmp_path):
    base_url, hits = js_only_site
    out = tmp_path / "events.json"
    log = _crawl(base_url, out, "auto")

    items = json.loads(out.read_text())
    assert sorted(i["title"] for i in items) == [
        "Global Only Gala",
        "Hydrated Jazz",
        "Rendered Rave",
    ]
    assert {i["link"] for i in items} == {e["url"] for e in EVENTS}
    # Each page first plainly (no data), then once in the browser.
    assert hits == Counter({1: 2, 2: 2, 3: 2})
    assert _stat(log, "nocturne/eventbrite/browser_retries") == 3
    assert _stat(log, "playwright/page_count") == 3
    assert _stat(log, "playwright/page_count/closed") == 3  # every page closed
    assert "Starting download handler" in log
    assert _stat(log, "nocturne/source_errors") is None


def test_render_browser_goes_straight_to_chromium(js_only_site, tmp_path):
    base_url, hits = js_only_site
    out = tmp_path / "events.json"
    log = _crawl(base_url, out, "browser")
    assert len(json.loads(out.read_text())) == 3
    assert hits == Counter({1: 1, 2: 1, 3: 1})
    assert _stat(log, "nocturne/eventbrite/browser_retries") is None


def test_plain_pages_never_start_playwright(plain_site, tmp_path):
    base_url, hits = plain_site
    out = tmp_path / "events.json"
    log = _crawl(base_url, out, "auto")
    assert len(json.loads(out.read_text())) == 6
    assert hits == Counter({1: 1, 2: 1, 3: 1})
    # The handler is installed but the Playwright driver is started on first use only.
    assert "Starting download handler" not in log
    assert _stat(log, "playwright/page_count") is None
