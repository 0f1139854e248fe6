"""The app for tests that run it under a real uvicorn: crawls run the `probe` spider.

Configured from the environment like the real app, plus `PROBE_ITEMS` / `PROBE_DELAY`.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from api.app import create_app as create_real_app
from nocturne_crawl.config import Config
from tests.support.crawling import probe_launcher


def create_app() -> Starlette:
    def launcher(config: Config, conninfo: str):
        return probe_launcher(
            config,
            conninfo,
            spiders=tuple(os.environ.get("PROBE_SPIDERS", "probe").split(",")),
            PROBE_ITEMS=os.environ.get("PROBE_ITEMS", "3"),
            PROBE_DELAY=os.environ.get("PROBE_DELAY", "0"),
        )

    return create_real_app(Config.from_env(), launcher_factory=launcher)
