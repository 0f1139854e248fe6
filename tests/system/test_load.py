"""Load on the real app while it crawls and mails: nothing fails, every extra crawl request
is joined or refused, and the app keeps answering.

Processes, as in production: the app (`nocturne run`), the site simulator
(`nocturne simulate`), crawl subprocesses started by the app's launcher, a digest run
(`nocturne digest`), and an SMTP server (aiosmtpd) that accepts and discards the mail.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import REPO_ROOT
from tests.support.databases import create_database, drop_database
from tests.support.processes import simulator_process as start_simulator_process
from tests.system import report
from tests.system.load import run_load
from tests.system.stack import AppProcess, free_port

pytestmark = pytest.mark.slow
LOAD_SECONDS = float(os.environ.get("SYSTEM_LOAD_SECONDS", 60))
CLIENTS = 64
CITIES = list(catalog())[:6]


@pytest.fixture(scope="module")
def load_db(pg_admin):
    uri = create_database(pg_admin)
    yield uri
    drop_database(pg_admin, uri)


@pytest.fixture(scope="module")
def simulator_process():
    """The simulator in its own process, so its work is not counted against the load client."""
    with start_simulator_process(events=30, seed=5, latency_ms=50) as url:
        yield url


@pytest.fixture(scope="module")
def smtp_process():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def app(load_db, simulator_process, smtp_process, tmp_path_factory):
    data = tmp_path_factory.mktemp("load-data")
    env = {
        "DATABASE_URL": load_db,
        "NOCTURNE_DATA_DIR": str(data),
        "EVENTBRITE_BASE_URL": simulator_process,
        "MEETUP_BASE_URL": simulator_process,
        "LUMA_API_BASE_URL": simulator_process,
        "NOCTURNE_RENDER": "off",
        "SMTP_URL": smtp_process,
        "SCRAPE_COOLDOWN_SECONDS": "600",
        "SCRAPE_CLIENT_LIMIT": "100000",
        "CRAWL_CONCURRENCY": "3",
        "WEB_WORKERS": "1",
    }
    with AppProcess(env, data / "app.log") as process:
        yield process


def _wait_runs_done(db: str, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(db) as conn:
            rows = conn.execute("SELECT job_id, status FROM crawl_runs").fetchall()
        if (
            all(status in ("finished", "failed") for _, status in rows)
            or time.monotonic() > deadline
        ):
            return dict(rows)
        time.sleep(1)


def test_readers_see_no_error_while_five_cities_crawl_and_a_digest_goes_out(
    app, load_db, smtp_process
):
    with psycopg.connect(load_db, autocommit=True) as conn:
        # 300 subscribers with events new to them: the digest has real work to do.
        conn.execute(
            "INSERT INTO subscriptions (email, city, confirmed_at, created_at) "
            "SELECT 'fan' || n || '@example.com', %s, now(), now() - interval '1 day' FROM generate_series(1, 300) n",
            (CITIES[0],),
        )
        for i in range(20):
            conn.execute(
                "INSERT INTO events (title, link, date, time, source, city, starts_at, timezone) "
                "VALUES (%s, %s, current_date + 1, '21:00', 'meetup', %s, now() + interval '1 day', 'UTC')",
                (f"Seed night {i}", f"https://www.meetup.com/g/events/{i}", CITIES[0]),
            )
    for city in CITIES[:5]:
        assert httpx.post(f"{app.url}/scrape/{city}", timeout=30).status_code == 202
    digest = subprocess.Popen(
        [sys.executable, "-m", "nocturne_crawl.cli", "digest"],
        cwd=REPO_ROOT,
        env={**os.environ, **app.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    today = datetime.now(UTC).date()
    paths = (
        ["/cities"]
        + [
            f"/events/{city}?limit=100&start_date={today + timedelta(days=d)}&end_date={today + timedelta(days=d + 6)}"
            for city in CITIES
            for d in range(0, 14, 3)
        ]
        + [f"/events/{city}" for city in CITIES]
    )
    load = asyncio.run(run_load(app.url, paths, CLIENTS, LOAD_SECONDS))
    assert digest.wait(timeout=300) == 0
    runs = _wait_runs_done(load_db, timeout=240)
    with psycopg.connect(load_db) as conn:
        sent = conn.execute("SELECT count(*) FROM email_logs WHERE status = 'sent'").fetchone()[0]
        crawled = conn.execute(
            "SELECT count(DISTINCT city) FROM events WHERE link NOT LIKE 'https://www.meetup.com/g/events/%%'"
        ).fetchone()[0]
    report.record(
        "load",
        f"{CLIENTS} readers x {LOAD_SECONDS:.0f}s during 5 crawls + digest",
        "ok" if load.failed == load.server_errors == 0 else "FAILED",
        requests=load.requests,
        rps=round(load.requests / load.seconds),
        p50_ms=round(load.pct(50), 1),
        p99_ms=round(load.pct(99), 1),
        errors_5xx=load.server_errors,
        failed=load.failed,
        mails_sent=sent,
        crawl_jobs=len(runs),
    )
    assert load.requests > 0
    assert load.server_errors == 0, load.statuses
    assert load.failed == 0
    assert set(load.statuses) == {200}, load.statuses
    assert sent == 300
    assert crawled >= 5
    assert all(status in ("finished", "failed") for status in runs.values())


def test_two_hundred_concurrent_scrape_requests_start_each_city_once(app, load_db):
    cities = CITIES  # all already crawled once above, or not: both paths are exercised
    with psycopg.connect(load_db, autocommit=True) as conn:
        conn.execute("DELETE FROM crawl_runs")  # forget the first test's runs: fresh cooldowns

    async def burst():
        async with httpx.AsyncClient(base_url=app.url, timeout=60) as http:

            async def post(i: int):
                return await http.post(f"/scrape/{cities[i % len(cities)]}")

            async def health_probe():
                started = time.perf_counter()
                response = await http.get("/health")
                return response.status_code, time.perf_counter() - started

            results = await asyncio.gather(*(post(i) for i in range(200)), health_probe())
            return results[:-1], results[-1]

    responses, (health_status, health_seconds) = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    started = [r for r in responses if r.status_code == 202 and not r.json()["joined"]]
    joined = [r for r in responses if r.status_code == 202 and r.json()["joined"]]
    refused = [r for r in responses if r.status_code == 429]
    with psycopg.connect(load_db) as conn:
        per_city = dict(
            conn.execute(
                "SELECT city, count(DISTINCT run_id) FROM crawl_runs GROUP BY city"
            ).fetchall()
        )
    report.record(
        "load",
        "200 concurrent POST /scrape, 6 cities",
        "ok",
        started=len(started),
        joined=len(joined),
        refused_429=len(refused),
        health_s=round(health_seconds, 2),
    )
    assert set(statuses) <= {202, 429}, statuses
    assert len(started) == len(cities)
    assert len(started) + len(joined) + len(refused) == 200
    assert all(count == 1 for count in per_city.values()) and set(per_city) == set(cities)
    assert health_status == 200 and health_seconds < 10
    # A second wave inside the cooldown starts nothing new.
    again = [httpx.post(f"{app.url}/scrape/{city}", timeout=30) for city in cities]
    assert all(r.status_code == 429 or r.json()["joined"] for r in again)
    _wait_runs_done(load_db, timeout=240)
