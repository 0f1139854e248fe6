"""`scrapy crawl` for this project: `-a city=` is checked before any crawl starts.

Scrapy builds the spider inside the running crawl, so a spider refusing its arguments
there ends as a traceback logged by the event loop (exit status 1). This command
asks the catalog first and answers an unknown city as a usage error: one line, exit
status 2. The same command runs under Scrapyd (its runner calls `scrapy crawl`).
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from spiders.base import CitySpider, UnknownCityError, city_argument


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) == 1 and self.crawler_process is not None:
            try:
                spider_class = self.crawler_process.spider_loader.load(args[0])
            except KeyError:
                spider_class = None  # Scrapy's own message for an unknown spider follows
            if spider_class is not None and issubclass(spider_class, CitySpider):
                try:
                    city_argument(spider_class.name, opts.spargs.get("city"))
                except UnknownCityError as exc:
                    raise UsageError(str(exc), print_help=False) from None
        super().run(args, opts)
