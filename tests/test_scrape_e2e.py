"""End to end: POST /scrape/{city} -> real `scrapy crawl` subprocesses of the three spiders
against the local site simulator (a stand-in for the live sites, which cannot be reached from
here) -> the real pipelines -> events in PostgreSQL -> GET /scrape/{city} reports the counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from nocturne_crawl.cities import SOURCES
from nocturne_crawl.config import Config
from nocturne_crawl.launcher import CrawlLauncher
from nocturne_crawl.simulator import Simulator, start_simulator

pytestmark = pytest.mark.slow

CITY = "ca--los-angeles"


def simulator_settings(sim: Simulator) -> dict[str, str]:
    """Point the spiders at the simulator; no politeness delays against a local server."""
    return {
        "EVENTBRITE_BASE_URL": sim.url,
        "MEETUP_BASE_URL": sim.url,
        "LUMA_API_BASE_URL": sim.url,
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "False",
        "LUMA_DETAILS_DELAY": "0",
        "RETRY_BACKOFF_BASE": "0.1",
        "DOWNLOAD_TIMEOUT": "30",
        "NOCTURNE_HEARTBEAT_SECONDS": "0.5",
    }


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with start_simulator(seed=5, events_per_city=40, cities=[CITY]) as running:
        yield running


def poll_until_done(client: TestClient, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/scrape/{CITY}").json()
        if body["status"] in ("finished", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"the crawl did not end within {timeout} s: {body}")


def stored_links(db: str) -> dict[str, str]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT link, source FROM events WHERE city = %s", (CITY,))
        return dict(rows.fetchall())


def test_post_scrape_crawls_the_three_sources_into_postgres(db, sim, tmp_path):
    config = Config(data_dir=tmp_path / "data", scheduler_enabled=False, scrape_cooldown_seconds=0)

    def launcher(cfg: Config, conninfo: str) -> CrawlLauncher:
        return CrawlLauncher(
            cfg, conninfo, settings=simulator_settings(sim), env={"NOCTURNE_RENDER": "off"}
        )

    with TestClient(create_app(config, conninfo=db, launcher_factory=launcher)) as client:
        started = client.post(f"/scrape/{CITY}")
        assert started.status_code == 202
        assert [j["spider"] for j in started.json()["jobs"]] == list(SOURCES)
        first = poll_until_done(client)
        stored = stored_links(db)
        # The same crawl again: nothing new, every stored event seen again.
        assert client.post(f"/scrape/{CITY}").json()["joined"] is False
        second = poll_until_done(client)
        stored_after = stored_links(db)

    assert first["status"] == "finished", first
    assert {s["spider"]: s["status"] for s in first["sources"]} == dict.fromkeys(
        SOURCES, "finished"
    )
    truth = {source: sim.truth(source, CITY) for source in SOURCES}
    served = {t["link"] for records in truth.values() for t in records}
    # Every stored event is one the simulator served; every served one is stored, or its
    # twin on another source is (the cross-source dedupe keeps one of the two).
    assert set(stored) <= served
    for records in truth.values():
        for record in records:
            twin = record.get("twin")
            assert record["link"] in stored or (twin and twin["link"] in stored), record
    assert first["items_new"] == len(stored)
    assert first["items_updated"] == 0
    with psycopg.connect(db) as conn:
        [(merged,)] = conn.execute(
            """SELECT coalesce(sum((stats->>'nocturne/dedupe/rows_merged')::int), 0)
                    + coalesce(sum((stats->>'nocturne/dedupe/late_merged')::int), 0)
               FROM crawl_runs WHERE run_id = %s""",
            (first["run_id"],),
        ).fetchall()
    # Per source: rows it inserted; a row merged into another source's twin is not stored.
    assert sum(s["items_new"] for s in first["sources"]) == len(stored) + merged
    assert second["status"] == "finished"
    assert second["run_id"] != first["run_id"]
    assert second["items_new"] == 0
    # Two sources' crawls storing twins at the same moment may both insert; a later run
    # merges such a pair, so the second run can only see fewer rows, never new ones.
    assert set(stored_after) <= set(stored)
    assert second["items_updated"] >= len(stored_after)
