"""The `nocturne` command: catalog, migrations, and serving the app for real."""

import os
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from nocturne_crawl.cli import main
from nocturne_crawl.config import REPO_ROOT


def test_cities_lists_the_catalog():
    result = CliRunner().invoke(main, ["cities"])
    assert result.exit_code == 0
    first = result.output.splitlines()[0].split()
    assert first[0] == "ca--los-angeles"
    assert first[-1] == "America/Los_Angeles"
    assert len(result.output.splitlines()) >= 20


def test_migrate_reports_up_to_date_on_a_migrated_database(database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output


def test_scrapy_list_runs_from_the_repo_root():
    out = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def test_run_serves_the_api_on_host_and_port(database):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NOCTURNE_SCHEDULER": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nocturne_crawl.cli", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/cities", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the app did not start within 60 s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["cities"][0]["name"] == "LOS ANGELES"
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
