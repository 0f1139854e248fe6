"""The pipelines inside a real `scrapy runspider` process, with the project's settings."""

import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest

from nocturne_crawl.config import REPO_ROOT
from tests.support.mirror_checks import content, pending

BASE = datetime.now(UTC).replace(microsecond=0).isoformat()


def crawl(db: str, shared: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "runspider",
        str(REPO_ROOT / "tests" / "support" / "item_spider.py"),
        "-a",
        f"base={BASE}",
        "-s",
        f"NOCTURNE_DATABASE_URL={db}",
        "-s",
        f"NOCTURNE_SUPABASE_DB_URL={shared}",
        "-s",
        "LOG_LEVEL=INFO",
        *args,
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def statuses(db: str) -> dict[str, str]:
    with psycopg.connect(db) as conn:
        return dict(conn.execute("SELECT link, status FROM events"))


@pytest.mark.slow
def test_real_crawls_store_mirror_and_mark_vanished_events(db, shared_db):
    first = crawl(db, shared_db, "-a", "count=12")
    assert "'nocturne/items_new': 12" in first.stderr
    assert "'nocturne/synced': 12" in first.stderr
    # A partial crawl (interrupted after three items) marks nothing...
    partial = crawl(db, shared_db, "-a", "count=12", "-a", "stop=3")
    assert "'finish_reason': 'interrupted'" in partial.stderr
    assert set(statuses(db).values()) == {"active"}
    # ...nor does a crawl with source errors...
    crawl(db, shared_db, "-a", "count=8", "-a", "errors=1")
    assert set(statuses(db).values()) == {"active"}
    # ...but a complete one that no longer lists four events cancels them, everywhere.
    last = crawl(db, shared_db, "-a", "count=8")
    assert "'nocturne/vanished': 4" in last.stderr
    assert "'nocturne/items_updated': 8" in last.stderr
    assert sorted(statuses(db).values()).count("cancelled") == 4
    assert pending(db) == 0 and content(db) == content(shared_db)
