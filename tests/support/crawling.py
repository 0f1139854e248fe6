"""Helpers for crawl tests: a launcher over the `probe` spider, free ports, a real uvicorn."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from nocturne_crawl.config import REPO_ROOT, Config
from nocturne_crawl.launcher import CrawlLauncher
from tests.support.processes import free_port, wait_for_http

__all__ = ["free_port", "probe_launcher", "uvicorn_server", "wait_for_http"]

PROBE_SETTINGS = {
    "SPIDER_MODULES": "tests.support.probe_spider",
    "NOCTURNE_HEARTBEAT_SECONDS": "0.5",
}


def probe_launcher(
    config: Config, conninfo: str, spiders: tuple[str, ...] = ("probe",), **settings: str
) -> CrawlLauncher:
    """A launcher whose crawls run the network-free `probe` spider."""
    return CrawlLauncher(config, conninfo, spiders=spiders, settings={**PROBE_SETTINGS, **settings})


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], log_path: Path, workers: int = 1) -> Iterator[str]:
    """`uvicorn` serving `tests.support.crawl_app:create_app` on a loopback port; its URL."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
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
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
