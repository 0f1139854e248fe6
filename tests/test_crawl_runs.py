"""crawl_runs recording: the extension inside real `scrapy crawl` processes, outcomes, sweeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from nocturne_crawl import crawlruns
from nocturne_crawl.config import REPO_ROOT
from tests.support.crawling import PROBE_SETTINGS


def scrapy_crawl(db: str, spider: str = "probe", *settings: str, **popen) -> subprocess.Popen:
    """A plain `scrapy crawl` from the repository root, as a user would type it."""
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", "city=ca--los-angeles"]
    for key, value in PROBE_SETTINGS.items():
        cmd += ["-s", f"{key}={value}"]
    for setting in settings:
        cmd += ["-s", setting]
    return subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": db},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **popen,
    )


def rows(db: str) -> list[dict]:
    with psycopg.connect(db) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute("SELECT * FROM crawl_runs ORDER BY id").fetchall()


def wait_for(predicate, timeout: float = 20, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.mark.parametrize(
    ("stats", "reason", "status", "error"),
    [
        ({"item_scraped_count": 4, "nocturne/items_new": 3}, "finished", "finished", None),
        ({}, "finished", "finished", None),  # a city with no events is not a failure
        ({"item_scraped_count": 5}, "closespider_itemcount", "finished", None),
        (
            {"item_scraped_count": 5},
            "shutdown",
            "failed",
            "crawl stopped before the end (shutdown)",
        ),
        (
            {"nocturne/source_errors": 2},
            "finished",
            "failed",
            "no events scraped: 2 source error(s)",
        ),
        (
            {"spider_exceptions/KeyError": 1},
            "finished",
            "failed",
            "no events scraped: 1 spider exception(s)",
        ),
        ({"item_scraped_count": 2, "nocturne/source_errors": 9}, "finished", "finished", None),
        (
            {"item_scraped_count": 2, "nocturne/db_errors": 1},
            "finished",
            "failed",
            "no events stored: 1 database error(s)",
        ),
    ],
)
def test_outcome_rules(stats, reason, status, error):
    outcome = crawlruns.crawl_outcome(stats, reason)
    assert (outcome.status, outcome.error) == (status, error)


def test_counts_come_from_the_pipelines_stats():
    counts = crawlruns.stat_counts(
        {
            "item_scraped_count": 7,
            "nocturne/items_new": 5,
            "nocturne/items_updated": 2,
            "nocturne/dropped/invalid": 3,
            "nocturne/dropped/duplicate": 4,
            "nocturne/pages": 2,
        }
    )
    assert counts == {
        "pages": 2,
        "items_scraped": 7,
        "items_new": 5,
        "items_updated": 2,
        "items_dropped": 7,
    }


@pytest.mark.slow
def test_plain_scrapy_crawl_records_a_finished_run(db):
    proc = scrapy_crawl(db, "probe", "PROBE_ITEMS=4")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    [row] = rows(db)
    assert row["status"] == "finished"
    assert row["backend"] == "manual"
    assert row["trigger"] == "cli"
    assert row["run_id"] == row["job_id"]
    assert row["city"] == "ca--los-angeles"
    assert (row["items_scraped"], row["pages"]) == (4, 4)
    assert row["finish_reason"] == "finished"
    assert row["started_at"] <= row["finished_at"]
    assert row["stats"]["item_scraped_count"] == 4


@pytest.mark.slow
def test_a_source_that_fails_is_recorded_failed_with_its_error(db):
    proc = scrapy_crawl(db, "probe_broken", "NOCTURNE_TRIGGER=cron", "NOCTURNE_JOB_ID=job-7")
    proc.communicate(timeout=60)
    [row] = rows(db)
    assert (row["job_id"], row["trigger"], row["status"]) == ("job-7", "cron", "failed")
    assert row["error"] == "no events scraped: 3 source error(s)"


@pytest.mark.slow
def test_a_crawl_killed_with_sigkill_is_swept_to_failed(db):
    proc = scrapy_crawl(db, "probe", "PROBE_ITEMS=200", "PROBE_DELAY=0.1")
    try:
        running = wait_for(lambda: [r for r in rows(db) if r["status"] == "running"])
        assert running[0]["pid"] == proc.pid
        # Nothing can be recorded after SIGKILL: the sweeper must notice the dead process.
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with psycopg.connect(db, autocommit=True) as conn:
        assert crawlruns.sweep_stale(conn, stale_seconds=300, queue_timeout_seconds=3600) == 1
    [row] = rows(db)
    assert row["status"] == "failed"
    assert row["error"] == f"crawl process {proc.pid} exited without recording an outcome"
    assert row["finished_at"] is not None


def test_stale_heartbeat_on_another_host_is_failed_and_fresh_ones_are_kept(db):
    with psycopg.connect(db, autocommit=True) as conn:
        for job_id, silent in (("stale", 600), ("fresh", 2)):
            conn.execute(
                """INSERT INTO crawl_runs (job_id, run_id, city, spider, status, pid, host,
                                           started_at, heartbeat_at)
                   VALUES (%s, %s, 'ca--los-angeles', 'meetup', 'running', 4242, 'elsewhere',
                           now() - interval '20 minutes', now() - make_interval(secs => %s))""",
                (job_id, job_id, silent),
            )
        assert crawlruns.sweep_stale(conn, stale_seconds=90, queue_timeout_seconds=3600) == 1
    by_id = {r["job_id"]: r for r in rows(db)}
    assert by_id["stale"]["status"] == "failed"
    assert "no heartbeat for 6" in by_id["stale"]["error"]
    assert by_id["fresh"]["status"] == "running"


def test_queued_jobs_of_a_dead_launcher_or_waiting_too_long_are_failed(db):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO crawl_runs (job_id, run_id, city, spider, status, launcher, created_at)
               VALUES ('orphan', 'r1', 'ca--los-angeles', 'luma', 'queued', %s, now()),
                      ('old', 'r2', 'ca--los-angeles', 'luma', 'queued', NULL,
                       now() - interval '2 hours'),
                      ('waiting', 'r3', 'ca--los-angeles', 'luma', 'queued', %s, now())""",
            (f"{crawlruns.HOST}:{dead.pid}", crawlruns.launcher_identity()),
        )
        assert crawlruns.sweep_stale(conn, stale_seconds=90, queue_timeout_seconds=3600) == 2
    by_id = {r["job_id"]: r for r in rows(db)}
    assert (
        by_id["orphan"]["error"] == "the launcher that queued this crawl exited before starting it"
    )
    assert by_id["old"]["error"] == "crawl did not start within 3600 s"
    assert by_id["waiting"]["status"] == "queued"
