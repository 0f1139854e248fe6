"""`CrawlRunRecorder`: the Scrapy extension that records each crawl in `crawl_runs`.

It runs inside the crawl process, so a crawl is recorded wherever it runs: started by the
launcher, by Scrapyd, or by hand with `scrapy crawl`. The job id comes from the launcher
(`-s NOCTURNE_JOB_ID=...`), from Scrapyd (the `_job` spider argument / `SCRAPY_JOB`), or
is made up for a plain `scrapy crawl`. Database trouble is logged and never stops a crawl.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import psycopg
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from nocturne_crawl import crawlruns, health
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TRIGGERS = ("api", "cron", "cli")


class CrawlRunRecorder:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        if not settings.getbool("NOCTURNE_RECORD_RUNS", True):
            raise NotConfigured("NOCTURNE_RECORD_RUNS is off")
        self.crawler = crawler
        self.heartbeat_seconds = settings.getfloat("NOCTURNE_HEARTBEAT_SECONDS", 5.0)
        trigger = settings.get("NOCTURNE_TRIGGER") or "cli"
        self.trigger = trigger if trigger in TRIGGERS else "cli"
        self.job_id: str | None = settings.get("NOCTURNE_JOB_ID") or None
        self.run_id: str | None = settings.get("NOCTURNE_RUN_ID") or None
        self.backend: str = settings.get("NOCTURNE_BACKEND") or "manual"
        self.log_path: str | None = settings.get("NOCTURNE_LOG_PATH") or settings.get("LOG_FILE")
        # The pipelines' override (tests, benchmarks) applies to the run record too.
        self.conninfo_override: str | None = settings.get("NOCTURNE_DATABASE_URL") or None
        self.conn: psycopg.Connection | None = None
        self.beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        recorder = cls(crawler)
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def _resolve_job(self, spider: Spider) -> None:
        scrapyd_job = getattr(spider, "_job", None) or os.environ.get("SCRAPY_JOB")
        if not self.job_id and scrapyd_job:
            self.job_id = str(scrapyd_job)
            if self.backend == "manual":
                self.backend = "scrapyd"
        self.job_id = self.job_id or crawlruns.new_id()
        self.run_id = self.run_id or self.job_id

    def _connect(self) -> psycopg.Connection | None:
        try:
            return psycopg.connect(
                database_url(Config.from_env()), autocommit=True, connect_timeout=10
            )
        except Exception as exc:  # never let bookkeeping stop a crawl
            log.error("crawl run not recorded: database unavailable (%s)", type(exc).__name__)
            return None

    def spider_opened(self, spider: Spider) -> None:
        self._resolve_job(spider)
        self.conn = self._connect()
        if self.conn is None:
            return
        try:
            crawlruns.mark_running(
                self.conn,
                job_id=self.job_id,
                run_id=self.run_id,
                city=_city_id(spider),
                spider=spider.name,
                trigger=self.trigger,
                backend=self.backend,
                log_path=self.log_path,
            )
        except psycopg.Error as exc:
            log.error("crawl run not recorded: %s", exc)
            return
        log.info("crawl run %s (run %s) recorded as running", self.job_id, self.run_id)
        self.beat = task.LoopingCall(self._heartbeat)
        self.beat.start(self.heartbeat_seconds, now=False)

    def _stats(self) -> dict[str, Any]:
        return dict(self.crawler.stats.get_stats()) if self.crawler.stats else {}

    def _heartbeat(self) -> None:
        if self.conn is None:
            return
        try:
            crawlruns.heartbeat(self.conn, self.job_id, crawlruns.stat_counts(self._stats()))
        except psycopg.Error as exc:
            log.warning("crawl run heartbeat failed: %s", type(exc).__name__)
            self._reconnect()

    def _reconnect(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()
        self.conn = self._connect()

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.beat is not None and self.beat.running:
            self.beat.stop()
        if self.conn is None or self.conn.closed:
            self._reconnect()
        if self.conn is None:
            return
        self._note_cpu()
        stats = self._stats()
        outcome = crawlruns.crawl_outcome(stats, reason)
        try:
            try:
                crawlruns.mark_done(self.conn, self.job_id, outcome, reason, stats)
            except psycopg.OperationalError:
                # The connection died since the last heartbeat (a database restart): one
                # new connection, or the sweep would later call this finished run failed.
                self._reconnect()
                if self.conn is None:
                    return
                crawlruns.mark_done(self.conn, self.job_id, outcome, reason, stats)
            log.info(
                "crawl run %s %s: %s", self.job_id, outcome.status, outcome.error or outcome.counts
            )
            self._record_health(spider, stats)
        except psycopg.Error as exc:
            log.error("crawl run outcome not recorded: %s", exc)
        finally:
            if self.conn is not None:
                self.conn.close()

    def _note_cpu(self) -> None:
        """`nocturne/cpu_seconds`: the CPU this crawl process used (user + system)."""
        if resource is None or self.crawler.stats is None:
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.crawler.stats.set_value(
            "nocturne/cpu_seconds", round(usage.ru_utime + usage.ru_stime, 3)
        )

    def _record_health(self, spider: Spider, stats: dict[str, Any]) -> None:
        """Field coverage and item count against earlier runs: the site-changed warning."""
        found = health.assess(self.conn, _city_id(spider), spider.name, self.job_id, stats)
        crawlruns.mark_health(self.conn, self.job_id, found)
        if found.status == "degraded":
            log.warning(
                "crawl health degraded for %s %s: %s",
                spider.name,
                _city_id(spider),
                "; ".join(found.notes),
            )


def _city_id(spider: Spider) -> str:
    """The catalog id of the spider's city, whether the spider keeps an id or a `City`."""
    city = getattr(spider, "city", None)
    city_id = getattr(city, "id", city)
    return str(city_id) if city_id else "unknown"
