"""The pre-forked crawl worker behind the subprocess backend: one process per crawl, forked
from a worker that imported Scrapy and the project once, with the backend's usual contract
(per-job logs, exit statuses, SIGKILL reported failed, fallback to a fresh process)."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from nocturne_crawl.config import REPO_ROOT, Config
from tests.support.crawling import launcher_config, probe_launcher

pytestmark = pytest.mark.slow


@pytest.fixture
def crawl_config(tmp_path) -> Config:
    return launcher_config(tmp_path, crawl_concurrency=3)


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[-1].split()[1])


def wait_running(launcher, city: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while launcher.latest(city)["status"] != "running":
        assert time.monotonic() < deadline, "the crawl never started"
        time.sleep(0.05)


def test_crawls_are_forked_by_the_worker_each_with_its_own_log_and_row(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="30", PROBE_DELAY="0.05")
    try:
        tickets = [launcher.request(c, trigger="cli") for c in ("ca--los-angeles", "il--chicago")]
        wait_running(launcher, "ca--los-angeles")
        worker = launcher.backend._worker
        assert worker is not None and worker.alive
        pids = launcher.backend.running_pids()
        assert pids and all(parent_pid(pid) == worker.proc.pid for pid in pids.values())
        jobs = launcher.wait([t.run_id for t in tickets], timeout=60)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert [j["status"] for j in jobs] == ["finished", "finished"]
    assert [j["items_scraped"] for j in jobs] == [30, 30]
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT job_id, pid, log_path, stats FROM crawl_runs ORDER BY id")
        rows = rows.fetchall()
    assert len({pid for _, pid, _, _ in rows}) == 2
    # Each child's own CPU (not the worker's imports): small, and there.
    assert all(0 < stats["nocturne/cpu_seconds"] < 30 for _, _, _, stats in rows)
    for job_id, _, log_path, _ in rows:
        assert log_path.endswith(f"logs/{job_id}.log")
        text = Path(log_path).read_text(encoding="utf-8")
        assert "Spider closed (finished)" in text
        assert job_id in text  # the recorder's line: this log is this job's alone
    assert worker.proc.poll() is not None, "closing the launcher stops the worker"


def test_a_forked_crawl_killed_with_sigkill_is_reported_failed(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="500", PROBE_DELAY="0.05")
    try:
        ticket = launcher.request("ca--los-angeles", trigger="api")
        wait_running(launcher, "ca--los-angeles")
        [pid] = launcher.backend.running_pids().values()
        assert parent_pid(pid) == launcher.backend._worker.proc.pid
        os.kill(pid, signal.SIGKILL)
        [job] = launcher.wait([ticket.run_id], timeout=60)
        # The worker lives on and forks the next crawl (500 items at 50 ms: ~25 s alone,
        # longer on a loaded machine).
        again = launcher.request("ny--new-york", trigger="cli", enforce_limits=False)
        [other] = launcher.wait([again.run_id], timeout=180)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert job["status"] == "failed"
    assert job["error"] == "crawl process killed by SIGKILL"
    assert other["status"] == "finished"


def test_a_crawl_that_exits_with_an_error_gets_its_status_and_last_log_line(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, spiders=("no_such_spider",))
    try:
        ticket = launcher.request("ca--los-angeles", trigger="cli")
        [job] = launcher.wait([ticket.run_id], timeout=60)
    finally:
        launcher.close(cancel_running=True, timeout=10)
    assert job["status"] == "failed"
    assert job["error"].startswith("crawl process exited with status 1: ")
    assert "no_such_spider" in job["error"]


def test_crawls_outlive_a_killed_worker_and_the_next_job_gets_a_new_one(db, crawl_config):
    launcher = probe_launcher(crawl_config, db, PROBE_ITEMS="40", PROBE_DELAY="0.05")
    try:
        ticket = launcher.request("ca--los-angeles", trigger="api")
        wait_running(launcher, "ca--los-angeles")
        first = launcher.backend._worker
        first.proc.kill()
        [job] = launcher.wait([ticket.run_id], timeout=60)
        again = launcher.request("ny--new-york", trigger="cli", enforce_limits=False)
        [other] = launcher.wait([again.run_id], timeout=60)
        second = launcher.backend._worker
    finally:
        launcher.close(cancel_running=True, timeout=10)
    # The crawl recorded its own outcome; losing its exit status did not fail it.
    assert (job["status"], job["items_scraped"]) == ("finished", 40)
    assert other["status"] == "finished"
    assert second is not None and second is not first


def test_without_prefork_or_without_a_worker_crawls_are_fresh_processes(
    db, crawl_config, monkeypatch
):
    for config, broken in (
        (dataclasses.replace(crawl_config, crawl_prefork=False), False),
        (crawl_config, True),
    ):
        if broken:

            def refuse(*args, **kwargs):
                raise OSError("no worker here")

            monkeypatch.setattr("nocturne_crawl.backends.CrawlWorkerClient", refuse)
        launcher = probe_launcher(config, db, PROBE_ITEMS="5", PROBE_DELAY="0.2")
        try:
            ticket = launcher.request("ca--los-angeles", trigger="cli", enforce_limits=False)
            wait_running(launcher, "ca--los-angeles")
            [pid] = launcher.backend.running_pids().values()
            assert parent_pid(pid) == os.getpid()
            [job] = launcher.wait([ticket.run_id], timeout=60)
        finally:
            launcher.close(cancel_running=True, timeout=10)
        assert launcher.backend._worker is None
        assert job["status"] == "finished"


def test_the_worker_preloads_scrapy_and_the_project_without_a_reactor():
    import subprocess
    import sys

    code = (
        "import sys; from nocturne_crawl.crawlworker import preload; "
        "failed = preload(); "
        "assert 'twisted.internet.reactor' not in sys.modules; "
        "assert 'spiders.luma' in sys.modules and 'pipelines.postgres' in sys.modules; "
        "assert 'scrapy.core.downloader.handlers.http11' in sys.modules; "
        "print(len(failed))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
