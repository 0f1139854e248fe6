"""A digest to 10,000 subscribers through a local SMTP server (aiosmtpd, its own process).

The full job: PostgreSQL planning, a committed `pending` email_logs row per mail, the
templated HTML+text message, SMTP over loopback, the `sent` mark. The baseline, measured
in the same run, is the naive way: the same job with one mail at a time and a new SMTP
connection per mail (on a sample of subscribers in another city).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.support import bench_database, free_port
from nocturne_crawl.config import Config
from nocturne_crawl.digest import run_digest
from nocturne_crawl.mail.transport import SmtpSettings, SmtpTransport

SUBSCRIBERS = int(os.environ.get("BENCH_DIGEST_SUBSCRIBERS", 10_000))
BASELINE_SUBSCRIBERS = int(os.environ.get("BENCH_DIGEST_BASELINE", 300))
EVENTS = 30  # more than DIGEST_MAX_EVENTS (25): every mail says "and 5 more"
CITY, BASELINE_CITY = "ca--los-angeles", "ny--new-york"


class CountingHandler:
    """Accepts every message and counts it (parsing is the mail client's job, not ours)."""

    def __init__(self, counter):
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 2.0.0 accepted"


def serve_smtp(port: int, counter, ready, stop) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(CountingHandler(counter), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def prepare(conninfo: str) -> None:
    """Fresh subscriptions, then events created after them (so all are new to everyone)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE email_logs, subscriptions, events RESTART IDENTITY CASCADE")
        for city, count in ((CITY, SUBSCRIBERS), (BASELINE_CITY, BASELINE_SUBSCRIBERS)):
            conn.execute(
                """INSERT INTO subscriptions (email, city, created_at)
                   SELECT 'reader' || n || '@' || %s || '.example.com', %s,
                          now() - interval '1 day'
                     FROM generate_series(1, %s) AS n""",
                (city.replace("--", "."), city, count),
            )
        start = datetime.now(UTC) + timedelta(days=1)
        with conn.cursor() as cur:
            for city, tz in ((CITY, "America/Los_Angeles"), (BASELINE_CITY, "America/New_York")):
                for n in range(EVENTS):
                    at = start + timedelta(hours=n)
                    cur.execute(
                        """INSERT INTO events (title, link, date, time, location, description,
                                               source, city, starts_at, timezone)
                           VALUES (%s, %s, %s, %s, %s, %s, 'eventbrite', %s, %s, %s)""",
                        (
                            f"Warehouse night #{n} <live> & friends",
                            f"https://www.eventbrite.com/e/bench-{city}-{n}",
                            at.date(),
                            at.time(),
                            "The Echo, 1822 Sunset Blvd, Los Angeles",
                            "Underground electronic music",
                            city,
                            at,
                            tz,
                        ),
                    )


def main() -> None:
    conninfo = bench_database("nocturne_bench_digest")
    prepare(conninfo)
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    counter, ready, stop = ctx.Value("q", 0), ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve_smtp, args=(port, counter, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP server did not start")
        config = dataclasses.replace(
            Config.from_env(), smtp_url=f"smtp://127.0.0.1:{port}", confirm_subscriptions=False
        )

        naive = SmtpTransport(
            SmtpSettings.from_url(config.smtp_url), concurrency=1, reuse_connections=False
        )
        base = run_digest(
            dataclasses.replace(config, smtp_concurrency=1),
            conninfo,
            cities=[BASELINE_CITY],
            transport=naive,
        )
        base_rate = base.sent / base.seconds
        print(
            f"baseline, one mail at a time, new connection per mail: {base.sent} mails in "
            f"{base.seconds:.2f} s = {base_rate:.0f} mails/s"
        )

        t0 = time.perf_counter()
        dry = run_digest(config, conninfo, cities=[CITY], dry_run=True)
        print(
            f"planning alone (--dry-run): {len(dry.planned):,} digests in "
            f"{time.perf_counter() - t0:.2f} s"
        )
        started = counter.value
        report = run_digest(config, conninfo, cities=[CITY])
        received = counter.value - started
        rate = report.sent / report.seconds
        print(
            f"digest: {report.sent:,} mails to {SUBSCRIBERS:,} subscribers in "
            f"{report.seconds:.1f} s = {rate:.0f} mails/s "
            f"({config.smtp_concurrency} reused SMTP connections); server received {received:,}; "
            f"failed {report.failed}"
        )
        print(f"ratio: {rate / base_rate:.1f}x the baseline; target >= 200 mails/s")
        if received != report.sent or report.sent != SUBSCRIBERS:
            raise RuntimeError("the server did not receive exactly one mail per subscriber")
        again = run_digest(config, conninfo, cities=[CITY])
        print(f"second run right after: {again.sent} mails (never twice)")
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
