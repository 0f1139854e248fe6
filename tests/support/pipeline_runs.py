"""Items through the project's real pipeline chain (Scrapy's ItemPipelineManager)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from scrapy import Spider, signals
from scrapy.exceptions import DropItem
from scrapy.pipelines import ItemPipelineManager
from scrapy.utils.test import get_crawler

from nocturne_crawl import settings as project_settings
from nocturne_crawl.items import EventItem

_counter = itertools.count(1)


def make_item(**fields: Any) -> EventItem:
    """A valid Los Angeles Eventbrite item, two days ahead, with `fields` overriding."""
    n = next(_counter)
    defaults: dict[str, Any] = {
        "title": f"Warehouse Night {n}",
        "link": f"https://www.eventbrite.com/e/warehouse-night-{n}",
        "source": "eventbrite",
        "city": "ca--los-angeles",
        "starts_at": datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=2),
        "timezone": "America/Los_Angeles",
        "location": f"Hall {n}, 100 Main St, Los Angeles",
        "description": "<p>Doors at <b>9</b> &amp; late</p>",
        "latitude": 34.05 + n * 0.01,
        "longitude": -118.24,
        "source_id": str(n),
    }
    defaults.update(fields)
    return EventItem(**defaults)


class NullSpider(Spider):
    name = "eventbrite"
    city = "ca--los-angeles"


class PipelineRun:
    """One crawl's worth of pipelines: open, feed items, close with a finish reason."""

    def __init__(self, settings: dict[str, Any]) -> None:
        merged = {
            "ITEM_PIPELINES": project_settings.ITEM_PIPELINES,
            "NOCTURNE_DB_FLUSH_SECONDS": 60.0,
            **settings,
        }
        self.crawler = get_crawler(NullSpider, merged)
        self.crawler.spider = NullSpider.from_crawler(self.crawler)
        self.stats = self.crawler.stats
        self.manager = ItemPipelineManager.from_crawler(self.crawler)
        self.passed: list[Any] = []
        self.dropped: list[str] = []

    def pipeline(self, cls_name: str) -> Any:
        return next(mw for mw in self.manager.middlewares if type(mw).__name__ == cls_name)

    async def open(self) -> PipelineRun:
        self.stats.open_spider()
        self.crawler.signals.send_catch_log(signals.spider_opened, spider=self.crawler.spider)
        await self.manager.open_spider_async()
        return self

    async def feed(self, items: list[Any]) -> None:
        for item in items:
            try:
                self.passed.append(await self.manager.process_item_async(item))
            except DropItem as exc:
                self.dropped.append(str(exc))

    async def close(self, reason: str = "finished") -> dict[str, Any]:
        await self.manager.close_spider_async()
        self.crawler.signals.send_catch_log(
            signals.spider_closed, spider=self.crawler.spider, reason=reason
        )
        return self.stats.get_stats()


async def run_items(items: list[Any], settings: dict[str, Any], reason: str = "finished"):
    run = await PipelineRun(settings).open()
    await run.feed(items)
    stats = await run.close(reason)
    return run, stats
