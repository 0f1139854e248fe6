"""A source that suddenly returns nothing is flagged `degraded`, in crawl_runs, in
`GET /scrape/{city}` and in the crawl's log: real `scrapy crawl` processes against the
site simulator, first as usual, then against a "changed" site."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.simulator import start_simulator
from tests.system import report

CITY = "ca--los-angeles"
pytestmark = pytest.mark.slow


def _crawl(db: str, url: str, tmp_path, name: str) -> str:
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "DATABASE_URL": db, "LUMA_API_BASE_URL": url, "NOCTURNE_RENDER": "off"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "luma",
            "-a",
            f"city={CITY}",
            "-s",
            "LUMA_FETCH_DESCRIPTIONS=False",
            "-s",
            f"LOG_FILE={log}",
            "-s",
            "NOCTURNE_SYNC_RETRIES=0",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return log.read_text()


def test_a_source_that_suddenly_returns_nothing_is_degraded(db, client, tmp_path):
    with start_simulator(seed=4, events_per_city=30, cities=[CITY]) as sim:
        for n in range(2):
            _crawl(db, sim.url, tmp_path, f"usual-{n}")
    with start_simulator(seed=4, events_per_city=0, cities=[CITY]) as changed:
        log = _crawl(db, changed.url, tmp_path, "changed")
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT status, health, health_notes, items_scraped FROM crawl_runs ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == ["finished", "finished", "finished"]
    assert [r[1] for r in rows] == ["ok", "ok", "degraded"]
    assert rows[2][2] == "returned no events (usually 30)"
    assert "crawl health degraded for luma ca--los-angeles" in log
    status = client.get(f"/scrape/{CITY}").json()
    assert status["degraded"] is True
    assert status["sources"][0]["health"] == "degraded"
    report.record(
        "health",
        "source returns no events -> degraded",
        "ok",
        usual_items=rows[0][3],
        now_items=rows[2][3],
    )
