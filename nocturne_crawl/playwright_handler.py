"""scrapy-playwright's download handler, started on the first browser request.

The stock handler starts the Playwright driver (a Node process) when the engine starts,
in every crawl. Most crawls never need the browser (it is for bot walls and JS-only
pages), so this one starts it only when a request with meta playwright=True arrives.
"""

from __future__ import annotations

import asyncio

from scrapy import signals
from scrapy.http import Request, Response
from scrapy.spiders import Spider
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from nocturne_crawl.keepalive import keep_idle_connections


class LazyPlaywrightDownloadHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        keep_idle_connections(self, crawler.settings)
        crawler.signals.disconnect(self._maybe_launch_in_thread, signal=signals.engine_started)
        crawler.signals.disconnect(self._engine_started, signal=signals.engine_started)
        self._start_lock = asyncio.Lock()

    async def _download_request(self, request: Request, spider: Spider | None = None) -> Response:
        async with self._start_lock:
            if getattr(self, "browser_provider", None) is None:
                await self._launch()
        return await super()._download_request(request, spider)
