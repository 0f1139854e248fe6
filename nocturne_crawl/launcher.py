"""`CrawlLauncher`: start a city's crawl (one job per source) at most once at a time.

Everything that starts crawls goes through `CrawlLauncher.request`: the API, the scheduler
and `nocturne crawl`. Under a PostgreSQL advisory lock per city it either joins the city's
crawl in progress (single-flight, across app workers and hosts), refuses with a retry time
(cooldown per city, crawls per client), or queues new jobs and hands them to the backend.
The app never runs a crawl in its own process: backends start `scrapy crawl` processes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from nocturne_crawl import crawlruns
from nocturne_crawl.backends import CrawlBackend, LaunchError, ScrapydBackend, SubprocessBackend
from nocturne_crawl.cities import SOURCES
from nocturne_crawl.config import Config
from nocturne_crawl.crawlruns import Job

log = logging.getLogger(__name__)

# Advisory lock namespaces (first key); the second key is hashtext(city) / hashtext(client).
CITY_LOCK = 7_345_005
CLIENT_LOCK = 7_345_006


class CrawlRefused(Exception):
    """Too soon for another crawl: try again in `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)


@dataclass
class CrawlTicket:
    """What a crawl request got: a new run, or the city's run already in progress."""

    city: str
    run_id: str
    joined: bool
    jobs: list[dict[str, str]] = field(default_factory=list)


def make_backend(
    config: Config,
    pool: ConnectionPool,
    conninfo: str,
    env: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> CrawlBackend:
    if config.crawl_backend == "scrapyd":
        return ScrapydBackend(config.scrapyd_url, settings=settings)
    if config.crawl_backend != "subprocess":
        raise ValueError(
            f"CRAWL_BACKEND must be subprocess or scrapyd, not {config.crawl_backend!r}"
        )
    return SubprocessBackend(
        pool,
        conninfo,
        config.logs_dir,
        config.crawl_concurrency,
        env=env,
        settings=settings,
        secrets=config.secrets(),
        prefork=config.crawl_prefork,
    )


class CrawlLauncher:
    """Starts and watches crawls. `spiders` are the sources crawled per city."""

    def __init__(
        self,
        config: Config,
        conninfo: str,
        *,
        spiders: tuple[str, ...] = SOURCES,
        env: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
        backend: CrawlBackend | None = None,
        pool_size: int = 4,
    ):
        self.config = config
        self.spiders = tuple(spiders)
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            open=True,
            name="crawl-launcher",
        )
        self.backend = backend or make_backend(config, self.pool, conninfo, env, settings)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- starting crawls ---------------------------------------------------------------

    def request(
        self,
        city: str,
        *,
        trigger: str,
        client: str | None = None,
        enforce_limits: bool = True,
        spiders: tuple[str, ...] | None = None,
    ) -> CrawlTicket:
        """Join the city's crawl in progress, or start one (raises `CrawlRefused`)."""
        with self.pool.connection() as conn:
            crawlruns.sweep_stale(
                conn,
                self.config.crawl_stale_seconds,
                self.config.crawl_queue_timeout_seconds,
                city=city,
            )
            with conn.transaction():
                ticket = self._claim(conn, city, trigger, client, enforce_limits, spiders)
            if ticket.joined:
                return ticket
            jobs = [
                Job(j["job_id"], ticket.run_id, city, j["spider"], trigger) for j in ticket.jobs
            ]
            try:
                self.backend.submit(jobs)
            except LaunchError as exc:
                crawlruns.fail_if_active(conn, [j.job_id for j in jobs], str(exc))
                raise
        log.info("crawl of %s started (%s, run %s)", city, trigger, ticket.run_id)
        return ticket

    def _claim(
        self,
        conn: psycopg.Connection,
        city: str,
        trigger: str,
        client: str | None,
        enforce_limits: bool,
        spiders: tuple[str, ...] | None,
    ) -> CrawlTicket:
        # Held to the end of the transaction: requests for one city, in any process on any
        # host using this database, pass here one at a time.
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (CITY_LOCK, city))
        active = conn.execute(
            """SELECT run_id FROM crawl_runs WHERE city = %s AND status IN ('queued', 'running')
               ORDER BY created_at DESC LIMIT 1""",
            (city,),
        ).fetchone()
        if active:
            jobs = crawlruns.run_jobs(conn, active[0])
            public = [
                {"job_id": j["job_id"], "spider": j["spider"], "status": j["status"]} for j in jobs
            ]
            return CrawlTicket(city, active[0], True, public)
        if enforce_limits:
            self._check_cooldown(conn, city)
            if client:
                self._check_client(conn, client)
        queued = crawlruns.queue_jobs(
            conn,
            city=city,
            spiders=spiders or self.spiders,
            trigger=trigger,
            backend=self.backend.name,
            client=client,
        )
        return CrawlTicket(city, queued[0].run_id, False, [j.public() for j in queued])

    def _check_cooldown(self, conn: psycopg.Connection, city: str) -> None:
        cooldown = self.config.scrape_cooldown_seconds
        if cooldown <= 0:
            return
        row = conn.execute(
            """SELECT extract(epoch FROM now() - max(created_at)) FROM crawl_runs
               WHERE city = %s""",
            (city,),
        ).fetchone()
        since = row[0] if row else None
        if since is not None and since < cooldown:
            wait = math.ceil(cooldown - float(since))
            raise CrawlRefused(
                f"{city} was crawled {int(since)} s ago; the next crawl can start in {wait} s",
                wait,
            )

    def _check_client(self, conn: psycopg.Connection, client: str) -> None:
        limit = self.config.scrape_client_limit
        window = self.config.scrape_client_window_seconds
        # Two requests from one client for different cities must not both take the last slot.
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (CLIENT_LOCK, client))
        starts = conn.execute(
            """SELECT extract(epoch FROM now() - min(created_at)) AS age FROM crawl_runs
               WHERE client = %s AND created_at > now() - make_interval(secs => %s)
               GROUP BY run_id ORDER BY age DESC""",
            (client, window),
        ).fetchall()
        if len(starts) >= limit:
            # The oldest start in the window leaves it first and frees a slot.
            oldest = float(starts[len(starts) - limit][0])
            wait = math.ceil(window - oldest)
            raise CrawlRefused(
                f"this client started {len(starts)} crawls in the last {window} s "
                f"(limit {limit}); try again in {wait} s",
                wait,
            )

    # -- reading state -----------------------------------------------------------------

    def sweep(self, city: str | None = None) -> int:
        """Fail dead jobs (stale heartbeat, dead pid, lost launcher, vanished Scrapyd job)."""
        with self.pool.connection() as conn:
            failed = crawlruns.sweep_stale(
                conn,
                self.config.crawl_stale_seconds,
                self.config.crawl_queue_timeout_seconds,
                city=city,
            )
            return failed + self.backend.reconcile(conn)

    def latest(self, city: str) -> dict[str, Any]:
        """The city's latest run, after sweeping its dead jobs."""
        self.sweep(city)
        with self.pool.connection() as conn:
            return crawlruns.latest_run(conn, city)

    def job(self, job_id: str) -> dict[str, Any] | None:
        self.sweep()
        with self.pool.connection() as conn:
            return crawlruns.job_detail(conn, job_id)

    def run(self, run_id: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return crawlruns.run_jobs(conn, run_id)

    def wait(self, run_ids: list[str], timeout: float, poll: float = 0.5) -> list[dict[str, Any]]:
        """Block until every job of these runs has an outcome (or the timeout); their rows."""
        deadline = time.monotonic() + timeout
        while True:
            self.sweep()
            jobs = [j for run_id in run_ids for j in self.run(run_id)]
            if all(j["status"] in ("finished", "failed") for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                return jobs
            time.sleep(poll)

    # -- lifecycle ---------------------------------------------------------------------

    def start_sweeper(self, interval: float = 30) -> None:
        """Sweep dead jobs in the background, so none stays `running` with nobody asking."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sweep()
                except Exception as exc:  # a sweep failing must not end the sweeper
                    log.warning("crawl sweeper: %s", exc)

        self._sweeper = threading.Thread(target=loop, name="crawl-sweeper", daemon=True)
        self._sweeper.start()

    def close(self, cancel_running: bool = False, timeout: float = 30) -> None:
        """Stop the sweeper and the backend; running crawls go on unless cancelled."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        self.backend.close(cancel_running=cancel_running, timeout=timeout)
        self.pool.close()
