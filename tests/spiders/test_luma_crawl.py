"""Luma through the real Scrapy engine: `scrapy crawl luma` against a local stand-in of
api.lu.ma serving the project's own feed pages. It checks what only a running crawl
shows: /event/get is spaced by its own download slot, and events whose details fail for
good (429 every time, 404, a timeout) still come out, without a description.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from nocturne_crawl.config import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"


class _LumaApi(BaseHTTPRequestHandler):
    details_hits: list[tuple[float, str]]

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/discover/get-paginated-events":
            name = (
                "luma_discover_page2_repeated_cursor.json"
                if "pagination_cursor" in query
                else "luma_discover_page1.json"
            )
            self._send(200, (FIXTURES / name).read_bytes())
        elif url.path == "/event/get":
            event_id = query["event_api_id"][0]
            self.details_hits.append((time.monotonic(), event_id))
            if event_id == "evt-Midnight1":
                self._send(200, (FIXTURES / "luma_event-get_midnight.json").read_bytes())
            elif event_id == "evt-DstJump01":
                self._send(429, b'{"message":"rate limited"}', Retry_After="0")
            elif event_id == "evt-Online001":
                time.sleep(2.5)  # longer than the crawl's DOWNLOAD_TIMEOUT
                self._send(200, b"{}")
            else:
                self._send(404, b'{"message":"Event not found"}')
        else:
            self._send(404, b"{}")


@pytest.fixture
def luma_api() -> Iterator[tuple[str, list]]:
    hits: list[tuple[float, str]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_LumaApi,), {"details_hits": hits}))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_details_are_spaced_and_failures_still_yield_the_event(luma_api, tmp_path):
    base_url, hits = luma_api
    out = tmp_path / "luma.json"
    command = [
        sys.executable, "-m", "scrapy", "crawl", "luma", "-a", "city=ca--los-angeles",
        "-O", str(out), "-s", f"LUMA_API_BASE_URL={base_url}", "-s", "ITEM_PIPELINES={}",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0",
        "-s", "LUMA_DETAILS_DELAY=0.4", "-s", "RETRY_TIMES=1", "-s", "RETRY_BACKOFF_BASE=0.05",
        "-s", "DOWNLOAD_TIMEOUT=1", "-s", "LOG_LEVEL=INFO",
    ]  # fmt: skip
    env = {**os.environ, "NOCTURNE_RENDER": "off"}
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stats = {k: int(v) for k, v in re.findall(r"'([\w/.-]+)': (\d+)(?=,|\})", done.stderr)}

    items = {i["source_id"]: i for i in json.loads(out.read_text())}
    assert sorted(items) == sorted(
        ["evt-Midnight1", "evt-DstJump01", "evt-Online001", "evt-Html00001", "evt-Berlin001"]
    )
    assert items["evt-Midnight1"]["description"].startswith("Late Night Techno\n\nDoors at")
    assert all(items[k]["description"] is None for k in items if k != "evt-Midnight1")
    assert items["evt-Midnight1"]["link"] == "https://luma.com/emidnight1"
    assert stats["nocturne/pages"] == 2
    assert stats["nocturne/luma/repeated_cursor"] == 1
    assert stats["nocturne/luma/descriptions_missing"] == 4
    assert stats["nocturne/source_errors"] == 4

    # Retries included, /event/get arrived one slot delay apart (randomized 0.5x-1.5x).
    assert len(hits) >= 7  # 5 first tries + a retry each for the 429 and the timeout
    arrivals = sorted(t for t, _ in hits)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.15, gaps
