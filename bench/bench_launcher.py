"""10 cities x 3 sources x 1,000 events through `CrawlLauncher`, next to one city at a time.

The site simulator runs in its own process with a delay on every response (50 ms, like a
network round trip); every crawl is a real `scrapy crawl` process (forked from the
pre-forked crawl worker, as the launcher does by default; `CRAWL_PREFORK=0` for one fresh
Python process per crawl) with the real pipelines into PostgreSQL and the project's own
crawl settings. Politeness delays (DOWNLOAD_DELAY, AutoThrottle, Luma's detail spacing)
are set to zero because the "site" is local; concurrency limits are left as they are.
The baseline runs the same crawls one city after another (each city's three sources at
once), the way a loop over cities would. Per source it prints the CPU the crawls used
(`nocturne/cpu_seconds`, from their stats) and the whole machine's busy CPU-seconds.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time

import psycopg

from bench.support import bench_database
from nocturne_crawl.cities import catalog
from nocturne_crawl.config import Config
from nocturne_crawl.launcher import CrawlLauncher
from tests.support.processes import simulator_process

CITIES = int(os.environ.get("BENCH_LAUNCHER_CITIES", 10))
EVENTS = int(os.environ.get("BENCH_LAUNCHER_EVENTS", 1000))
LATENCY_MS = int(os.environ.get("BENCH_LAUNCHER_LATENCY_MS", 50))
# Crawls are mostly waiting on the network: all 30 at once (CRAWL_CONCURRENCY=30).
CONCURRENCY = int(os.environ.get("BENCH_LAUNCHER_CONCURRENCY", 30))
TIMEOUT = 900


def crawl_settings(url: str) -> dict[str, str]:
    return {
        "EVENTBRITE_BASE_URL": url,
        "MEETUP_BASE_URL": url,
        "LUMA_API_BASE_URL": url,
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "False",
        "LUMA_DETAILS_DELAY": "0",
    }


def reset(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE events, crawl_runs RESTART IDENTITY CASCADE")


def crawl(
    config: Config, conninfo: str, url: str, cities: list[str], one_city_at_a_time: bool
) -> tuple[float, list[dict]]:
    """Wall time and job rows of crawling `cities` (all three sources each)."""
    reset(conninfo)
    launcher = CrawlLauncher(
        config, conninfo, settings=crawl_settings(url), env={"NOCTURNE_RENDER": "off"}
    )
    jobs: list[dict] = []
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = machine_busy()
    started = time.perf_counter()
    try:
        if one_city_at_a_time:
            for city in cities:
                ticket = launcher.request(city, trigger="cli", enforce_limits=False)
                jobs += launcher.wait([ticket.run_id], timeout=TIMEOUT, poll=0.2)
        else:
            tickets = [
                launcher.request(city, trigger="cli", enforce_limits=False) for city in cities
            ]
            jobs = launcher.wait([t.run_id for t in tickets], timeout=TIMEOUT, poll=0.2)
    finally:
        elapsed = time.perf_counter() - started
        launcher.close(cancel_running=True, timeout=30)
    # The crawl processes and (with CRAWL_PREFORK) the worker they were forked from: all
    # reaped by now, so all counted (close() waits for the worker).
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    busy = machine_busy() - busy_before if busy_before is not None else None
    for job in jobs:
        job["cpu_total"] = cpu
        job["machine_busy"] = busy
    return elapsed, jobs


def machine_busy() -> float | None:
    """CPU-seconds the whole machine spent busy so far (Linux), whoever used them."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def report(label: str, elapsed: float, jobs: list[dict], conninfo: str) -> None:
    failed = [j for j in jobs if j["status"] != "finished"]
    items = sum(j["items_scraped"] for j in jobs)
    with psycopg.connect(conninfo) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        per_source = conn.execute(
            """SELECT spider, sum((stats->>'nocturne/cpu_seconds')::float),
                      sum((stats->>'downloader/request_count')::int)
               FROM crawl_runs GROUP BY spider ORDER BY spider"""
        ).fetchall()
    spans = [
        (j["finished_at"] - j["started_at"]).total_seconds()
        for j in jobs
        if j["started_at"] and j["finished_at"]
    ]
    longest = max(spans) if spans else 0.0
    print(
        f"{label:28} {elapsed:7.1f} s wall  {len(jobs)} crawls ({len(failed)} failed)  "
        f"{items} items, {stored} events stored, {items / elapsed:7.0f} items/s, "
        f"longest crawl {longest:.1f} s, crawl processes' CPU {jobs[0]['cpu_total']:.0f} s",
        flush=True,
    )
    busy = jobs[0]["machine_busy"]
    print(
        "  CPU-s by source (inside the crawls): "
        + ", ".join(
            f"{spider} {cpu or 0:.1f} ({requests or 0} requests)"
            for spider, cpu, requests in per_source
        )
        + (
            f"; whole machine busy {busy:.0f} CPU-s (simulator, PostgreSQL, anything else)"
            if busy
            else ""
        ),
        flush=True,
    )
    for job in failed:
        print(f"  failed: {job['spider']} {job['job_id']}: {job['error']}", flush=True)


def main() -> None:
    cities = list(catalog())[:CITIES]
    conninfo = bench_database("nocturne_bench_launcher")
    base = Config.from_env()
    load = os.getloadavg()[0]
    print(
        f"load average before: {load:.1f}; {len(cities)} cities x 3 sources x {EVENTS} events, {LATENCY_MS} ms per response, "
        f"{os.cpu_count()} CPUs, CRAWL_CONCURRENCY={CONCURRENCY}",
        flush=True,
    )
    with simulator_process(events=EVENTS, latency_ms=LATENCY_MS, seed=1) as url:
        parallel_config = dataclasses.replace(base, crawl_concurrency=CONCURRENCY)
        elapsed, jobs = crawl(parallel_config, conninfo, url, cities, one_city_at_a_time=False)
        report("launcher, all cities", elapsed, jobs, conninfo)
        serial_config = dataclasses.replace(base, crawl_concurrency=3)
        base_elapsed, base_jobs = crawl(
            serial_config, conninfo, url, cities, one_city_at_a_time=True
        )
        report("baseline, city after city", base_elapsed, base_jobs, conninfo)
    print(f"speed-up: {base_elapsed / elapsed:.2f}x (target: all cities in <= 30 s)", flush=True)
