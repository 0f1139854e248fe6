"""The Scrapyd backend against a real Scrapyd: deployed with `scrapyd-deploy`, crawls scheduled
through POST /scrape, run from the egg against the site simulator, recorded in PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from nocturne_crawl.cities import SOURCES
from nocturne_crawl.config import REPO_ROOT, Config
from nocturne_crawl.launcher import CrawlLauncher
from nocturne_crawl.simulator import Simulator, start_simulator
from tests.support.processes import scrapyd_process
from tests.test_scrape_e2e import poll_until_done, simulator_settings

pytestmark = pytest.mark.slow

CITY = "ca--los-angeles"
BIN = Path(sys.executable).parent


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with start_simulator(seed=9, events_per_city=25, cities=[CITY]) as running:
        yield running


def project_copy(dest: Path, scrapyd_url: str) -> Path:
    """The repository's tracked project files, with a deploy target for this Scrapyd."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (
            name.split("/")[0] in ("tests", "web", "bench", ".ci")
            or not (REPO_ROOT / name).is_file()
        ):
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, dest / name)
    cfg = (dest / "scrapy.cfg").read_text()
    (dest / "scrapy.cfg").write_text(cfg.replace("http://127.0.0.1:6800/", scrapyd_url + "/"))
    return dest


@pytest.fixture
def scrapyd(tmp_path, db, sim) -> Iterator[str]:
    """A real Scrapyd on a loopback port; its crawl processes see the test database."""
    env = {
        "DATABASE_URL": db,
        "NOCTURNE_RENDER": "off",
        "NOCTURNE_DATA_DIR": str(tmp_path / "data"),
    }
    with scrapyd_process(tmp_path / "scrapyd", env) as url:
        yield url


def test_scrapyd_deploy_then_post_scrape_runs_the_crawls_in_scrapyd(db, sim, scrapyd, tmp_path):
    project = project_copy(tmp_path / "project", scrapyd)
    deployed = subprocess.run(
        [str(BIN / "scrapyd-deploy"), "-p", "nocturne", "--version", "r1"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deployed.returncode == 0, deployed.stderr
    assert '"status": "ok"' in deployed.stdout, deployed.stdout
    spiders = httpx.get(f"{scrapyd}/listspiders.json", params={"project": "nocturne"}).json()
    assert sorted(spiders["spiders"]) == sorted(SOURCES)
    [egg] = (tmp_path / "scrapyd" / "eggs" / "nocturne").glob("*.egg")
    names = set(zipfile.ZipFile(egg).namelist())
    assert {"nocturne_crawl/cities.json", "nocturne_crawl/migrations/0003_crawls.sql"} <= names
    assert {"spiders/eventbrite.py", "pipelines/postgres.py", "api/scrape.py"} <= names

    config = Config(
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        scrape_cooldown_seconds=0,
        crawl_backend="scrapyd",
        scrapyd_url=scrapyd,
    )

    def launcher(cfg: Config, conninfo: str) -> CrawlLauncher:
        return CrawlLauncher(cfg, conninfo, settings=simulator_settings(sim))

    with TestClient(create_app(config, conninfo=db, launcher_factory=launcher)) as client:
        started = client.post(f"/scrape/{CITY}").json()
        status = poll_until_done(client)
    assert status["status"] == "finished", status
    assert {s["spider"]: s["status"] for s in status["sources"]} == dict.fromkeys(
        SOURCES, "finished"
    )
    # The processes record their outcome before they exit; Scrapyd lists them soon after.
    expected = {j["job_id"] for j in started["jobs"]}
    deadline = time.monotonic() + 20
    while True:
        jobs = httpx.get(f"{scrapyd}/listjobs.json", params={"project": "nocturne"}).json()
        finished = {j["id"] for j in jobs["finished"]}
        if finished == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert finished == expected
    with psycopg.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE city = %s", (CITY,)).fetchone()[0]
        backends = conn.execute("SELECT DISTINCT backend, trigger FROM crawl_runs").fetchall()
        log_paths = [r[0] for r in conn.execute("SELECT log_path FROM crawl_runs")]
    assert backends == [("scrapyd", "api")]
    assert stored > 0
    assert status["items_new"] == stored
    # The crawls ran from the deployed egg, not from the working tree.
    assert all(p and str(tmp_path / "scrapyd" / "logs") in p for p in log_paths)
    assert "Spider closed (finished)" in Path(log_paths[0]).read_text()

    # A Scrapyd crawl killed with SIGKILL is reported failed on the next status read.
    sim.set_faults(latency_ms=400)
    with TestClient(create_app(config, conninfo=db, launcher_factory=launcher)) as client:
        started = client.post("/scrape/" + CITY).json()
        deadline = time.monotonic() + 30
        while len(pids := running_pids(scrapyd)) < len(SOURCES):
            assert time.monotonic() < deadline, "Scrapyd never ran the crawl"
            time.sleep(0.2)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        status = poll_until_done(client, timeout=30)
    assert status["run_id"] == started["run_id"]
    assert status["status"] == "failed"
    assert all(s["status"] == "failed" for s in status["sources"])
    assert "exited without recording an outcome" in status["error"] or "ended" in status["error"]


def running_pids(scrapyd: str) -> list[int]:
    jobs = httpx.get(f"{scrapyd}/listjobs.json", params={"project": "nocturne"}).json()
    return [j["pid"] for j in jobs["running"] if j.get("pid")]
