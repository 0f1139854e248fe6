"""Helpers for crawl tests: a launcher over the `probe` spider, free ports, a real uvicorn."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from nocturne_crawl.config import REPO_ROOT, Config
from nocturne_crawl.launcher import CrawlLauncher
from tests.support.processes import free_port, server_process, wait_for_http

__all__ = ["free_port", "launcher_config", "probe_launcher", "uvicorn_server", "wait_for_http"]

PROBE_SETTINGS = {
    "SPIDER_MODULES": "tests.support.probe_spider",
    "NOCTURNE_HEARTBEAT_SECONDS": "0.5",
}


def launcher_config(tmp_path: Path, crawl_concurrency: int) -> Config:
    """A config for launcher tests: data under `tmp_path`, no scheduler, no scrape cooldown."""
    return Config(
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        scrape_cooldown_seconds=0,
        crawl_concurrency=crawl_concurrency,
    )


def probe_launcher(
    config: Config, conninfo: str, spiders: tuple[str, ...] = ("probe",), **settings: str
) -> CrawlLauncher:
    """A launcher whose crawls run the network-free `probe` spider."""
    return CrawlLauncher(config, conninfo, spiders=spiders, settings={**PROBE_SETTINGS, **settings})


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], log_path: Path, workers: int = 1) -> Iterator[str]:
    """`uvicorn` serving `tests.support.crawl_app:create_app` on a loopback port; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.support.crawl_app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    with server_process(
        command, f"{url}/health", env=env, log_path=log_path, cwd=REPO_ROOT, new_session=True
    ):
        yield url
