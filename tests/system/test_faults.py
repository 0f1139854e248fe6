"""Faults, nothing lost: after each fault and the system's own recovery (or the one command
the README names), the database holds exactly the simulator's events.

Everything is real: crawls are `scrapy crawl` processes against the local site simulator
(a stand-in for Eventbrite, Meetup and Luma speaking their real response shapes), writing
to real PostgreSQL. "Exactly" is checked link by link against the simulator's truth:
every event once (an event two sites list, which the dedupe step merges, once for both),
with its title, local date and time, active, and no row that is not in the truth.
Each scenario leaves a line in the suite's table (tests/system/report.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.crawlruns import process_alive
from nocturne_crawl.simulator import Simulator, start_simulator
from tests.support.databases import create_database, drop_database
from tests.support.live_app import free_port
from tests.system import report
from tests.system.faults_support import (
    FAST_SETTINGS,
    SOURCES,
    Comparison,
    CrawlResult,
    compare,
    count_rows,
    crawl_env,
    expected_events,
    run_crawls,
    start_crawl,
    wait_until,
)

pytestmark = pytest.mark.slow

LA, NY = "ca--los-angeles", "ny--new-york"
CITIES = (LA, NY)
SEED = 8
EVENTS = 40  # per source and city: several pages on every source
RETRY_TIMES = 4  # the project's setting: a request is tried 1 + 4 times


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with start_simulator(seed=SEED, events_per_city=EVENTS, cities=CITIES) as sim:
        yield sim


@pytest.fixture
def fault_db(pg_admin: str) -> Iterator[str]:
    """A fresh migrated database of its own: crawl processes write into it."""
    uri = create_database(pg_admin, prefix="nocturne_faults")
    yield uri
    drop_database(pg_admin, uri)


def _record(name: str, final: list[Comparison], recovery: str, **numbers: object) -> None:
    """The scenario's line in the suite's table, from the comparisons after recovery."""
    exact = all(c.exact for c in final)
    report.record(
        category="fault",
        name=name,
        outcome="survived" if exact else "FAILED",
        lost=sum(len(c.lost) for c in final),
        duplicated=sum(c.surplus for c in final),
        wrong=sum(len(c.mismatched) + len(c.cancelled) for c in final),
        recovery=recovery,
        **numbers,
    )


def _faults(simulator: Simulator, *rules: dict, latency_ms: int | None = None) -> None:
    """Replace the simulator's fault rules, its fault counters starting again from zero."""
    simulator.clear_faults()
    simulator.reset_stats()
    simulator.set_faults(*rules, latency_ms=latency_ms)


def _total(results: list[CrawlResult], key: str) -> int:
    return sum(r.stat(key) for r in results)


def _all_finished(results: list[CrawlResult]) -> None:
    for result in results:
        assert result.returncode == 0 and result.finish_reason == "finished", result.describe()


def _cancelled(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE status <> 'active'").fetchone()[0]


# -- 1. a source answering 500 / 429 / timeouts for a while --------------------------------


def test_errors_and_timeouts_for_a_while_recovered_by_retries(simulator, fault_db):
    expected = expected_events(simulator, SOURCES, CITIES)
    url = simulator.url
    short_timeout = {"DOWNLOAD_TIMEOUT": 1}

    # A page lost past the retries (5 answers 500 in a row): Meetup's page 2 for New York.
    _faults(
        simulator, {"kind": "500", "source": "meetup", "path": "/gql2", "count": RETRY_TIMES + 1}
    )
    [partial] = run_crawls(url, fault_db, [("meetup", NY)])
    _all_finished([partial])
    assert partial.stat("retry/max_reached") == 1, partial.describe()
    assert partial.stat("nocturne/source_errors") == 1, partial.describe()
    stored_partial = count_rows(fault_db, NY, "meetup")
    assert 0 < stored_partial < EVENTS
    assert _cancelled(fault_db) == 0

    # Every source misbehaves for a while (each fault fires twice in all), all cities
    # crawled at once: Scrapy's retries ride it out within the same crawls, and the
    # re-run of Meetup/New York completes what the lost page left out.
    _faults(
        simulator,
        {"kind": "500", "source": "eventbrite", "count": 2},
        {"kind": "429", "source": "meetup", "count": 2, "retry_after": 1},
        {"kind": "timeout", "source": "luma", "count": 2, "latency_ms": 3000},
    )
    results = run_crawls(
        url, fault_db, [(s, c) for c in CITIES for s in SOURCES], settings=short_timeout
    )
    _all_finished(results)
    fired = simulator.stats()["faults"]
    assert fired == {"500": 2, "429": 2, "timeout": 2}
    assert _total(results, "retry/count") == 6, [r.describe() for r in results]
    assert _total(results, "nocturne/source_errors") == 0, [r.describe() for r in results]
    recovered = compare(fault_db, expected)

    # Pages lost past the retries again, on cities already stored: what the crawls did not
    # reach stays as it was (a partial crawl never marks events cancelled).
    _faults(
        simulator,
        {"kind": "500", "source": "meetup", "path": "/gql2", "count": RETRY_TIMES + 1},
        {"kind": "500", "source": "eventbrite", "count": RETRY_TIMES + 1},
    )
    lossy = run_crawls(url, fault_db, [("meetup", LA), ("eventbrite", NY)])
    _all_finished(lossy)
    assert _total(lossy, "nocturne/source_errors") == 2, [r.describe() for r in lossy]
    after_loss = compare(fault_db, expected)

    _record(
        "source 500/429/timeouts, then pages lost past retries",
        [recovered, after_loss],
        "automatic (retries); a page lost past them: re-run the crawl",
        faults=sum(fired.values()),
        retries=_total(results, "retry/count"),
        missing_before_rerun=EVENTS - stored_partial,
    )
    assert recovered.exact, recovered.summary()
    assert after_loss.exact, after_loss.summary()
    assert after_loss.stored == recovered.stored


# -- 2. malformed and truncated payloads on some pages -------------------------------------


def test_malformed_and_truncated_pages_counted_and_completed_by_a_rerun(simulator, fault_db):
    la = expected_events(simulator, ["eventbrite"], [LA])
    ny = expected_events(simulator, SOURCES, [NY])
    url = simulator.url
    [first] = run_crawls(url, fault_db, [("eventbrite", LA)])
    _all_finished([first])
    assert compare(fault_db, la).exact

    # Eventbrite's first page broken for both cities (Los Angeles already stored), Meetup's
    # page 2 cut in half, Luma's feed broken: every damaged page is counted as an error,
    # never crashes a crawl, never downgrades or cancels what is stored.
    _faults(
        simulator,
        {"kind": "malformed", "source": "eventbrite", "count": 2},
        {"kind": "truncated", "source": "meetup", "path": "/gql2", "count": 1},
        {"kind": "malformed", "source": "luma", "path": "/discover", "count": 1},
    )
    damaged = run_crawls(url, fault_db, [("eventbrite", LA), *((s, NY) for s in SOURCES)])
    _all_finished(damaged)
    fired = simulator.stats()["faults"]
    assert fired == {"malformed": 3, "truncated": 1}
    errored_pages = _total(damaged, "nocturne/source_errors")
    assert errored_pages == 4, [r.describe() for r in damaged]
    la_after_damage = compare(fault_db, la)
    ny_after_damage = compare(fault_db, ny)
    assert ny_after_damage.lost and not ny_after_damage.cancelled, ny_after_damage.summary()

    # The documented recovery: run the crawls again.
    _faults(simulator)
    rerun = run_crawls(url, fault_db, [("eventbrite", LA), *((s, NY) for s in SOURCES)])
    _all_finished(rerun)
    la_final, ny_final = compare(fault_db, la), compare(fault_db, ny)

    _record(
        "malformed/truncated pages",
        [la_after_damage, la_final, ny_final],
        "re-run the crawl",
        faults=sum(fired.values()),
        errored_pages=errored_pages,
        missing_before_rerun=len(ny_after_damage.lost),
    )
    assert la_after_damage.exact, la_after_damage.summary()
    assert la_final.exact, la_final.summary()
    assert ny_final.exact, ny_final.summary()


# -- 3. the crawl process killed with SIGKILL mid-run ---------------------------------------


def _crawl_runs(database_url: str, city: str) -> list[tuple[str, str, str, str | None]]:
    """(job_id, spider, status, error) of the city's crawl records, oldest first."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT job_id, spider, status, error FROM crawl_runs WHERE city = %s"
            " ORDER BY created_at, job_id",
            (city,),
        ).fetchall()


def test_crawl_killed_mid_run_marked_failed_then_the_next_run_completes(
    simulator, fault_db, tmp_path
):
    expected = expected_events(simulator, ["luma"], [LA])
    # Slow answers and a narrow details slot: the crawl takes seconds, rows arrive batch
    # by batch (one flush a second), so the kill lands with part of the city stored.
    _faults(simulator, latency_ms=300)
    slow = {"LUMA_DETAILS_CONCURRENCY": 2}
    running = start_crawl(simulator.url, fault_db, "luma", LA, tmp_path, settings=slow)
    try:
        wait_until(lambda: count_rows(fault_db, LA) >= 5, 60, "the first stored rows")
    finally:
        running.kill()
    killed = running.wait(timeout=10)
    assert killed.returncode == -9
    assert "Spider closed" not in killed.log  # no close hook ran
    stored_at_kill = count_rows(fault_db, LA)
    assert 0 < stored_at_kill < EVENTS
    assert _cancelled(fault_db) == 0
    [(killed_job, _, status, _)] = _crawl_runs(fault_db, LA)
    assert status == "running"  # nobody left to say otherwise, yet

    # The documented recovery: crawl the city again (`nocturne crawl`, like the API's
    # POST /scrape and the scheduler, goes through the launcher, which first sweeps dead
    # jobs: a recorded pid that is gone).
    _faults(simulator)
    env = crawl_env(simulator.url, fault_db, NOCTURNE_DATA_DIR=str(tmp_path / "data"))
    options = [f"{k}={v}" for k, v in FAST_SETTINGS.items()]
    rerun = _nocturne(
        ["crawl", LA, "--source", "luma", "--timeout", "120", "-q"]
        + [arg for option in options for arg in ("-s", option)],
        env,
        timeout=150,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    runs = {job: (status, error) for job, _, status, error in _crawl_runs(fault_db, LA)}
    final = compare(fault_db, expected)
    _record(
        "crawl process SIGKILLed mid-run",
        [final],
        "re-run the crawl (nocturne crawl / POST /scrape)",
        stored_at_kill=stored_at_kill,
        killed_run=runs[killed_job][0],
    )
    assert final.exact, final.summary()
    assert runs[killed_job][0] == "failed"
    assert "exited without recording an outcome" in runs[killed_job][1]
    assert [status for job, (status, _) in runs.items() if job != killed_job] == ["finished"]


# -- 4. PostgreSQL restarted mid-crawl --------------------------------------------------------


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    """An embedded PostgreSQL of this test's own (its data under tmp_path), to restart."""
    server = OwnPostgres(tmp_path / "pgdata")
    try:
        yield server
    finally:
        server.close()


class OwnPostgres:
    """pgserver's PostgreSQL in a data folder of its own, restartable with its pg_ctl."""

    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self.pgdata = pgdata
        self.server = pgserver.get_server(pgdata, cleanup_mode="delete")

    @property
    def admin_uri(self) -> str:
        return self.server.get_uri()

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server comes back."""
        import pgserver

        # As root, pgserver runs PostgreSQL as its own `pgserver` user: so does pg_ctl.
        pgserver.pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def close(self) -> None:
        self.server.cleanup()


def test_postgres_restarted_mid_crawl_batches_retried(simulator, own_postgres, tmp_path):
    database = create_database(own_postgres.admin_uri, prefix="nocturne_restart")
    expected = expected_events(simulator, ["luma"], [LA])
    _faults(simulator, latency_ms=300)
    slow = {"LUMA_DETAILS_CONCURRENCY": 2}
    running = start_crawl(simulator.url, database, "luma", LA, tmp_path, settings=slow)
    try:
        wait_until(lambda: count_rows(database, LA) >= 5, 60, "the first stored rows")
        stored_before = count_rows(database, LA)
        own_postgres.restart()
        result = running.wait(timeout=120)
    finally:
        running.kill()
    _all_finished([result])
    assert stored_before < EVENTS
    # The crawl did meet the restart: at least one batch failed and was kept for retry.
    assert result.stat("nocturne/db_errors") >= 1, result.describe()
    assert result.stat("nocturne/dropped/db_unavailable") == 0, result.describe()
    final = compare(database, expected)
    # The run's own record survived the restart too (its heartbeat reconnects).
    assert [status for _, _, status, _ in _crawl_runs(database, LA)] == ["finished"]
    _record(
        "PostgreSQL restarted mid-crawl",
        [final],
        "automatic (failed batches kept and retried)",
        db_errors=result.stat("nocturne/db_errors"),
        stored_before_restart=stored_before,
    )
    assert final.exact, final.summary()


# -- 5. the shared (Supabase) database unreachable for a while -------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nocturne(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("nocturne")), *args]
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


MIRRORED_SQL = """
    SELECT link, title, date::text, to_char(time, 'HH24:MI'), status, updated_at
      FROM events ORDER BY link"""


def test_shared_database_down_then_back_sync_catches_up(simulator, fault_db, pg_admin):
    """The shared database is a second real PostgreSQL database (the direct transport,
    `SUPABASE_DB_URL`), standing in for Supabase's; "down" is a loopback port nobody
    listens on."""
    shared = create_database(pg_admin, prefix="nocturne_shared")
    try:
        expected = expected_events(simulator, ["eventbrite", "meetup"], [LA])
        down = psycopg.conninfo.make_conninfo(
            shared, host="127.0.0.1", port=str(_closed_port()), password="not-a-secret-kept"
        )
        quick = {"SYNC_RETRIES": "2", "SYNC_TIMEOUT_SECONDS": "2"}
        [while_down] = run_crawls(
            simulator.url, fault_db, [("eventbrite", LA)], env={"SUPABASE_DB_URL": down, **quick}
        )
        _all_finished([while_down])
        assert while_down.stat("nocturne/synced") == 0, while_down.describe()
        assert while_down.stat("nocturne/sync_failed") > 0, while_down.describe()
        with psycopg.connect(fault_db) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM events WHERE synced_at IS NULL"
            ).fetchone()[0]
        assert pending == count_rows(fault_db) > 0

        # Back: the next crawl mirrors its own rows; `nocturne sync` sends the backlog.
        [while_up] = run_crawls(
            simulator.url, fault_db, [("meetup", LA)], env={"SUPABASE_DB_URL": shared, **quick}
        )
        _all_finished([while_up])
        assert while_up.stat("nocturne/synced") > 0, while_up.describe()
        env = crawl_env(simulator.url, fault_db, SUPABASE_DB_URL=shared)
        sync = _nocturne(["sync", "--no-pull"], env)
        assert sync.returncode == 0, sync.stdout + sync.stderr

        with psycopg.connect(fault_db) as conn:
            still_pending = conn.execute(
                "SELECT count(*) FROM events WHERE synced_at IS NULL"
            ).fetchone()[0]
            local = conn.execute(MIRRORED_SQL).fetchall()
        with psycopg.connect(shared) as conn:
            remote = conn.execute(MIRRORED_SQL).fetchall()
        local_check = compare(fault_db, expected)
        _record(
            "shared database unreachable, then back",
            [local_check],
            "nocturne sync",
            pending_while_down=pending,
            pending_after_sync=still_pending,
            shared_rows=len(remote),
        )
        assert local_check.exact, local_check.summary()
        assert still_pending == 0
        assert set(remote) - set(local) == set() and set(local) - set(remote) == set()
        assert len(remote) == len(local) == local_check.stored
        # Nothing of the unreachable URL's password reached the logs.
        assert "not-a-secret-kept" not in while_down.log
    finally:
        drop_database(pg_admin, shared)


# -- 6. the app restarted during a crawl ----------------------------------------------------


class App:
    """`nocturne run` as its own process on a loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("nocturne")), "run"],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                return httpx.get(f"{self.url}/cities", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout, "the app to answer", interval=0.2)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not exited within 10 s; its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def _crawl_pids(database_url: str, run_id: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM crawl_runs WHERE run_id = %s AND pid IS NOT NULL", (run_id,)
        ).fetchall()
    return [pid for (pid,) in rows]


def _alive(pid: int) -> bool:
    return process_alive(pid)  # a zombie (exited, not yet reaped) counts as gone


def _run_over(app: App, city: str, run_id: str, timeout: float) -> dict:
    def over() -> dict | None:
        body = httpx.get(f"{app.url}/scrape/{city}", timeout=5).json()
        assert body["run_id"] == run_id, body
        return body if body["status"] in ("finished", "failed") else None

    return wait_until(over, timeout, f"the crawl of {city} to end", interval=0.5)


def test_app_restarted_during_a_crawl(simulator, fault_db, tmp_path):
    """The app is stopped (SIGTERM, then SIGKILL if it lingers) while one of the city's
    crawls runs and two wait in its queue (CRAWL_CONCURRENCY=1), and started again: the
    running crawl finishes on its own, the queued ones are reported failed, and a new POST
    completes the set."""
    expected = expected_events(simulator, SOURCES, [LA])
    _faults(simulator, latency_ms=100)  # the crawl lasts seconds, long enough to restart
    env = crawl_env(
        simulator.url,
        fault_db,
        PORT=str(free_port()),
        HOST="127.0.0.1",
        NOCTURNE_DATA_DIR=str(tmp_path / "data"),
        NOCTURNE_SCHEDULER="off",
        SCRAPE_COOLDOWN_SECONDS="1",
        CRAWL_CONCURRENCY="1",
        LUMA_DETAILS_DELAY="0.05",
    )
    app = App(env, tmp_path / "app.log")
    pids: list[int] = []
    try:
        app.start()
        started = httpx.post(f"{app.url}/scrape/{LA}", timeout=10)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        wait_until(lambda: _crawl_pids(fault_db, run_id), 60, "a crawl process to start")
        pids = _crawl_pids(fault_db, run_id)
        exit_code = app.stop()
        survivors = sum(_alive(pid) for pid in pids)
        assert count_rows(fault_db, LA) < len(expected.groups)  # the crawl was mid-way

        app.start()
        first = _run_over(app, LA, run_id, 120)
        recovery = "crawls finished on their own"
        if first["status"] != "finished" or not compare(fault_db, expected).exact:
            recovery = "a new POST /scrape"
            wait_until(lambda: not any(_alive(p) for p in pids), 60, "the old crawls to end")
            again = wait_until(
                lambda: (
                    (r := httpx.post(f"{app.url}/scrape/{LA}", timeout=10)).status_code == 202 and r
                ),
                30,
                "a new crawl to be accepted",
                interval=1,
            )
            second = _run_over(app, LA, again.json()["run_id"], 120)
            assert second["status"] == "finished", second
        final = compare(fault_db, expected)
        with psycopg.connect(fault_db) as conn:
            stuck = conn.execute(
                "SELECT count(*) FROM crawl_runs WHERE status IN ('queued', 'running')"
            ).fetchone()[0]
        _record(
            "app restarted during a crawl",
            [final],
            recovery,
            crawls_alive_after_app_exit=survivors,
            app_exit=exit_code,
            first_run=",".join(f"{j['spider']}:{j['status']}" for j in first["sources"]),
        )
        assert final.exact, final.summary()
        assert stuck == 0
    finally:
        app.stop()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
