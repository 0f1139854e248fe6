"""Step 4: mirror committed rows to the shared (Supabase) database, off the item path.

The store announces each committed batch (`events_stored`); this step hands those links
to a small thread pool that reads the rows, pushes them in parallel batches with retries
and marks `synced_at` for what the shared side confirmed. Items never wait for the
network. At spider close it waits (bounded) for the batches in flight, then deletes on
the shared side the links deleted here (rows the dedupe merged away); whatever did not
get through keeps `synced_at` null (or its tombstone) for `nocturne sync`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from nocturne_crawl.config import Config
from nocturne_crawl.mirror import Mirror, shared_transport
from pipelines.database import store_conninfo
from pipelines.signals import events_stored

log = logging.getLogger(__name__)
_said_unconfigured = False


def _say_unconfigured_once() -> None:
    global _said_unconfigured
    if not _said_unconfigured:
        _said_unconfigured = True
        log.info(
            "supabase mirror: not configured (set SUPABASE_DB_URL, or SUPABASE_URL and "
            "SUPABASE_KEY); events stay local"
        )


class SupabaseMirrorPipeline:
    """Mirrors what the store committed; a no-op when no shared database is configured."""

    def __init__(self, crawler: Crawler, mirror: Mirror | None, close_timeout: float) -> None:
        self.stats = crawler.stats
        self.mirror = mirror
        self.close_timeout = close_timeout
        self.futures: list[Future] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SupabaseMirrorPipeline:
        s = crawler.settings
        config = Config.from_env()
        overrides = {
            name: s.get(f"NOCTURNE_{name.upper()}")
            for name in ("supabase_url", "supabase_key", "supabase_db_url")
            if s.get(f"NOCTURNE_{name.upper()}") is not None
        }
        if s.get("NOCTURNE_SYNC_TIMEOUT_SECONDS") is not None:
            overrides["timeout"] = s.getfloat("NOCTURNE_SYNC_TIMEOUT_SECONDS")
        transport = shared_transport(config, **overrides)
        mirror = None
        if transport is None:
            _say_unconfigured_once()
        else:
            mirror = Mirror(
                store_conninfo(crawler),
                transport,
                batch_size=s.getint("NOCTURNE_SYNC_BATCH_SIZE", config.sync_batch_size),
                concurrency=s.getint("NOCTURNE_SYNC_CONCURRENCY", config.sync_concurrency),
                retries=s.getint("NOCTURNE_SYNC_RETRIES", config.sync_retries),
                backoff=s.getfloat("NOCTURNE_SYNC_BACKOFF_SECONDS", 0.25),
            )
        pipe = cls(crawler, mirror, s.getfloat("NOCTURNE_SYNC_CLOSE_TIMEOUT", 60.0))
        if mirror is not None:
            crawler.signals.connect(pipe.rows_stored, signal=events_stored)
            # spider_closed comes after every pipeline's close_spider (the store's last
            # flush) and after the store's own spider_closed (vanished marking).
            crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        return pipe

    # No process_item: the work is per committed batch (rows_stored), so items do not
    # pass through this step at all (each step costs Scrapy's pipeline manager per item).

    def rows_stored(self, links: list[str]) -> None:
        assert self.mirror is not None
        self.futures = [f for f in self.futures if not f.done()]
        self.futures += self.mirror.submit_links(links)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.mirror is not None
        _, late = wait_futures(self.futures, timeout=self.close_timeout)
        if late:
            log.warning("mirror: %d batches still running at close, left for sync", len(late))
            for future in late:
                future.cancel()
        else:
            # Rows this run merged away (dedupe) go on the shared side too, after its pushes.
            try:
                self.mirror.push_deletions()
            except Exception as exc:  # the local database: the tombstones wait for sync
                log.warning("mirror: deletions not sent: %s", type(exc).__name__)
        counts = self.mirror.counts
        self.stats.set_value("nocturne/synced", counts.pushed)
        self.stats.set_value("nocturne/sync_failed", counts.failed)
        self.stats.set_value("nocturne/sync_deleted", counts.deleted)
        log.info("mirror: %d rows confirmed, %d left pending", counts.pushed, counts.failed)
        self.mirror.close()
