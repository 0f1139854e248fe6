"""A spider that yields N made-up items without any network, for `scrapy runspider` tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import scrapy
from scrapy.exceptions import CloseSpider

from nocturne_crawl.items import EventItem


class ItemSpider(scrapy.Spider):
    name = "eventbrite"

    def __init__(
        self, count: str = "10", base: str = "", errors: str = "0", stop: str = "", **kwargs
    ):
        super().__init__(**kwargs)
        self.stop = int(stop) if stop else None
        self.count = int(count)
        self.base = datetime.fromisoformat(base) if base else datetime.now(UTC)
        self.errors = int(errors)
        self.city = "ca--los-angeles"

    async def start(self):
        if self.errors:
            self.crawler.stats.inc_value("nocturne/source_errors", self.errors)
        for n in range(self.count):
            if n == self.stop:
                # Interrupted, as a crawl stopped by a limit or a shutdown would be.
                raise CloseSpider("interrupted")
            yield EventItem(
                title=f"Runspider Event {n}",
                link=f"https://www.eventbrite.com/e/runspider-{n}?aff=test",
                source="eventbrite",
                city=self.city,
                starts_at=self.base + timedelta(days=1, hours=n),
                timezone="America/Los_Angeles",
                location=f"Room {n}",
                description="<p>made up</p>",
            )
