"""Idle keep-alive connections per host: more than Scrapy keeps, never a concurrency."""

from __future__ import annotations

import os
import subprocess
import sys

from scrapy.settings import Settings

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.keepalive import keep_idle_connections


class _Pool:
    maxPersistentPerHost = 4


class _Handler:
    def __init__(self) -> None:
        self._pool = _Pool()


def test_the_pool_keeps_the_configured_idle_connections_and_never_fewer():
    handler = _Handler()
    keep_idle_connections(handler, Settings({"NOCTURNE_KEEPALIVE_PER_HOST": 16}))
    assert handler._pool.maxPersistentPerHost == 16
    handler = _Handler()
    keep_idle_connections(handler, Settings({"NOCTURNE_KEEPALIVE_PER_HOST": 2}))
    assert handler._pool.maxPersistentPerHost == 4
    keep_idle_connections(object(), Settings({"NOCTURNE_KEEPALIVE_PER_HOST": 16}))


def test_project_settings_use_a_keepalive_handler_in_every_render_mode():
    code = (
        "from scrapy.utils.project import get_project_settings; s = get_project_settings(); "
        "print(s.getwithbase('DOWNLOAD_HANDLERS')['https'], s.getint('NOCTURNE_KEEPALIVE_PER_HOST'), "
        "s.getint('CONCURRENT_REQUESTS_PER_DOMAIN'))"
    )
    for mode, handler in (
        ("off", "nocturne_crawl.keepalive.KeepAliveDownloadHandler"),
        ("auto", "nocturne_crawl.playwright_handler.LazyPlaywrightDownloadHandler"),
    ):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env={**os.environ, "NOCTURNE_RENDER": mode},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out == [handler, "16", "4"]
