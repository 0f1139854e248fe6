"""`scrapy crawl` with a city the catalog does not know: a usage error, no traceback.

The real `scrapy crawl` command in a subprocess (the project's COMMANDS_MODULE), as a
person or Scrapyd's runner types it; nothing is fetched.
"""

import os
import subprocess
import sys

import pytest

from nocturne_crawl.config import REPO_ROOT


def scrapy_crawl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "NOCTURNE_RENDER": "off"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("luma", "-a", "city=atlantis"), "luma: unknown city 'atlantis'"),
        (("eventbrite",), "eventbrite: no city given"),
    ],
)
def test_an_unknown_or_missing_city_is_a_usage_error(args, message):
    done = scrapy_crawl(*args)
    assert done.returncode == 2
    assert f"error: {message}; pass -a city=<id>, one of: ca--los-angeles" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Spider opened" not in done.stderr  # stopped before any crawl


def test_an_unknown_spider_keeps_scrapys_own_answer():
    done = scrapy_crawl("no_such_spider", "-a", "city=ca--los-angeles")
    assert done.returncode != 0
    assert "no_such_spider" in done.stderr
