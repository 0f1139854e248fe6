"""Retries with exponential backoff that honour the server's Retry-After."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(retries: int, base: float, cap: float) -> float:
    """base * 2**retries with +-25% jitter, at most `cap`: spread retries of many requests."""
    delay = min(cap, base * (2**retries))
    return delay * random.uniform(0.75, 1.25)  # noqa: S311 (jitter, not a secret)


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that waits before each retry.

    The wait is the server's Retry-After when it sends one (capped at RETRY_AFTER_MAX),
    otherwise RETRY_BACKOFF_BASE * 2**n capped at RETRY_BACKOFF_MAX. Other requests keep
    flowing while one waits: the wait is an asyncio sleep, not a blocked reactor.
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 120.0)

    def _wait_for(self, request: Request, response: Response | None) -> float:
        if response is not None:
            hinted = retry_after_seconds(response.headers.get(b"Retry-After"))
            if hinted is not None:
                return min(hinted, self.retry_after_max)
        return backoff_delay(
            request.meta.get("retry_times", 0), self.backoff_base, self.backoff_max
        )

    async def _sleep_then(self, request: Request, response: Response | None, retry):
        delay = self._wait_for(request, response)
        if delay > 0:
            logger.debug("waiting %.2f s before retrying %s", delay, request.url)
            await asyncio.sleep(delay)
        return retry

    async def process_response(self, request: Request, response: Response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        retry = self._retry(request, reason)
        if retry is None:
            return response
        return await self._sleep_then(request, response, retry)

    async def process_exception(self, request: Request, exception: Exception):
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get(
            "dont_retry", False
        ):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        return await self._sleep_then(request, None, retry)
