"""POST/GET /scrape/{city} and GET /crawls/{job_id}: the contract the web page relies on.

In-process tests go through the ASGI app; the single-flight test runs a real uvicorn with two
worker processes on a loopback port and fires 20 POSTs at once with httpx.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from nocturne_crawl.config import Config
from tests.support.crawling import probe_launcher, uvicorn_server


def app_client(db: str, config: Config, **probe_settings: str) -> TestClient:
    def launcher(cfg: Config, conninfo: str):
        return probe_launcher(cfg, conninfo, spiders=("probe", "probe_broken"), **probe_settings)

    return TestClient(create_app(config, conninfo=db, launcher_factory=launcher))


def poll_until_done(client, city: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/scrape/{city}").json()
        if body["status"] in ("finished", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"crawl of {city} did not end within {timeout} s: {body}")


@pytest.fixture
def crawl_config(tmp_path) -> Config:
    return Config(data_dir=tmp_path / "data", scheduler_enabled=False, scrape_cooldown_seconds=60)


def test_unknown_city_is_404_for_post_and_get(db, crawl_config):
    with app_client(db, crawl_config) as client:
        for method in ("POST", "GET"):
            response = client.request(method, "/scrape/xx--atlantis")
            assert response.status_code == 404
            assert "unknown city" in response.json()["error"]
        missing = client.get("/crawls/nope")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no crawl job with that id"}


def test_a_city_never_crawled_is_idle(db, crawl_config):
    with app_client(db, crawl_config) as client:
        body = client.get("/scrape/ny--new-york").json()
    assert body["status"] == "idle"
    assert body["run_id"] is None
    assert body["sources"] == []
    assert body["error"] is None


@pytest.mark.slow
def test_post_starts_a_crawl_and_status_reports_it_per_source(db, crawl_config):
    with app_client(db, crawl_config, PROBE_ITEMS="5") as client:
        response = client.post("/scrape/ca--los-angeles")
        assert response.status_code == 202
        body = response.json()
        assert body["message"] == "Scraping initiated for ca--los-angeles"
        assert body["city"] == "ca--los-angeles"
        assert body["note"] == "Events will be synced to shared database in real-time"
        assert body["joined"] is False
        assert [j["spider"] for j in body["jobs"]] == ["probe", "probe_broken"]
        assert {j["status"] for j in body["jobs"]} == {"queued"}
        status = poll_until_done(client, "ca--los-angeles")
        job = client.get(f"/crawls/{body['jobs'][0]['job_id']}").json()
    # One source worked, one failed: the run finished, the failure is in its source entry.
    assert status["run_id"] == body["run_id"]
    assert status["status"] == "finished"
    assert status["error"] is None
    assert status["items_scraped"] == 5
    sources = {s["spider"]: s for s in status["sources"]}
    assert sources["probe"]["status"] == "finished"
    assert sources["probe"]["items_scraped"] == 5
    assert sources["probe_broken"]["status"] == "failed"
    assert sources["probe_broken"]["error"] == "no events scraped: 3 source error(s)"
    assert job["run_id"] == body["run_id"]
    assert job["trigger"] == "api"
    assert job["backend"] == "subprocess"
    assert job["finish_reason"] == "finished"


@pytest.mark.slow
def test_a_run_where_every_source_fails_is_failed_with_error_text(db, crawl_config):
    def launcher(cfg: Config, conninfo: str):
        return probe_launcher(cfg, conninfo, spiders=("probe_broken",))

    with TestClient(create_app(crawl_config, conninfo=db, launcher_factory=launcher)) as client:
        assert client.post("/scrape/il--chicago").status_code == 202
        status = poll_until_done(client, "il--chicago")
    assert status["status"] == "failed"
    assert status["error"] == "probe_broken: no events scraped: 3 source error(s)"
    assert status["finished_at"] is not None


def test_cooldown_answers_429_with_retry_after(db, crawl_config):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO crawl_runs (job_id, run_id, city, spider, status, created_at)
               VALUES ('j1', 'r1', 'fl--miami', 'luma', 'finished', now() - interval '15 s')"""
        )
    with app_client(db, crawl_config) as client:
        response = client.post("/scrape/fl--miami")
    assert response.status_code == 429
    body = response.json()
    assert 35 <= body["retry_after"] <= 46
    assert response.headers["Retry-After"] == str(body["retry_after"])
    assert "fl--miami was crawled" in body["error"]


def test_client_limit_answers_429(db, tmp_path):
    config = Config(
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        scrape_cooldown_seconds=0,
        scrape_client_limit=1,
        scrape_client_window_seconds=3600,
    )
    with psycopg.connect(db, autocommit=True) as conn:
        # The test client's address is "testclient"; it started a crawl ten minutes ago.
        conn.execute(
            """INSERT INTO crawl_runs (job_id, run_id, city, spider, status, client, created_at)
               VALUES ('j1', 'r1', 'fl--miami', 'luma', 'finished', 'testclient',
                       now() - interval '10 minutes')"""
        )
    with app_client(db, config) as client:
        response = client.post("/scrape/wa--seattle")
    assert response.status_code == 429
    assert 2990 <= response.json()["retry_after"] <= 3001
    assert int(response.headers["Retry-After"]) == response.json()["retry_after"]


@pytest.mark.slow
async def test_twenty_concurrent_posts_start_one_crawl_across_two_workers(db, tmp_path):
    env = {
        "DATABASE_URL": db,
        "NOCTURNE_DATA_DIR": str(tmp_path / "data"),
        "NOCTURNE_SCHEDULER": "0",
        "SCRAPE_COOLDOWN_SECONDS": "600",
        "SCRAPE_CLIENT_LIMIT": "5",
        "PROBE_ITEMS": "10",
        "PROBE_DELAY": "0.2",
    }
    with uvicorn_server(env, tmp_path / "uvicorn.log", workers=2) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            posted = time.monotonic()
            responses = await asyncio.gather(
                *(http.post("/scrape/ca--los-angeles") for _ in range(20))
            )
            assert [r.status_code for r in responses] == [202] * 20
            bodies = [r.json() for r in responses]
            assert Counter(b["joined"] for b in bodies) == {True: 19, False: 1}
            assert len({b["run_id"] for b in bodies}) == 1
            deadline = time.monotonic() + 60
            while (status := (await http.get("/scrape/ca--los-angeles")).json())["status"] not in (
                "finished",
                "failed",
            ):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            assert status["status"] == "finished"
            assert status["items_scraped"] == 10
            # Done, and now inside the city's cooldown: refused with the time left.
            again = await http.post("/scrape/ca--los-angeles")
            assert again.status_code == 429
            waited = time.monotonic() - posted
            assert 600 - waited - 1 <= int(again.headers["Retry-After"]) <= 600
    with psycopg.connect(db) as conn:
        [(runs, jobs)] = conn.execute(
            "SELECT count(DISTINCT run_id), count(*) FROM crawl_runs"
        ).fetchall()
    assert (runs, jobs) == (1, 1)
