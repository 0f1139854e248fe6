"""Spiders built on a real crawler (project settings), and their callbacks' output split."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrapy import Spider
from scrapy.http import Request
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler, get_reactor_settings

from nocturne_crawl.items import EventItem


def make_spider(spider_cls: type[Spider], city: str = "ca--los-angeles", **settings: Any):
    """A spider as `scrapy crawl <name> -a city=<city> -s K=V` would create it."""
    # No engine runs here: the reactor settings are whatever suits this test process.
    merged = {
        **get_project_settings().copy_to_dict(),
        **get_reactor_settings(),
        "TELNETCONSOLE_ENABLED": False,
        **settings,
    }
    crawler = get_crawler(spider_cls, merged)
    spider = spider_cls.from_crawler(crawler, city=city)
    crawler.spider = spider
    return spider


def split(results: Iterable[Any] | None) -> tuple[list[EventItem], list[Request]]:
    items, requests = [], []
    for result in results or ():
        (requests if isinstance(result, Request) else items).append(result)
    return items, requests


async def start_requests(spider: Spider) -> list[Request]:
    return [request async for request in spider.start()]


def stat(spider: Spider, key: str) -> Any:
    return spider.crawler.stats.get_value(key)
