"""100,000 items through the real pipeline chain, next to the seed's per-item save loop.

The chain is the project's ITEM_PIPELINES (validate -> dedupe -> postgres -> mirror, the
mirror unconfigured) run by Scrapy's ItemPipelineManager into PostgreSQL. The baseline,
measured in the same run on its own database, is what the seed describes: per item,
SELECT by link, then UPDATE or INSERT, then COMMIT (after the same validation, so only
storing differs). It is measured on fewer items (BENCH_NAIVE_ITEMS, 5,000) because it
is slow; rates are per second either way. Between the two, the chain without its store
step (validate and dedupe only) on BENCH_HEAD_ITEMS (50,000) items: how fast the one
thread Scrapy's manager drives can go with nothing to write. Then: 10,000 rows mirrored to a second
database over the direct transport (`Mirror.push_pending`), next to the seed's per-row
"check if exists, update or insert" on 1,000 rows.

The chain runs as in a crawl process: with the collector setting every crawl loads
(nocturne_crawl/gc_tuning.py), and with the crawler built before the clock starts.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from scrapy import Spider, signals
from scrapy.exceptions import DropItem
from scrapy.pipelines import ItemPipelineManager
from scrapy.utils.test import get_crawler

from bench.support import bench_database
from nocturne_crawl import settings as project_settings
from nocturne_crawl.cities import catalog
from nocturne_crawl.items import EventItem
from nocturne_crawl.mirror import MIRROR_COLUMNS, Mirror, PostgresTransport
from pipelines.postgres import COLUMNS, row_of
from pipelines.validate import normalize_event

ITEMS = int(os.environ.get("BENCH_PIPELINE_ITEMS", 100_000))
NAIVE_ITEMS = int(os.environ.get("BENCH_NAIVE_ITEMS", 5_000))
HEAD_ITEMS = int(os.environ.get("BENCH_HEAD_ITEMS", 50_000))
MIRROR_ROWS = int(os.environ.get("BENCH_MIRROR_ROWS", 10_000))
NAIVE_MIRROR_ROWS = int(os.environ.get("BENCH_NAIVE_MIRROR_ROWS", 1_000))
SOURCES = {
    "eventbrite": "https://www.eventbrite.com/e/",
    "meetup": "https://www.meetup.com/g/events/",
    "luma": "https://luma.com/",
}
DESCRIPTION = (
    "<p>Underground electronic music in a <b>converted warehouse</b>: three rooms, a rooftop "
    "bar &amp; resident DJs until late.</p><p>Lineup announced on the night.</p>"
)


def make_items(count: int, seed: int = 7) -> list[EventItem]:
    """Crawl-like items: 5 cities, 3 sources, 90 days, HTML descriptions, tracking params."""
    rng = random.Random(seed)
    cities = list(catalog().values())[:5]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    items = []
    for n in range(count):
        city = cities[n % len(cities)]
        source = list(SOURCES)[n % 3]
        items.append(
            EventItem(
                title=f"{rng.choice(['Techno', 'Jazz', 'Comedy', 'Salsa', 'Poetry'])} night #{n}",
                link=f"{SOURCES[source]}{city.slug}-{n}?utm_source=bench&aff=x",
                source=source,
                city=city.id,
                starts_at=now + timedelta(minutes=rng.randrange(90 * 24 * 60)),
                timezone=city.timezone,
                location=f"Venue {n % 700}, {city.name.title()}",
                description=DESCRIPTION,
                latitude=city.lat + rng.uniform(-0.1, 0.1),
                longitude=city.lng + rng.uniform(-0.1, 0.1),
                is_free=n % 4 == 0,
                price=None if n % 4 == 0 else "$15",
                image_url=f"https://img.example.com/{n}.jpg",
                source_id=str(n),
            )
        )
    return items


def empty(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE events, event_aliases, sync_state RESTART IDENTITY CASCADE")
    return conninfo


class BenchSpider(Spider):
    name = "bench"


# The project's collector setting, as in every crawl (nocturne_crawl/gc_tuning.py).
CRAWL_EXTENSIONS = {
    path: order for path, order in project_settings.EXTENSIONS.items() if "gc_tuning" in path
}


def chain_crawler(conninfo: str, pipelines: dict[str, int] | None = None) -> Any:
    """A crawler with the project's pipelines (built before the clock starts: building
    one imports Scrapy's components, which a crawl process does once, not per item)."""
    return get_crawler(
        BenchSpider,
        {
            "ITEM_PIPELINES": project_settings.ITEM_PIPELINES if pipelines is None else pipelines,
            "EXTENSIONS": CRAWL_EXTENSIONS,
            "NOCTURNE_GC_THRESHOLD": project_settings.NOCTURNE_GC_THRESHOLD,
            "NOCTURNE_DATABASE_URL": conninfo,
            "NOCTURNE_DB_BATCH_SIZE": 5000,
            "LOG_LEVEL": "WARNING",
        },
    )


async def run_chain(crawler: Any, items: list[Any]) -> dict[str, Any]:
    """The items through the crawler's pipelines, opened and closed as in a crawl."""
    crawler.spider = BenchSpider.from_crawler(crawler)
    manager = ItemPipelineManager.from_crawler(crawler)
    crawler.stats.open_spider()
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    await manager.open_spider_async()
    for item in items:
        try:  # noqa: SIM105 (contextlib.suppress costs 0.2 us per item, a tenth of a step)
            await manager.process_item_async(item)
        except DropItem:  # dropped items are counted in the stats
            pass
    await manager.close_spider_async()
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    return crawler.stats.get_stats()


def run_naive(conninfo: str, items: list[Any]) -> None:
    """The seed's loop: per item SELECT by link, UPDATE or INSERT, COMMIT."""
    names = ", ".join(COLUMNS)
    marks = ", ".join(["%s"] * len(COLUMNS))
    sets = ", ".join(f"{c} = %s" for c in COLUMNS if c != "link")
    with psycopg.connect(conninfo) as conn:
        for item in items:
            row = normalize_event(item)
            values = row_of(row)
            found = conn.execute("SELECT id FROM events WHERE link = %s", (row["link"],)).fetchone()
            if found:
                conn.execute(
                    f"UPDATE events SET {sets}, last_scraped = now() WHERE id = %s",
                    [v for c, v in zip(COLUMNS, values, strict=True) if c != "link"] + [found[0]],
                )
            else:
                conn.execute(f"INSERT INTO events ({names}) VALUES ({marks})", values)
            conn.commit()


def naive_mirror(local: str, shared: str, limit: int) -> None:
    """The seed's sync: for each event, check if it exists on the shared side, update or insert."""
    names = ", ".join(MIRROR_COLUMNS)
    marks = ", ".join(["%s"] * len(MIRROR_COLUMNS))
    sets = ", ".join(f"{c} = %s" for c in MIRROR_COLUMNS if c != "link")
    with psycopg.connect(local) as src, psycopg.connect(shared) as dst:
        rows = src.execute(
            f"SELECT {names} FROM events WHERE synced_at IS NULL ORDER BY id LIMIT %s", (limit,)
        ).fetchall()
        for row in rows:
            link = row[MIRROR_COLUMNS.index("link")]
            if dst.execute("SELECT 1 FROM events WHERE link = %s", (link,)).fetchone():
                rest = [v for c, v in zip(MIRROR_COLUMNS, row, strict=True) if c != "link"]
                dst.execute(f"UPDATE events SET {sets} WHERE link = %s", [*rest, link])
            else:
                dst.execute(f"INSERT INTO events ({names}) VALUES ({marks})", row)
            dst.commit()
            src.execute("UPDATE events SET synced_at = now() WHERE link = %s", (link,))
            src.commit()


def server_cpu_seconds(conninfo: str) -> float | None:
    """CPU time used so far by the PostgreSQL server's processes (a local server only)."""
    try:
        with psycopg.connect(conninfo) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == postmaster:
                # utime + stime, and the same for backends that exited (reaped by it)
                total += sum(int(v) for v in fields[11:15])
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, psycopg.Error):
        return None


def cpu_note(
    conninfo: str, before: float | None, crawl_cpu: float, count: int
) -> tuple[str, float]:
    """A description of the CPU spent per item, and the total in microseconds."""
    after = server_cpu_seconds(conninfo)
    crawl = crawl_cpu / count * 1e6
    if before is None or after is None:
        return f"{crawl:.0f} us CPU per item in the crawl process", crawl
    server = (after - before) / count * 1e6
    return f"CPU per item: {crawl:.0f} us crawl process + {server:.0f} us PostgreSQL", (
        crawl + server
    )


def count(conninfo: str, where: str = "true") -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()[0]


def main() -> None:
    chain_db = empty(bench_database("nocturne_bench_pipeline"))
    naive_db = empty(bench_database("nocturne_bench_pipeline_naive"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    items = make_items(ITEMS)
    crawler = chain_crawler(chain_db)
    server_before = server_cpu_seconds(chain_db)
    started, cpu = time.perf_counter(), time.process_time()
    stats = asyncio.run(run_chain(crawler, items))
    chain_s, chain_cpu = time.perf_counter() - started, time.process_time() - cpu
    chain_rate = ITEMS / chain_s
    chain_note, chain_us = cpu_note(chain_db, server_before, chain_cpu, ITEMS)
    stored = count(chain_db)
    print(
        f"pipeline chain (ItemPipelineManager, real PostgreSQL): {ITEMS:,} items in "
        f"{chain_s:.2f} s = {chain_rate:,.0f} items/s "
        f"({chain_note}); rows {stored:,}, "
        f"new {stats.get('nocturne/items_new', 0):,}, "
        f"cross-source dropped {stats.get('nocturne/dropped/cross_source_duplicate', 0):,}"
    )
    # The same chain without its store step: how fast the item thread alone can go.
    head = {k: v for k, v in project_settings.ITEM_PIPELINES.items() if "postgres" not in k}
    head_items = make_items(HEAD_ITEMS, seed=5)
    # On the naive loop's database, still empty: the dedupe step finds nothing stored.
    crawler = chain_crawler(naive_db, head)
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run_chain(crawler, head_items))
    head_s, head_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"the same chain without the store step, {HEAD_ITEMS:,} items: "
        f"{HEAD_ITEMS / head_s:,.0f} items/s ({head_cpu / HEAD_ITEMS * 1e6:.0f} us CPU per item)"
    )
    naive_items = make_items(NAIVE_ITEMS, seed=11)
    server_before = server_cpu_seconds(naive_db)
    started, cpu = time.perf_counter(), time.process_time()
    run_naive(naive_db, naive_items)
    naive_s, naive_cpu = time.perf_counter() - started, time.process_time() - cpu
    naive_rate = NAIVE_ITEMS / naive_s
    naive_note, naive_us = cpu_note(naive_db, server_before, naive_cpu, NAIVE_ITEMS)
    print(
        f"naive baseline (per item SELECT, UPDATE/INSERT, COMMIT), on {NAIVE_ITEMS:,} items: "
        f"{naive_s:.2f} s = {naive_rate:,.0f} items/s "
        f"({naive_note})"
    )
    print(
        f"ratio: {chain_rate / naive_rate:.1f}x in items/s, {naive_us / chain_us:.1f}x in CPU "
        "per item (target >= 20,000 items/s and >= 10x)"
    )

    # Mirror: 10,000 pending rows of the chain's database, pushed to a second database.
    # The chain's first 10,000 rows stay as it stored them (pending, as after a crawl);
    # the others count as mirrored already.
    local = chain_db
    with psycopg.connect(local, autocommit=True) as conn:
        conn.execute(
            "UPDATE events SET synced_at = now() WHERE id NOT IN "
            "(SELECT id FROM events ORDER BY id LIMIT %s)",
            (MIRROR_ROWS,),
        )
    shared = empty(bench_database("nocturne_bench_pipeline_shared"))
    mirror = Mirror(local, PostgresTransport(shared, concurrency=4), batch_size=1000, concurrency=4)
    try:
        started = time.perf_counter()
        counts = mirror.push_pending()
        mirror_s = time.perf_counter() - started
    finally:
        mirror.close()
    print(
        f"mirror, direct transport: {counts.pushed:,} rows in {mirror_s:.3f} s "
        f"({counts.pushed / mirror_s:,.0f} rows/s; target 10,000 in < 1 s); "
        f"shared has {count(shared):,}, local pending {count(local, 'synced_at IS NULL'):,}"
    )
    empty(shared)
    with psycopg.connect(local, autocommit=True) as conn:
        conn.execute(
            "UPDATE events SET synced_at = NULL WHERE id IN "
            "(SELECT id FROM events ORDER BY id LIMIT %s)",
            (NAIVE_MIRROR_ROWS,),
        )
    started = time.perf_counter()
    naive_mirror(local, shared, NAIVE_MIRROR_ROWS)
    naive_mirror_s = time.perf_counter() - started
    naive_mirror_rate = NAIVE_MIRROR_ROWS / naive_mirror_s
    print(
        f"naive mirror (per row check, update/insert, commit), on {NAIVE_MIRROR_ROWS:,} rows: "
        f"{naive_mirror_s:.2f} s = {naive_mirror_rate:,.0f} rows/s; "
        f"ratio {counts.pushed / mirror_s / naive_mirror_rate:.1f}x"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
