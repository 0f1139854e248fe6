"""Scheduled crawls (and other periodic jobs) on APScheduler 3.x, one acting instance at a time.

Every app worker (and `nocturne schedule`) may run a scheduler; all their triggers fire, but
a job only acts in the instance holding a PostgreSQL session advisory lock (`LeaderLock`).
When that instance dies its connection closes, the lock is released, and the next firing
elsewhere takes it over.

The crawl job fires on `CRAWL_CRON` (UTC) and starts each catalog city
`CRAWL_STAGGER_SECONDS` after the previous one, so the sites are not hit all at once.

Other features add their jobs in `scheduled_jobs()` (one line each), or pass `jobs=` to
`build_scheduler`: a `ScheduledJob(id, func, trigger)` whose `func` takes no arguments.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import Config
from nocturne_crawl.digest import run_digest
from nocturne_crawl.launcher import CrawlLauncher, CrawlRefused

log = logging.getLogger(__name__)

SCHEDULER_LOCK = 7_345_007


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: Callable[[], object]
    trigger: BaseTrigger


class LeaderLock:
    """A session advisory lock on a connection of its own: whoever holds it acts."""

    def __init__(self, conninfo: str, key: int = SCHEDULER_LOCK):
        self.conninfo = conninfo
        self.key = key
        self._conn: psycopg.Connection | None = None
        self._held = False
        self._mutex = threading.Lock()

    def held(self) -> bool:
        """Whether this instance leads, taking the lock when it is free."""
        with self._mutex:
            try:
                if self._conn is None or self._conn.closed:
                    self._held = False
                    self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
                if self._held:
                    self._conn.execute("SELECT 1")  # still connected means still held
                else:
                    row = self._conn.execute(
                        "SELECT pg_try_advisory_lock(%s)", (self.key,)
                    ).fetchone()
                    self._held = bool(row and row[0])
            except psycopg.Error as exc:
                log.warning("scheduler lock: database unavailable (%s)", type(exc).__name__)
                self._drop()
            return self._held

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._held = False

    def release(self) -> None:
        with self._mutex:
            self._drop()


class CrawlScheduler:
    """An APScheduler `BackgroundScheduler` whose jobs act only under the leader lock."""

    def __init__(self, conninfo: str, lock_key: int = SCHEDULER_LOCK):
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True})
        self.lock = LeaderLock(conninfo, lock_key)

    def add(self, job: ScheduledJob) -> None:
        self.scheduler.add_job(
            self._exclusive(job),
            job.trigger,
            id=job.id,
            name=job.id,
            replace_existing=True,
            misfire_grace_time=300,
            max_instances=1,
        )

    def _exclusive(self, job: ScheduledJob) -> Callable[[], None]:
        def run() -> None:
            if not self.lock.held():
                log.debug("scheduled job %s: another instance leads, skipping", job.id)
                return
            log.info("scheduled job %s running", job.id)
            job.func()

        return run

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self, wait: bool = False) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.lock.release()


def crawl_all_cities(
    scheduler: CrawlScheduler,
    launcher: CrawlLauncher,
    stagger_seconds: float,
    cities: Iterable[str] | None = None,
) -> None:
    """Start every city's crawl, `stagger_seconds` apart (as one-off jobs, in the leader)."""
    now = datetime.now(UTC)
    for index, city in enumerate(cities or catalog().keys()):
        at = now + timedelta(seconds=index * stagger_seconds)
        scheduler.scheduler.add_job(
            _crawl_city,
            DateTrigger(run_date=at),
            args=(launcher, city),
            id=f"crawl:{city}",
            replace_existing=True,
            misfire_grace_time=max(300, int(stagger_seconds * 2)),
        )


def _crawl_city(launcher: CrawlLauncher, city: str) -> None:
    try:
        ticket = launcher.request(city, trigger="cron", enforce_limits=False)
    except CrawlRefused as exc:  # not raised without limits; kept for safety
        log.info("scheduled crawl of %s skipped: %s", city, exc.message)
        return
    except Exception:
        log.exception("scheduled crawl of %s could not start", city)
        return
    log.info("scheduled crawl of %s: run %s (joined=%s)", city, ticket.run_id, ticket.joined)


def scheduled_jobs(config: Config, conninfo: str) -> list[ScheduledJob]:
    """Periodic jobs of other features; add yours here (one line)."""
    return [
        ScheduledJob("digest", lambda: run_digest(config, conninfo), _cron(config.digest_cron)),
    ]


def _cron(expression: str) -> CronTrigger:
    return CronTrigger.from_crontab(expression, timezone=UTC)


def build_scheduler(
    config: Config,
    conninfo: str,
    launcher: CrawlLauncher | None,
    *,
    jobs: Iterable[ScheduledJob] = (),
    crawl_trigger: BaseTrigger | None = None,
    cities: Iterable[str] | None = None,
) -> CrawlScheduler:
    """The scheduler with the crawl job (when a launcher is given) and every other job."""
    scheduler = CrawlScheduler(conninfo)
    if launcher is not None:
        trigger = crawl_trigger or CronTrigger.from_crontab(config.crawl_cron, timezone=UTC)
        city_list = list(cities) if cities is not None else None
        scheduler.add(
            ScheduledJob(
                "crawl-all",
                lambda: crawl_all_cities(
                    scheduler, launcher, config.crawl_stagger_seconds, city_list
                ),
                trigger,
            )
        )
    for job in [*scheduled_jobs(config, conninfo), *jobs]:
        scheduler.add(job)
    return scheduler
