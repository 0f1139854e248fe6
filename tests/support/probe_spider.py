"""`probe`: a tiny spider for launcher and crawl-run tests; no network, no pipelines.

It yields `PROBE_ITEMS` events, `PROBE_DELAY` seconds apart, counting one page per item;
with `PROBE_FAIL` it yields nothing and counts source errors, the way a blocked site would.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from scrapy import Spider

from nocturne_crawl.items import EventItem


class ProbeSpider(Spider):
    name = "probe"
    custom_settings = {"ITEM_PIPELINES": {}, "TELNETCONSOLE_ENABLED": False}

    def __init__(self, city: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.city = city

    async def start(self):
        count = self.settings.getint("PROBE_ITEMS", 3)
        delay = self.settings.getfloat("PROBE_DELAY", 0.0)
        if self.settings.getbool("PROBE_FAIL", False):
            self.crawler.stats.inc_value("nocturne/source_errors", 2)
            return
        starts = datetime.now(UTC) + timedelta(days=1)
        for index in range(count):
            if delay:
                await asyncio.sleep(delay)
            self.crawler.stats.inc_value("nocturne/pages")
            yield EventItem(
                title=f"Probe event {index}",
                link=f"https://www.eventbrite.com/e/probe-{self.city}-{index}",
                source="eventbrite",
                city=self.city,
                starts_at=starts + timedelta(hours=index),
                timezone="UTC",
            )


class BrokenProbeSpider(ProbeSpider):
    """A source that is down: every request fails, nothing is scraped."""

    name = "probe_broken"

    async def start(self):
        self.crawler.stats.inc_value("nocturne/source_errors", 3)
        return
        yield
