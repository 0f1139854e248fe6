"""Hostile input against the real app process: fuzzing, injection, traversal, secrets.

The app runs as `nocturne run` would (a separate process on a loopback port) over a real
PostgreSQL database; crawls it might start go to the local site simulator only.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import REPO_ROOT, Config
from nocturne_crawl.simulator import start_simulator
from tests.support.databases import create_database, drop_database
from tests.support.pipeline_runs import PipelineRun, make_item
from tests.support.smtp import running_smtp_server
from tests.system import report
from tests.system.stack import AppProcess, closed_port

CITY = "ca--los-angeles"
DB_SECRET = "pw-SECRET-db-8d1f"
SUPABASE_SECRET = "sk-SECRET-supa-77aa"
SMTP_SECRET = "smtp-SECRET-9c3e"
pytestmark = pytest.mark.slow


def _with_password(uri: str, password: str) -> str:
    # Trust authentication ignores the password, so it is carried but never needed:
    # exactly the value that must not leak.
    info = psycopg.conninfo.conninfo_to_dict(uri)
    info["password"] = password
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture(scope="module")
def hostile_db(pg_admin):
    uri = create_database(pg_admin)
    yield uri
    drop_database(pg_admin, uri)


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(seed=3, events_per_city=5, cities=[CITY]) as sim:
        yield sim


@pytest.fixture(scope="module")
def app(hostile_db, simulator, tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile-data")
    env = {
        "DATABASE_URL": _with_password(hostile_db, DB_SECRET),
        "NOCTURNE_DATA_DIR": str(data),
        "SUPABASE_URL": f"http://127.0.0.1:{closed_port()}",
        "SUPABASE_KEY": SUPABASE_SECRET,
        "SMTP_URL": f"smtp://nocturne:{SMTP_SECRET}@127.0.0.1:{closed_port()}",
        "EVENTBRITE_BASE_URL": simulator.url,
        "MEETUP_BASE_URL": simulator.url,
        "LUMA_API_BASE_URL": simulator.url,
        "NOCTURNE_RENDER": "off",
        "SCRAPE_COOLDOWN_SECONDS": "3600",
        "SCRAPE_CLIENT_LIMIT": "2",
        "SUBSCRIBE_CLIENT_LIMIT": "1000",
    }
    process = AppProcess(env, data / "app.log")
    with process:
        yield process


def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_schema(app):
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{app.url}/openapi.json",
            "--checks",
            checks,
            "--max-examples",
            "40",
            "--seed",
            "8",
            "--request-timeout",
            "20",
            "--phases",
            "examples,coverage,fuzzing",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    generated = re.search(r"(\d+) generated", result.stdout)
    report.record(
        "hostile",
        "schemathesis over /openapi.json",
        "ok" if result.returncode == 0 else "FAILED",
        cases=generated.group(1) if generated else "?",
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert generated and int(generated.group(1)) > 50


SQL_PROBES = [
    "' OR '1'='1",
    "'; DROP TABLE events; --",
    '" OR ""="',
    "1;SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "$$",
    "\x00",
]


def test_sql_metacharacters_in_every_parameter(app, hostile_db):
    with psycopg.connect(hostile_db) as conn:
        before = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    statuses = []
    with httpx.Client(base_url=app.url, timeout=20) as http:
        for probe in SQL_PROBES:
            for params in (
                {"limit": probe},
                {"start_date": probe},
                {"end_date": probe},
                {"q": probe},
                {"free": probe},
                {"online": probe},
                {"include_cancelled": probe},
            ):
                statuses.append(http.get(f"/events/{CITY}", params=params).status_code)
            segment = quote(probe, safe="")
            statuses.append(http.get(f"/events/{segment}").status_code)
            statuses.append(
                http.post("/subscribe", json={"email": probe, "city": CITY}).status_code
            )
            statuses.append(
                http.post("/subscribe", json={"email": "a@example.com", "city": probe}).status_code
            )
            statuses.append(http.post("/unsubscribe", json={"token": probe}).status_code)
            statuses.append(http.post(f"/scrape/{segment}").status_code)
        # A LIKE wildcard is searched for literally: `%a` would match most titles as a pattern.
        assert http.get(f"/events/{CITY}", params={"q": "%a"}).json() == []
    with psycopg.connect(hostile_db) as conn:
        after = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        tables = {
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    report.record(
        "hostile",
        "SQL metacharacters in every parameter",
        "ok",
        requests=len(statuses),
        server_errors=sum(s >= 500 for s in statuses),
    )
    assert all(s < 500 for s in statuses), statuses
    assert before == after and "events" in tables


def test_oversized_and_malformed_bodies(app):
    cases = {
        "1 MiB body": (
            b'{"email": "' + b"a" * (1 << 20) + b'"}',
            {"content-type": "application/json"},
            413,
        ),
        "truncated JSON": (
            b'{"email": "a@example.com", "ci',
            {"content-type": "application/json"},
            400,
        ),
        "invalid UTF-8": (
            b'{"email": "\xff\xfe@example.com", "city": "ca--los-angeles"}',
            {"content-type": "application/json"},
            400,
        ),
        "JSON array": (b"[1, 2, 3]", {"content-type": "application/json"}, 400),
        "deep nesting": (b"[" * 5000 + b"]" * 5000, {"content-type": "application/json"}, 400),
        "form body": (
            b"email=a@example.com&city=ca--los-angeles",
            {"content-type": "application/x-www-form-urlencoded"},
            400,
        ),
    }
    got = {}
    with httpx.Client(base_url=app.url, timeout=20) as http:
        for name, (body, headers, _) in cases.items():
            try:
                response = http.post("/subscribe", content=body, headers=headers)
                got[name] = response.status_code
                assert response.headers["content-type"].startswith("application/json")
            except httpx.RemoteProtocolError:
                got[name] = "closed"  # the server refused to read a body it was lied to about
    # A declared length far above the limit is refused before any body is read.
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as raw:
        raw.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999\r\n\r\n{}"
        )
        got["lying Content-Length"] = int(raw.recv(65536)[9:12])
    report.record("hostile", "oversized and malformed bodies", "ok", cases=len(got))
    for name, (_, _, status) in cases.items():
        assert got[name] == status, (name, got)
    assert got["lying Content-Length"] == 413


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%2f..%2f..%2fpyproject.toml",
    "/assets/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    "/..%5c..%5c..%5cpyproject.toml",
    "/static/../../api/app.py",
    "//etc/passwd",
    "/assets/%00.js",
]


def test_path_traversal_on_static_files(app):
    with httpx.Client(base_url=app.url, timeout=20) as http:
        for path in TRAVERSALS:
            response = http.get(path, headers={"accept": "text/html"})
            assert response.status_code < 500, path
            assert "root:x:0:0" not in response.text, path
            assert "[project]" not in response.text, path
            assert "def create_app" not in response.text, path
    report.record("hostile", "path traversal on static files", "ok", paths=len(TRAVERSALS))


def test_unknown_cities_cannot_trigger_a_crawl(app, hostile_db):
    with httpx.Client(base_url=app.url, timeout=20) as http:
        for city in (
            "xx--atlantis",
            "http:--evil.example",
            "..%2f..%2fetc",
            "ca--los-angeles.evil",
        ):
            # 404 from the API, or 405 from the static files when a decoded `/` leaves the
            # /scrape/{city} route: either way nothing is crawled.
            assert http.post(f"/scrape/{city}").status_code in (404, 405)
        # Extra parameters never choose what is fetched.
        response = http.post("/scrape/xx--nowhere?url=http://127.0.0.2/&base_url=http://127.0.0.2/")
        assert response.status_code == 404
    with psycopg.connect(hostile_db) as conn:
        cities = {r[0] for r in conn.execute("SELECT DISTINCT city FROM crawl_runs")}
    # Only catalog cities were ever crawled (the fuzzer may have started some of those).
    assert cities <= set(catalog())
    report.record("hostile", "unknown cities / URLs on POST /scrape", "ok", crawls_started=0)


HOSTILE_TITLE = '<script>alert("t")</script><img src=x onerror=alert(1)>Rave & "Friends"'


def test_hostile_scraped_fields_arrive_escaped_or_rejected(app, hostile_db, tmp_path):
    """Scraped fields with markup, javascript: links, huge strings, control characters and
    broken UTF-8 go through the real pipeline chain, then out through the API, the page
    (in Chromium) and a digest email (through a real SMTP server)."""
    with psycopg.connect(hostile_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO subscriptions (email, city, confirmed_at) VALUES ('fan@example.com', %s, now())",
            (CITY,),
        )
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    items = [
        make_item(
            title=HOSTILE_TITLE,
            link="https://www.eventbrite.com/e/hostile-1",
            starts_at=soon,
            description="<p onclick=alert(2)>desc</p><script>steal()</script>" + "x" * 300_000,
            image_url="javascript:alert(3)",
        ),
        make_item(title="Bad link", link="javascript:alert(4)", starts_at=soon),
        make_item(
            title="ctrl\x00\x07chars\x1b[31m",
            link="https://www.eventbrite.com/e/hostile-2",
            starts_at=soon,
            location="Club\udcff \ufffd",
        ),
    ]
    settings = {"NOCTURNE_DATABASE_URL": hostile_db}

    async def run():
        pipeline = await PipelineRun(settings).open()
        await pipeline.feed(items)
        await pipeline.close()
        return pipeline

    pipeline = asyncio.run(run())
    assert len(pipeline.dropped) == 1 and "link" in pipeline.dropped[0]

    events = httpx.get(
        f"{app.url}/events/{CITY}", params={"include_cancelled": "true"}, timeout=20
    ).json()
    by_link = {e["link"]: e for e in events}
    first, second = (
        by_link["https://www.eventbrite.com/e/hostile-1"],
        by_link["https://www.eventbrite.com/e/hostile-2"],
    )
    assert "<script" not in first["title"] and "onerror" not in first["title"]
    assert "Rave" in first["title"]
    assert first["image_url"] is None
    assert len(first["description"]) <= 20000 and "<p" not in first["description"]
    assert not any(ord(c) < 32 for c in second["title"])
    assert all(not e["link"].startswith("javascript") for e in events)

    # The page, in a real browser: no dialog ever opens, no injected element exists.
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import chromium_path

    executable = chromium_path()
    assert executable, "a Chromium is needed for this test"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{app.url}/?city={CITY}")
            page.get_by_text("Rave").first.wait_for(timeout=15000)
            assert dialogs == []
            assert page.locator("main script, main img[onerror]").count() == 0
            hrefs = page.eval_on_selector_all(
                "a[href]", "els => els.map(e => e.getAttribute('href'))"
            )
            assert not any(h.lower().startswith("javascript") for h in hrefs)
            page.screenshot(path=str(tmp_path / "hostile.png"))
        finally:
            browser.close()

    # A digest email: the HTML part carries no live markup from the scraped text.
    from nocturne_crawl.digest import run_digest

    with running_smtp_server() as smtp:
        config = Config(
            data_dir=tmp_path / "data", secret_key="k", smtp_url=smtp.url, scheduler_enabled=False
        )
        run_digest(config, hostile_db, cities=[CITY])
        [message] = smtp.handler.to("fan@example.com")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script" not in html.lower() and "onerror=" not in html.lower()
    assert "javascript:" not in html.lower()
    assert "Rave" in text
    report.record(
        "hostile",
        "markup/javascript:/huge/control/UTF-8 fields",
        "ok",
        items=len(items),
        rejected=len(pipeline.dropped),
        channels="api,page,email",
    )


def test_secrets_never_appear_in_logs_or_error_bodies(app, hostile_db):
    bodies = []
    with httpx.Client(base_url=app.url, timeout=20) as http:
        bodies.append(http.post("/subscribe", json={"email": "x@example.com", "city": CITY}).text)
        bodies.append(http.post(f"/scrape/{CITY}").text)
        bodies.append(http.get("/nowhere").text)
        bodies.append(http.get("/health").text)
        bodies.append(http.get("/openapi.json").text)
    logs = [app.log_text()]
    data_dir = Path(app.env["NOCTURNE_DATA_DIR"])
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".eml", ".txt", ""):
            logs.append(path.read_text(errors="replace"))
    found = [
        s for s in (DB_SECRET, SUPABASE_SECRET, SMTP_SECRET) for text in bodies + logs if s in text
    ]
    report.record(
        "hostile",
        "secrets in logs and error bodies",
        "ok" if not found else "LEAKED",
        files=len(logs) - 1,
        leaks=len(found),
    )
    assert found == []
