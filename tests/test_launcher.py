"""CrawlLauncher with the subprocess backend: real `scrapy crawl` processes, real PostgreSQL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from nocturne_crawl import crawlruns
from nocturne_crawl.config import Config
from nocturne_crawl.launcher import CrawlRefused
from tests.support.crawling import launcher_config, probe_launcher


@pytest.fixture
def crawl_config(tmp_path) -> Config:
    return launcher_config(tmp_path, crawl_concurrency=2)


def insert_run(db: str, city: str, client: str | None, age_seconds: float, run_id: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO crawl_runs (job_id, run_id, city, spider, trigger, status, client,
                                       created_at, finished_at)
               VALUES (%s, %s, %s, 'eventbrite', 'api', 'finished', %s,
                       now() - make_interval(secs => %s), now())""",
            (f"job-{run_id}", run_id, city, client, age_seconds),
        )


@pytest.mark.slow
def test_runs_are_bounded_queued_and_logged_per_job(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="4", PROBE_DELAY="0.2")
    try:
        cities = ["ca--los-angeles", "ny--new-york", "il--chicago"]
        tickets = [launcher.request(c, trigger="cli") for c in cities]
        assert all(not t.joined for t in tickets)
        jobs = launcher.wait([t.run_id for t in tickets], timeout=60)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert [j["status"] for j in jobs] == ["finished"] * 3
    assert [j["items_scraped"] for j in jobs] == [4, 4, 4]
    # Never more than CRAWL_CONCURRENCY (2) crawl processes at once: the third waited.
    spans = [(j["started_at"], j["finished_at"]) for j in jobs]
    for start, _ in spans:
        overlapping = sum(1 for s, f in spans if s <= start < f)
        assert overlapping <= 2
    with psycopg.connect(db) as conn:
        logs = [r[0] for r in conn.execute("SELECT log_path FROM crawl_runs ORDER BY id")]
    for job, log_path in zip(jobs, logs, strict=True):
        assert log_path.endswith(f"logs/{job['job_id']}.log")
        text = Path(log_path).read_text(encoding="utf-8")
        assert "Spider closed (finished)" in text


@pytest.mark.slow
def test_a_second_request_joins_the_city_crawl_in_progress(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="20", PROBE_DELAY="0.1")
    try:
        first = launcher.request("ca--los-angeles", trigger="api", client="10.0.0.1")
        second = launcher.request("ca--los-angeles", trigger="api", client="10.0.0.2")
        assert (first.joined, second.joined) == (False, True)
        assert second.run_id == first.run_id
        assert [j["job_id"] for j in second.jobs] == [j["job_id"] for j in first.jobs]
        [job] = launcher.wait([first.run_id], timeout=60)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert job["status"] == "finished"


@pytest.mark.slow
def test_a_crawl_process_killed_with_sigkill_is_reported_failed(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="500", PROBE_DELAY="0.05")
    try:
        ticket = launcher.request("ca--los-angeles", trigger="api")
        deadline = time.monotonic() + 30
        while launcher.latest("ca--los-angeles")["status"] != "running":
            assert time.monotonic() < deadline, "the crawl never started"
            time.sleep(0.1)
        [pid] = launcher.backend.running_pids().values()
        os.kill(pid, signal.SIGKILL)
        [job] = launcher.wait([ticket.run_id], timeout=20)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert job["status"] == "failed"
    assert job["error"] == "crawl process killed by SIGKILL"
    with psycopg.connect(db) as conn:
        run = crawlruns.latest_run(conn, "ca--los-angeles")
    assert (run["status"], run["run_id"]) == ("failed", ticket.run_id)
    assert run["error"] == "probe: crawl process killed by SIGKILL"


def test_cooldown_refuses_with_the_seconds_left(db, tmp_path):
    config = Config(data_dir=tmp_path / "data", scrape_cooldown_seconds=300)
    launcher = probe_launcher(config, db)
    try:
        insert_run(db, "ca--los-angeles", "10.0.0.1", age_seconds=100, run_id="r1")
        with pytest.raises(CrawlRefused) as refused:
            launcher.request("ca--los-angeles", trigger="api", client="10.0.0.9")
        assert 190 <= refused.value.retry_after <= 201
        # The cooldown is per city, and the scheduler and CLI are not bound by it.
        insert_run(db, "ny--new-york", "10.0.0.1", age_seconds=400, run_id="r2")
        assert launcher.request("ca--los-angeles", trigger="cron", enforce_limits=False).jobs
    finally:
        launcher.close(cancel_running=True, timeout=10)


def test_client_limit_counts_the_clients_crawls_in_the_window(db, tmp_path):
    config = Config(
        data_dir=tmp_path / "data",
        scrape_cooldown_seconds=0,
        scrape_client_limit=2,
        scrape_client_window_seconds=600,
    )
    launcher = probe_launcher(config, db)
    try:
        insert_run(db, "ca--los-angeles", "10.0.0.1", age_seconds=500, run_id="r1")
        insert_run(db, "ny--new-york", "10.0.0.1", age_seconds=60, run_id="r2")
        insert_run(db, "il--chicago", "10.0.0.1", age_seconds=700, run_id="old")
        with pytest.raises(CrawlRefused) as refused:
            launcher.request("tx--austin", trigger="api", client="10.0.0.1")
        # The start 500 s ago leaves the 600 s window first.
        assert 90 <= refused.value.retry_after <= 101
        assert "limit 2" in refused.value.message
        other = launcher.request("tx--austin", trigger="api", client="10.0.0.2")
        assert not other.joined
        launcher.wait([other.run_id], timeout=60)
    finally:
        launcher.close(cancel_running=True, timeout=10)
