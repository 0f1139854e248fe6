"""Scrapy's HTTP/1.1 download handler, keeping more idle connections per host.

Scrapy's handler keeps at most CONCURRENT_REQUESTS_PER_DOMAIN idle connections per host.
A crawl that issues the next request the moment a response ends (Luma's detail pages,
two at a time next to the feed) asks for a connection just before the previous one goes
back to the pool, opens a new one, and the pool then closes the surplus: about every
other request paid a new TCP (on the real sites, TLS) connection. Keeping a few more idle
connections ends that churn; how many requests run at once is unchanged (that is the
download slots' concurrency, not the pool's size).
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler


def keep_idle_connections(handler: Any, settings: Any) -> None:
    """Let `handler`'s connection pool keep NOCTURNE_KEEPALIVE_PER_HOST idle connections."""
    pool = getattr(handler, "_pool", None)
    keep = settings.getint("NOCTURNE_KEEPALIVE_PER_HOST", 0)
    if pool is not None and keep > pool.maxPersistentPerHost:
        pool.maxPersistentPerHost = keep


class KeepAliveDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        keep_idle_connections(self, crawler.settings)
