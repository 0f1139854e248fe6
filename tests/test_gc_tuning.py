"""The crawl's collector setting (nocturne_crawl/gc_tuning.py), through Scrapy's signals."""

from __future__ import annotations

import gc

import pytest
from scrapy import Spider, signals
from scrapy.utils.test import get_crawler

from nocturne_crawl import settings as project_settings
from nocturne_crawl.gc_tuning import CollectorTuning

EXTENSION = {"nocturne_crawl.gc_tuning.CollectorTuning": 100}


class QuietSpider(Spider):
    name = "quiet"


def crawler_with(**settings):
    crawler = get_crawler(QuietSpider, {"EXTENSIONS": EXTENSION, **settings})
    crawler.spider = QuietSpider.from_crawler(crawler)
    return crawler


def send(crawler, signal) -> None:
    kwargs = {"reason": "finished"} if signal is signals.spider_closed else {}
    crawler.signals.send_catch_log(signal, spider=crawler.spider, **kwargs)


@pytest.fixture(autouse=True)
def default_collector():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_crawl_runs_with_the_raised_threshold_and_gets_the_default_back():
    default = gc.get_threshold()
    crawler = crawler_with(NOCTURNE_GC_THRESHOLD=12_345)
    send(crawler, signals.spider_opened)
    assert gc.get_threshold() == (12_345, *default[1:])
    assert gc.get_freeze_count() > 1000  # modules, settings, the spider
    send(crawler, signals.spider_closed)
    assert gc.get_threshold() == default
    assert gc.get_freeze_count() == 0


def test_two_crawls_in_one_process_share_it_until_the_last_closes():
    default = gc.get_threshold()
    first, second = crawler_with(NOCTURNE_GC_THRESHOLD=9_000), crawler_with()
    send(first, signals.spider_opened)
    send(second, signals.spider_opened)
    send(first, signals.spider_closed)
    assert gc.get_threshold()[0] == 9_000  # the second crawl still runs
    send(second, signals.spider_closed)
    assert gc.get_threshold() == default


def test_zero_leaves_the_collector_alone():
    default = gc.get_threshold()
    crawler = crawler_with(NOCTURNE_GC_THRESHOLD=0)
    assert not any(isinstance(e, CollectorTuning) for e in crawler.extensions.middlewares)
    send(crawler, signals.spider_opened)
    assert gc.get_threshold() == default and gc.get_freeze_count() == 0


def test_every_crawl_of_the_project_loads_it():
    crawler = get_crawler(
        QuietSpider,
        {"EXTENSIONS": project_settings.EXTENSIONS, "NOCTURNE_DATABASE_URL": ""},
    )
    tuning = [e for e in crawler.extensions.middlewares if isinstance(e, CollectorTuning)]
    assert [e.threshold for e in tuning] == [project_settings.NOCTURNE_GC_THRESHOLD]
