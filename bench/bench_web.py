"""The web page: production bundle size (JS+CSS, gzip) and first render of 500 cards.

Size: every built .js and .css under api/static/assets, gzip level 9, split into what the
first load needs (entry chunk + CSS) and the lazily loaded map code; the TopoJSON map data
is listed apart (the 150 KB budget excludes it). Baseline, built in the same run by the
same Vite: a page that only renders "hello" with React, the floor any React page pays.

Time: Chromium (headless, /usr/bin/chromium) opens /?city=ca--los-angeles on `nocturne
run` with 500 upcoming events in that city; the figure is the page's own performance mark
`nocturne:first-cards` (set when the first list of cards is committed to the DOM),
measured from navigation start, cold cache, median of RUNS. Baseline, same run and
browser: a city with a single event.
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from api.page import STATIC_DIR
from bench.support import bench_database, serve_app
from nocturne_crawl.config import REPO_ROOT

RUNS = int(os.environ.get("BENCH_WEB_RUNS", 7))
EVENTS = 500
BUDGET_KB = 150
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def gz_kb(path: Path) -> float:
    return len(gzip.compress(path.read_bytes(), compresslevel=9)) / 1024


def bundle_sizes() -> dict[str, float]:
    assets = STATIC_DIR / "assets"
    if not assets.is_dir():
        raise RuntimeError("api/static is not built: run `make web`")
    sizes = {"entry": 0.0, "lazy_map_code": 0.0, "css": 0.0, "map_data": 0.0}
    for path in assets.iterdir():
        if path.suffix == ".css":
            sizes["css"] += gz_kb(path)
        elif path.suffix == ".js":
            sizes["lazy_map_code" if path.name.startswith("CityMap") else "entry"] += gz_kb(path)
        elif path.suffix == ".json":
            sizes["map_data"] += gz_kb(path)
    sizes["baseline_react"] = hello_react_kb()
    return sizes


HELLO = {
    "index.html": '<div id="root"></div><script type="module" src="./main.js"></script>',
    "main.js": (
        'import { createElement } from "react";\n'
        'import { createRoot } from "react-dom/client";\n'
        'createRoot(document.getElementById("root")).render(createElement("p", null, "hello"));\n'
    ),
    "vite.config.js": "export default { logLevel: 'silent', build: { outDir: 'dist' } };\n",
}


def hello_react_kb() -> float:
    """gzip KB of a minimal React page built by the same Vite (inside web/ for node_modules)."""
    web = REPO_ROOT / "web"
    root = Path(tempfile.mkdtemp(prefix=".bench-hello-", dir=web))
    try:
        for name, text in HELLO.items():
            (root / name).write_text(text)
        subprocess.run(
            ["npx", "vite", "build", str(root), "--config", str(root / "vite.config.js")],
            cwd=web,
            check=True,
            timeout=120,
            capture_output=True,
        )
        return sum(gz_kb(p) for p in (root / "dist" / "assets").glob("*.js"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def load_events(conninfo: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE events RESTART IDENTITY CASCADE")
        conn.execute(
            """
            INSERT INTO events (title, link, date, time, location, description, source, city,
                                starts_at, timezone)
            SELECT 'Night ' || n || ': a long enough title to wrap on a phone screen',
                   'https://www.eventbrite.com/e/bench-' || n,
                   (s AT TIME ZONE 'America/Los_Angeles')::date,
                   (s AT TIME ZONE 'America/Los_Angeles')::time,
                   'Venue ' || n || ', 123 Sunset Blvd, Los Angeles, CA',
                   repeat('Underground electronic music, three rooms and a rooftop. ', 8),
                   (ARRAY['eventbrite','meetup','luma'])[1 + n %% 3], 'ca--los-angeles',
                   s, 'America/Los_Angeles'
            FROM generate_series(1, %(count)s) AS n,
                 LATERAL (SELECT %(now)s::timestamptz + n * interval '17 minutes' AS s) t
            """,
            {"count": EVENTS, "now": now + timedelta(hours=1)},
        )
        conn.execute(
            """INSERT INTO events (title, link, date, time, source, city, starts_at, timezone)
               VALUES ('Only one', 'https://lu.ma/bench-one', %(d)s, '21:00', 'luma',
                       'ny--new-york', %(s)s, 'America/New_York')""",
            {"d": (now + timedelta(days=1)).date(), "s": now + timedelta(days=1)},
        )


def first_cards_ms(browser, url: str) -> tuple[float, int]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(
            "() => performance.getEntriesByName('nocturne:first-cards').length > 0", timeout=15_000
        )
        mark = page.evaluate(
            "(() => { const m = performance.getEntriesByName('nocturne:first-cards')[0];"
            " return [m.startTime, document.querySelectorAll('.card').length]; })()"
        )
        return float(mark[0]), int(mark[1])
    finally:
        context.close()


def main() -> None:
    sizes = bundle_sizes()
    total = sizes["entry"] + sizes["lazy_map_code"] + sizes["css"]
    print(
        f"bundle gzip: entry JS {sizes['entry']:.1f} KB + CSS {sizes['css']:.1f} KB"
        f" + lazy map code {sizes['lazy_map_code']:.1f} KB = {total:.1f} KB"
        f" (budget {BUDGET_KB} KB; map data apart: {sizes['map_data']:.1f} KB)"
    )
    print(
        f"baseline, a hello-world React page by the same Vite: {sizes['baseline_react']:.1f} KB gzip;"
        f" page/baseline = {total / sizes['baseline_react']:.2f}x"
    )

    from playwright.sync_api import sync_playwright

    conninfo = bench_database("nocturne_bench_web")
    load_events(conninfo)
    with serve_app(conninfo) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            first_cards_ms(browser, f"{url}/?city=ca--los-angeles")  # warm the server
            big, small = [], []
            for _ in range(RUNS):
                ms, cards = first_cards_ms(browser, f"{url}/?city=ca--los-angeles")
                assert cards == EVENTS, f"expected {EVENTS} cards, saw {cards}"
                big.append(ms)
                ms, cards = first_cards_ms(browser, f"{url}/?city=ny--new-york")
                assert cards == 1, cards
                small.append(ms)
        finally:
            browser.close()
    print(
        f"first render of {EVENTS} cards after navigation start: median {statistics.median(big):.0f} ms,"
        f" max {max(big):.0f} ms over {RUNS} cold loads (budget 1000 ms)"
    )
    print(
        f"baseline, 1 card: median {statistics.median(small):.0f} ms;"
        f" 500 cards / 1 card = {statistics.median(big) / statistics.median(small):.2f}x"
    )
