"""GET /events/{city}?limit=100 with a date range, 1,000,000 events, 32 concurrent clients.

Through the real stack: uvicorn serving the app, PostgreSQL with the migrated schema.
The baseline, measured in the same run with the same clients, is GET /health (one
`SELECT 1` through the same app): the floor any endpoint of this stack can reach.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg

from bench.support import bench_database, load_generator, measure, serve_app
from nocturne_crawl.cities import catalog

TOTAL_EVENTS = int(os.environ.get("BENCH_API_EVENTS", 1_000_000))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", 32))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", 10))
SPAN_DAYS = 120
DESCRIPTION = (
    "Underground electronic music in a converted warehouse: three rooms, a rooftop bar, "
    "resident DJs until late, and a lineup announced on the night. " * 2
)


def load_events(conninfo: str, total: int) -> None:
    """Fill the database with `total` events across 20 cities (kept for the next run)."""
    cities = list(catalog().values())[:20]
    per_city = total // len(cities)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        have, latest = conn.execute("SELECT count(*), max(starts_at) FROM events").fetchone()
        # Reuse a load only while it still reaches 80 days ahead (the queries look 0..66 ahead).
        fresh = latest is not None and latest > datetime.now(UTC) + timedelta(days=80)
        if have == per_city * len(cities) and fresh:
            print(f"reusing {have:,} events already loaded")
            return
        conn.execute("TRUNCATE events RESTART IDENTITY CASCADE")
        started = time.perf_counter()
        for city in cities:
            # Spread over SPAN_DAYS starting 30 days ago, in the city's own zone.
            conn.execute(
                """
                INSERT INTO events (title, link, date, time, location, description, source, city,
                                    starts_at, timezone, latitude, longitude, is_online, source_id)
                SELECT 'Event ' || n || ' in ' || %(name)s,
                       'https://www.eventbrite.com/e/' || %(city)s || '-tickets-' || n,
                       (s AT TIME ZONE %(tz)s)::date, (s AT TIME ZONE %(tz)s)::time,
                       'Venue ' || (n %% 300) || ', ' || %(name)s, %(descr)s,
                       (ARRAY['eventbrite','meetup','luma'])[1 + n %% 3], %(city)s,
                       s, %(tz)s, %(lat)s, %(lng)s, n %% 10 = 0, n::text
                FROM generate_series(1, %(count)s) AS n,
                     LATERAL (SELECT now() - interval '30 days'
                                     + (n::double precision / %(count)s)
                                       * make_interval(days => %(span)s) AS s) t
                """,
                {
                    "name": city.name,
                    "city": city.id,
                    "tz": city.timezone,
                    "descr": DESCRIPTION,
                    "lat": city.lat,
                    "lng": city.lng,
                    "count": per_city,
                    "span": SPAN_DAYS,
                },
            )
        conn.execute("VACUUM ANALYZE events")
        print(f"loaded {per_city * len(cities):,} events in {time.perf_counter() - started:.1f} s")


def event_paths(n: int = 2000) -> list[str]:
    rng = random.Random(7)
    cities = list(catalog().values())[:20]
    today = date.today()
    paths = []
    for _ in range(n):
        city = rng.choice(cities)
        start = today + timedelta(days=rng.randrange(0, 60))
        end = start + timedelta(days=rng.choice([0, 2, 6]))
        paths.append(f"/events/{city.id}?limit=100&start_date={start}&end_date={end}")
    return paths


def main() -> None:
    conninfo = bench_database("nocturne_bench_api")
    load_events(conninfo, TOTAL_EVENTS)
    paths = event_paths()
    with serve_app(conninfo) as url:
        answers = [httpx.get(url + p, timeout=10) for p in paths[:50]]
    counts = [len(a.json()) for a in answers]
    # The figures mean something only if the answers are full pages of events.
    assert min(counts) == 100, f"benchmark queries returned {min(counts)}..{max(counts)} events"
    size = sum(len(a.content) for a in answers) // len(answers)
    print(f"every answer holds 100 events ({size / 1024:.0f} KiB of JSON)")
    print(
        f"{CLIENTS} concurrent keep-alive clients ({load_generator()}), {SECONDS:.0f} s per measurement"
    )
    for workers, cache in ((1, "2048"), (1, "0"), (2, "2048")):
        label = (
            f"{workers} worker{'s' if workers > 1 else ''}, cache {'on' if cache != '0' else 'off'}"
        )
        with serve_app(conninfo, workers=workers, extra_env={"EVENTS_CACHE_ENTRIES": cache}) as url:
            if cache != "0":
                # Warm: every URL once, so the figures are of a cache that holds them all
                # (as it does between crawls); the cache-off rows are the all-miss case.
                with httpx.Client(base_url=url, timeout=30) as http:
                    for _ in range(workers):
                        for path in paths:
                            http.get(path, headers={"Accept-Encoding": "gzip"})
            base = measure(url, ["/health"], CLIENTS, SECONDS)
            events = measure(url, paths, CLIENTS, SECONDS)
        print(base.line(f"baseline GET /health ({label})"))
        print(events.line(f"GET /events/{{city}} ({label})"))
        print(f"  throughput vs baseline: {events.requests / base.requests:.2f}x")


if __name__ == "__main__":
    main()
