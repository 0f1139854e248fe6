"""Backoff retries: the wait comes from Retry-After when the server sends one."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from scrapy.http import Request, Response
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from nocturne_crawl.retry import BackoffRetryMiddleware, backoff_delay, retry_after_seconds
from spiders.eventbrite import EventbriteSpider
from tests.support.spiders import make_spider

NOW = datetime(2026, 3, 7, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"7", 7.0),
        ("Sat, 07 Mar 2026 12:00:30 GMT", 30.0),
        ("Sat, 07 Mar 2026 11:59:00 GMT", 0.0),  # already past: no wait
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header, expected):
    assert retry_after_seconds(header, now=NOW) == expected


def test_backoff_doubles_within_jitter_and_is_capped():
    for retries, base in ((0, 1.0), (1, 2.0), (3, 8.0)):
        assert 0.75 * base <= backoff_delay(retries, 1.0, 60.0) <= 1.25 * base
    assert backoff_delay(20, 1.0, 60.0) <= 75.0


def _middleware(**settings) -> BackoffRetryMiddleware:
    spider = make_spider(EventbriteSpider, **settings)
    return BackoffRetryMiddleware.from_crawler(spider.crawler)


async def test_429_waits_for_retry_after_then_retries():
    mw = _middleware(RETRY_BACKOFF_BASE=30.0)
    request = Request("http://127.0.0.1:9/d/x/all-events/?page=1")
    response = Response(request.url, status=429, headers={"Retry-After": "1"}, request=request)
    started = time.perf_counter()
    retry = await mw.process_response(request, response)
    waited = time.perf_counter() - started
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert 0.9 <= waited < 5  # Retry-After, not the 30 s backoff


async def test_retry_after_is_capped():
    mw = _middleware(RETRY_AFTER_MAX=0.1)
    request = Request("http://127.0.0.1:9/")
    response = Response(request.url, status=503, headers={"Retry-After": "3600"}, request=request)
    started = time.perf_counter()
    assert isinstance(await mw.process_response(request, response), Request)
    assert time.perf_counter() - started < 1


async def test_timeouts_back_off_exponentially_and_give_up_after_retry_times():
    mw = _middleware(RETRY_BACKOFF_BASE=0.01, RETRY_TIMES=2)
    request = Request("http://127.0.0.1:9/")
    first = await mw.process_exception(request, TwistedTimeoutError())
    second = await mw.process_exception(first, TwistedTimeoutError())
    assert (first.meta["retry_times"], second.meta["retry_times"]) == (1, 2)
    assert await mw.process_exception(second, TwistedTimeoutError()) is None
    assert mw.crawler.stats.get_value("retry/max_reached") == 1


async def test_other_statuses_and_dont_retry_pass_through():
    mw = _middleware()
    request = Request("http://127.0.0.1:9/")
    ok = Response(request.url, status=404, request=request)
    assert await mw.process_response(request, ok) is ok
    quiet = Request("http://127.0.0.1:9/", meta={"dont_retry": True})
    busy = Response(quiet.url, status=429, request=quiet)
    assert await mw.process_response(quiet, busy) is busy
