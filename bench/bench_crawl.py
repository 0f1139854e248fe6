"""Crawl benchmark: 3 sources x 20 cities x 1,000 events from the local simulator.

The simulator runs in this process (a uvicorn thread, no injected latency); the crawl
runs in a child process: one Scrapy CrawlerProcess with the 60 (source, city) crawlers
side by side, pipelines off, politeness delays zeroed (the server is local), the browser
off. It prints events/s and pages/s, checks every crawler got its whole truth set, and
measures two baselines in the same run by replaying the crawl's own requests (a
sample) with a plain HTTP client and no parsing: one at a time, and 16 at a time (about
the server's ceiling on this machine).

`make bench ONLY=crawl`; `BENCH_CRAWL_EVENTS` / `BENCH_CRAWL_CITIES` shrink it.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import REPO_ROOT

SOURCES = ("eventbrite", "meetup", "luma")
REPLAY_SAMPLE = 1000
REPLAY_CONCURRENCY = 16
CRAWL_SETTINGS = {
    "ITEM_PIPELINES": {},
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "LUMA_DETAILS_DELAY": 0,
    # One /event/get per Luma event would be 20,000 of the ~22,000 requests: the run
    # measures listing pages; descriptions are rate-limited by design in production.
    "LUMA_FETCH_DESCRIPTIONS": False,
    "EVENTBRITE_MAX_PAGES": 200,  # 1,000 events are ~51 pages of <= 20
    "NOCTURNE_RENDER": "off",
    "LOG_LEVEL": "WARNING",
    "TELNETCONSOLE_ENABLED": False,
}


def _crawl(url: str, cities: list[str]) -> None:
    """Child process: all crawlers in one reactor; prints one JSON line of results."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    settings.setdict(
        {
            **CRAWL_SETTINGS,
            "EVENTBRITE_BASE_URL": url,
            "MEETUP_BASE_URL": url,
            "LUMA_API_BASE_URL": url,
        },
        priority="cmdline",
    )
    process = CrawlerProcess(settings, install_root_handler=False)
    items: Counter[str] = Counter()
    crawlers, handlers = [], []  # signal receivers are weak references: keep them alive
    for source in SOURCES:
        for city in cities:
            crawler = process.create_crawler(source)

            def count(key=f"{source}|{city}"):
                items[key] += 1

            handlers.append(count)
            crawler.signals.connect(count, signal=signals.item_scraped)
            crawlers.append(crawler)
            process.crawl(crawler, city=city)
    started = time.perf_counter()
    process.start()
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    totals: Counter[str] = Counter()
    for crawler in crawlers:
        stats = crawler.stats.get_stats()
        for key in ("nocturne/pages", "nocturne/source_errors", "downloader/response_count"):
            totals[key] += int(stats.get(key, 0))
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"elapsed": elapsed, "cpu": cpu, "items": dict(items), "stats": dict(totals)}))


def _replay(path: str, concurrency: int) -> None:
    """Child process: the recorded requests again, plain HTTP, bodies read and dropped."""
    import httpx

    url, requests = pickle.loads(Path(path).read_bytes())

    async def run() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            queue = list(requests)

            async def worker() -> None:
                while queue:
                    method, target, body = queue.pop()
                    response = await client.request(method, target, content=body or None)
                    await response.aread()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - started

    print(json.dumps({"elapsed": asyncio.run(run()), "requests": len(requests)}))


def _child(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_crawl", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "NOCTURNE_RENDER": "off"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    from nocturne_crawl.simulator import start_simulator

    events = int(os.environ.get("BENCH_CRAWL_EVENTS", "1000"))
    cities = list(catalog())[: int(os.environ.get("BENCH_CRAWL_CITIES", "20"))]
    with start_simulator(events_per_city=events, cities=cities, record_requests=True) as sim:
        started = time.perf_counter()
        expected = {f"{s}|{c}": len(sim.events(s, c)) for s in SOURCES for c in cities}
        print(
            f"generated {sum(expected.values()):,} events in {time.perf_counter() - started:.1f} s"
        )

        cpu_before = time.process_time()  # this process: the simulator's thread, mostly
        crawl = _child("crawl", sim.url, *cities)
        simulator_cpu = time.process_time() - cpu_before
        short = {
            k: (crawl["items"].get(k, 0), n)
            for k, n in expected.items()
            if crawl["items"].get(k, 0) != n
        }
        served = list(sim.requests)
        step = max(1, len(served) // REPLAY_SAMPLE)
        sample = [(r.method, r.target, r.body) for r in served[::step]]
        with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as handle:
            handle.write(pickle.dumps((sim.url, sample)))
        try:
            sequential = _child("replay", handle.name, "1")
            concurrent = _child("replay", handle.name, str(REPLAY_CONCURRENCY))
        finally:
            os.unlink(handle.name)

    elapsed = crawl["elapsed"]
    items = sum(crawl["items"].values())
    stats = crawl["stats"]
    responses = stats["downloader/response_count"]
    crawl_rps = responses / elapsed
    seq_rps = sequential["requests"] / sequential["elapsed"]
    con_rps = concurrent["requests"] / concurrent["elapsed"]
    per_source = Counter()
    for key, count in crawl["items"].items():
        per_source[key.split("|")[0]] += count
    print(
        f"crawl: {len(SOURCES)} sources x {len(cities)} cities x {events:,} events, one process, 60 crawlers"
    )
    print(f"  items            {items:,} of {sum(expected.values()):,} ({dict(per_source)})")
    print(f"  wall time        {elapsed:.1f} s")
    print(f"  events/s         {items / elapsed:,.0f}")
    print(
        f"  listing pages/s  {stats['nocturne/pages'] / elapsed:,.0f} ({stats['nocturne/pages']:,} pages parsed)"
    )
    print(f"  HTTP responses/s {crawl_rps:,.0f} ({responses:,}; Luma descriptions not fetched)")
    print(f"  source errors    {stats['nocturne/source_errors']}")
    print(
        f"  CPU seconds      crawler {crawl['cpu']:.0f} ({items / crawl['cpu']:,.0f} events per CPU-s),"
        f" simulator {simulator_cpu:.0f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if short:
        print(f"  INCOMPLETE crawlers (got, expected): {short}")
    print(
        f"baseline: the same requests ({sequential['requests']:,} sampled), plain HTTP, no parsing"
    )
    print(
        f"  sequential       {seq_rps:,.0f} responses/s -> crawl/baseline = {crawl_rps / seq_rps:.2f}x"
    )
    print(
        f"  {REPLAY_CONCURRENCY} concurrent    {con_rps:,.0f} responses/s -> crawl/baseline = {crawl_rps / con_rps:.2f}x"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["crawl"]:
        _crawl(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["replay"]:
        _replay(sys.argv[2], int(sys.argv[3]))
    else:
        main()
