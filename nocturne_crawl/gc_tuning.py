"""The garbage collector of a crawl process, set for what a crawl allocates.

A crawl allocates many short-lived objects per response and per item (dicts, tuples,
the dedupe step's listings), few of them in reference cycles. With CPython's default
first threshold (700 container allocations) the young generation is collected every few
items, and each full collection walks everything the process has loaded. When the spider
opens, this extension freezes what is loaded by then (modules, settings, the spider:
never garbage, so never walked again) and raises the first threshold to
NOCTURNE_GC_THRESHOLD (50,000; 0 leaves the collector alone). When the last open spider
closes, both are undone. `make bench ONLY=pipeline` measures the difference.
"""

from __future__ import annotations

import gc

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

DEFAULT_THRESHOLD = 50_000
# Crawls of one process (several crawlers in one CrawlerProcess) share the collector.
_open_spiders = 0
_saved_thresholds: tuple[int, ...] | None = None


def tune(threshold: int) -> None:
    """Freeze what is loaded and raise the first threshold (nested calls count)."""
    global _open_spiders, _saved_thresholds
    _open_spiders += 1
    if _open_spiders == 1:
        _saved_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(threshold, *_saved_thresholds[1:])


def untune() -> None:
    """Undo `tune` when its last caller is done."""
    global _open_spiders, _saved_thresholds
    if _open_spiders == 0:
        return
    _open_spiders -= 1
    if _open_spiders == 0 and _saved_thresholds is not None:
        gc.set_threshold(*_saved_thresholds)
        gc.unfreeze()
        _saved_thresholds = None


class CollectorTuning:
    """Scrapy extension: `tune` at spider_opened, `untune` at spider_closed."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.tuned = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CollectorTuning:
        threshold = crawler.settings.getint("NOCTURNE_GC_THRESHOLD", DEFAULT_THRESHOLD)
        if threshold <= 0:
            raise NotConfigured("NOCTURNE_GC_THRESHOLD is 0")
        extension = cls(threshold)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        if not self.tuned:
            self.tuned = True
            tune(self.threshold)

    def spider_closed(self, spider: Spider) -> None:
        if self.tuned:
            self.tuned = False
            untune()
