"""`nocturne crawl`: foreground crawls with progress, a summary table and an exit status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import REPO_ROOT


def nocturne(db: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nocturne_crawl.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": db, "NOCTURNE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )


PROBE = ("-s", "SPIDER_MODULES=tests.support.probe_spider")


@pytest.mark.slow
def test_crawl_two_cities_prints_progress_and_a_summary(db, tmp_path):
    result = nocturne(
        db, tmp_path, "crawl", "ca--los-angeles", "ny--new-york", "--source", "probe", *PROBE,
        "-s", "PROBE_ITEMS=6",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.split("SECONDS  ERROR")[-1]
    lines = [line.split() for line in summary.splitlines() if line.strip()]
    assert lines[0][:4] == ["ca--los-angeles", "probe", "finished", "6"]
    assert lines[1][:4] == ["ny--new-york", "probe", "finished", "6"]
    assert "2 crawl(s) in" in result.stdout and "12 items" in result.stdout
    # Progress lines came first (not a TTY: one line per state change).
    assert "ca--los-angeles            probe        queued" in result.stdout
    with psycopg.connect(db) as conn:
        triggers = conn.execute("SELECT DISTINCT trigger, backend FROM crawl_runs").fetchall()
    assert triggers == [("cli", "subprocess")]


@pytest.mark.slow
def test_crawl_exits_non_zero_when_a_crawl_fails(db, tmp_path):
    result = nocturne(
        db, tmp_path, "crawl", "il--chicago", "--source", "probe", "--source", "probe_broken",
        *PROBE, "--quiet",
    )  # fmt: skip
    assert result.returncode == 1
    assert "no events scraped: 3 source error(s)" in result.stdout
    assert "1 failed" in result.stdout
    assert "queued" not in result.stdout  # --quiet: the summary only


def test_crawl_needs_cities_or_all(db, tmp_path):
    result = nocturne(db, tmp_path, "crawl")
    assert result.returncode == 2
    assert "name one or more cities, or --all" in result.stderr
    unknown = nocturne(db, tmp_path, "crawl", "xx--atlantis")
    assert unknown.returncode == 2
    assert "unknown city 'xx--atlantis'" in unknown.stderr


def test_schedule_runs_until_terminated_and_crontab_prints_every_city(db, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "NOCTURNE_DATA_DIR": str(tmp_path / "data"),
        "CRAWL_CRON": "30 4 * * *",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nocturne_crawl.cli", "schedule"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the log; the command's own lines are on stdout
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "scheduler running" in first and "CRAWL_CRON='30 4 * * *'" in first
        assert proc.stdout.readline().strip().startswith("crawl-all: next run ")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopping the scheduler" in out
    crontab = subprocess.run(
        [sys.executable, "-m", "nocturne_crawl.cli", "crontab"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    entries = [line for line in crontab.stdout.splitlines() if line.startswith("30 4 * * *")]
    assert len(entries) == len(catalog())
    assert "crawl ca--los-angeles --trigger cron" in entries[0]
