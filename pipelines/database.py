"""Which database the pipelines write to."""

from __future__ import annotations

from scrapy.crawler import Crawler

from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url


def store_conninfo(crawler: Crawler) -> str:
    """The `NOCTURNE_DATABASE_URL` setting when given (tests, benchmarks), else Nocturne's own."""
    override = crawler.settings.get("NOCTURNE_DATABASE_URL")
    return override or database_url(Config.from_env())
