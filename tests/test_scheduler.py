"""The scheduler: jobs fire on their trigger, and of two instances on one database only one acts."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.triggers.interval import IntervalTrigger

from nocturne_crawl.config import Config
from nocturne_crawl.crawlcli import crontab_lines
from nocturne_crawl.scheduler import ScheduledJob, build_scheduler
from tests.support.crawling import probe_launcher


def wait_until(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_two_instances_fire_but_only_the_lock_holder_acts_and_the_other_takes_over(db, tmp_path):
    config = Config(data_dir=tmp_path / "data")
    fired: dict[str, int] = {"a": 0, "b": 0}
    acted: dict[str, int] = {"a": 0, "b": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def tick(name: str):
        def run() -> None:
            with lock:
                acted[name] += 1

        return run

    schedulers = {}
    for name in ("a", "b"):
        scheduler = build_scheduler(
            config,
            db,
            None,
            jobs=[ScheduledJob("tick", tick(name), IntervalTrigger(seconds=0.2))],
        )

        def count(event, name=name) -> None:
            with lock:
                fired[name] += 1
                if event.exception is not None:
                    errors.append(event.traceback)

        scheduler.scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        schedulers[name] = scheduler
    try:
        for scheduler in schedulers.values():
            scheduler.start()
        wait_until(lambda: fired["a"] >= 5 and fired["b"] >= 5)
        with lock:
            leader = "a" if acted["a"] else "b"
            follower = "b" if leader == "a" else "a"
            assert acted[leader] >= 3
            assert acted[follower] == 0
        # The leader goes away (its connection and lock with it): the other one takes over.
        schedulers[leader].shutdown()
        wait_until(lambda: acted[follower] >= 2)
        assert errors == []
    finally:
        for scheduler in schedulers.values():
            scheduler.shutdown()


@pytest.mark.slow
def test_the_crawl_job_starts_staggered_cron_crawls_once(db, tmp_path):
    config = Config(data_dir=tmp_path / "data", crawl_stagger_seconds=1, scrape_cooldown_seconds=0)
    launchers = [probe_launcher(config, db, PROBE_ITEMS="2") for _ in range(2)]
    cities = ["ca--los-angeles", "ny--new-york"]
    schedulers = [
        build_scheduler(
            config, db, launcher, crawl_trigger=IntervalTrigger(seconds=30), cities=cities
        )
        for launcher in launchers
    ]
    try:
        for scheduler in schedulers:
            # Fire the crawl job now in both instances, as the cron would.
            scheduler.start()
            scheduler.scheduler.modify_job("crawl-all", next_run_time=None)
            scheduler.scheduler.get_job("crawl-all").func()

        def all_done() -> bool:
            with psycopg.connect(db) as conn:
                rows = conn.execute("SELECT status FROM crawl_runs").fetchall()
            return len(rows) == 2 and all(r[0] in ("finished", "failed") for r in rows)

        wait_until(all_done, timeout=60)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown()
        for launcher in launchers:
            launcher.close(cancel_running=True, timeout=10)
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT city, trigger, status, created_at FROM crawl_runs ORDER BY created_at"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ca--los-angeles", "cron", "finished"),
        ("ny--new-york", "cron", "finished"),
    ]
    # Staggered: the second city was queued about CRAWL_STAGGER_SECONDS after the first.
    assert (rows[1][3] - rows[0][3]).total_seconds() >= 0.9


def test_crontab_lines_crawl_each_city_staggered(tmp_path):
    config = Config(data_dir=tmp_path / "data", crawl_cron="15 3 * * *", crawl_stagger_seconds=90)
    lines = crontab_lines(config, "/venv/bin/python", "/srv/nocturne")
    entries = [line for line in lines if not line.startswith("#") and "=" not in line.split()[0]]
    assert entries[0] == (
        "15 3 * * * cd /srv/nocturne && /venv/bin/python -m nocturne_crawl.cli crawl "
        f"ca--los-angeles --trigger cron --quiet >> {tmp_path}/data/logs/cron.log 2>&1"
    )
    assert entries[1].startswith("15 3 * * * sleep 90 && cd /srv/nocturne && ")
    assert "crawl ny--new-york " in entries[1]
    assert "CRON_TZ=UTC" in lines
