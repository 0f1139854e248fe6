"""What the fault tests share: real crawl subprocesses, the simulator's truth as the set
the database must hold, and a row-by-row comparison of the two.

Crawls are the real command (`python -m scrapy crawl <source> -a city=<id>`) from the
repository root against the simulator, with politeness delays off and short retry
backoff so that a test's crawls take seconds, and a hard timeout on every one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.simulator import Simulator

SOURCES = ("eventbrite", "meetup", "luma")
CRAWL_TIMEOUT = 120.0
# Fast and still faithful: the pipelines and retry middleware are the project's own;
# only the pacing meant for the real sites is off, and pages are small so that a city
# takes several pages on every source.
FAST_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "RETRY_BACKOFF_BASE": 0.1,
    "RETRY_BACKOFF_MAX": 1.0,
    "RETRY_AFTER_MAX": 1.0,
    "LUMA_DETAILS_DELAY": 0,
    "LUMA_DETAILS_CONCURRENCY": 8,
    "LUMA_PAGE_SIZE": 10,
    "MEETUP_PAGE_SIZE": 10,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "INFO",
}
_STAT_RE = re.compile(r"^\s*'([^']+)': (\d+),?\s*}?$", re.MULTILINE)
_REASON_RE = re.compile(r"'finish_reason': '([^']+)'")


# -- crawls -----------------------------------------------------------------------------


def crawl_env(sim_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a crawl against the simulator, writing to `database_url`."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The machine's own shared-database settings never leak into a test crawl.
        if key not in ("SUPABASE_URL", "SUPABASE_KEY", "SUPABASE_DB_URL")
    }
    env.update(
        DATABASE_URL=database_url,
        EVENTBRITE_BASE_URL=sim_url,
        MEETUP_BASE_URL=sim_url,
        LUMA_API_BASE_URL=sim_url,
        NOCTURNE_RENDER="off",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def crawl_command(source: str, city: str, settings: Mapping[str, Any] | None = None) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", source, "-a", f"city={city}"]
    for name, value in {**FAST_SETTINGS, **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    return command


@dataclass
class CrawlResult:
    """One finished crawl process: exit code, log, and the stats Scrapy dumped at close."""

    source: str
    city: str
    returncode: int
    log: str
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None

    @classmethod
    def of(cls, source: str, city: str, returncode: int, log: str, seconds: float):
        reason = _REASON_RE.search(log)
        # Only the stats dump (after "Dumping Scrapy stats") holds "'key': number" lines.
        dump = log[log.rfind("Dumping Scrapy stats") :] if "Dumping Scrapy stats" in log else ""
        stats = {key: int(value) for key, value in _STAT_RE.findall(dump)}
        return cls(
            source, city, returncode, log, seconds, stats, reason.group(1) if reason else None
        )

    def stat(self, key: str) -> int:
        return self.stats.get(key, 0)

    def errors(self) -> list[str]:
        return [line for line in self.log.splitlines() if " ERROR: " in line or "Traceback" in line]

    def describe(self) -> str:
        nocturne = {k: v for k, v in self.stats.items() if k.startswith(("nocturne/", "retry/"))}
        return (
            f"{self.source}/{self.city}: rc={self.returncode} reason={self.finish_reason} "
            f"{self.seconds:.1f}s {nocturne}"
        )


def run_crawl(
    sim_url: str,
    database_url: str,
    source: str,
    city: str,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = CRAWL_TIMEOUT,
) -> CrawlResult:
    """Run one crawl to its end (killed past `timeout`, which fails the test)."""
    started = time.monotonic()
    process = subprocess.run(
        crawl_command(source, city, settings),
        cwd=REPO_ROOT,
        env=crawl_env(sim_url, database_url, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CrawlResult.of(
        source, city, process.returncode, process.stderr, time.monotonic() - started
    )


def run_crawls(
    sim_url: str,
    database_url: str,
    pairs: Iterable[tuple[str, str]],
    *,
    parallel: int = 3,
    **options: Any,
) -> list[CrawlResult]:
    """Crawl each (source, city), a few at a time: separate processes, like the launcher."""
    pairs = list(pairs)
    with ThreadPoolExecutor(max(1, min(parallel, len(pairs)))) as pool:
        futures = [
            pool.submit(run_crawl, sim_url, database_url, source, city, **options)
            for source, city in pairs
        ]
        return [future.result() for future in futures]


@dataclass
class RunningCrawl:
    """A crawl process started in the background, its log in a file (for kill tests)."""

    source: str
    city: str
    process: subprocess.Popen
    log_path: Path
    started: float

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or `kill -9` would: no close hooks run."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait(self, timeout: float = CRAWL_TIMEOUT) -> CrawlResult:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return CrawlResult.of(
            self.source,
            self.city,
            self.process.returncode,
            self.log_path.read_text(errors="replace"),
            time.monotonic() - self.started,
        )


def start_crawl(
    sim_url: str,
    database_url: str,
    source: str,
    city: str,
    log_dir: Path,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunningCrawl:
    log_path = log_dir / f"{source}-{city}-{time.monotonic_ns()}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            crawl_command(source, city, settings),
            cwd=REPO_ROOT,
            env=crawl_env(sim_url, database_url, **(env or {})),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    return RunningCrawl(source, city, process, log_path, time.monotonic())


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def count_rows(database_url: str, city: str | None = None, source: str | None = None) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT count(*) FROM events WHERE (%(c)s::text IS NULL OR city = %(c)s)"
            " AND (%(s)s::text IS NULL OR source = %(s)s)",
            {"c": city, "s": source},
        ).fetchone()[0]


# -- the expected set -------------------------------------------------------------------


@dataclass
class Expected:
    """The events the database must hold: one per group of links (cross-source twins
    that the dedupe pipeline merges form one group), and each link's truth record."""

    cities: tuple[str, ...]
    sources: tuple[str, ...]
    groups: list[frozenset[str]]
    records: dict[str, dict[str, Any]]

    def group_of(self) -> dict[str, frozenset[str]]:
        return {link: group for group in self.groups for link in group}


def expected_events(
    simulator: Simulator, sources: Sequence[str], cities: Sequence[str]
) -> Expected:
    """The simulator's truth for these sources and cities, twins grouped."""
    records: dict[str, dict[str, Any]] = {}
    parent: dict[str, str] = {}

    def root(link: str) -> str:
        while parent[link] != link:
            parent[link] = parent[parent[link]]
            link = parent[link]
        return link

    for city in cities:
        for source in sources:
            for record in simulator.truth(source, city):
                records[record["link"]] = record
                parent.setdefault(record["link"], record["link"])
    for link, record in records.items():
        twin = record.get("twin")
        # A twin on a source this test does not crawl is not expected at all.
        if twin and twin["link"] in records:
            parent[root(link)] = root(twin["link"])
    groups: dict[str, set[str]] = {}
    for link in records:
        groups.setdefault(root(link), set()).add(link)
    return Expected(tuple(cities), tuple(sources), [frozenset(g) for g in groups.values()], records)


# -- the comparison ---------------------------------------------------------------------

STORED_SQL = """
    SELECT link, title, date::text AS date, to_char(time, 'HH24:MI') AS time, status,
           source, city
      FROM events WHERE city = ANY(%s) AND source = ANY(%s) ORDER BY link"""


@dataclass
class Comparison:
    """The database against the expected set."""

    expected: int
    stored: int
    lost: list[frozenset[str]]
    duplicated: list[frozenset[str]]
    unexpected: list[str]
    mismatched: list[str]
    cancelled: list[str]

    @property
    def exact(self) -> bool:
        return not (
            self.lost or self.duplicated or self.unexpected or self.mismatched or self.cancelled
        )

    @property
    def surplus(self) -> int:
        """Rows beyond one per expected event (duplicates and rows of no expected event)."""
        return sum(len(g) - 1 for g in self.duplicated) + len(self.unexpected)

    def summary(self) -> str:
        def some(values: list) -> str:
            shown = [sorted(v) if isinstance(v, frozenset) else v for v in values[:3]]
            return f"{len(values)} {shown}{' ...' if len(values) > 3 else ''}"

        return (
            f"expected {self.expected} events, stored {self.stored} rows; "
            f"lost {some(self.lost)}; duplicated {some(self.duplicated)}; "
            f"unexpected {some(self.unexpected)}; wrong title/date {some(self.mismatched)}; "
            f"not active {some(self.cancelled)}"
        )


def compare(database_url: str, expected: Expected) -> Comparison:
    """Which expected events the database lacks, holds twice, or holds wrongly."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cur.execute(STORED_SQL, (list(expected.cities), list(expected.sources))).fetchall()
    group_of = expected.group_of()
    held: dict[frozenset[str], list[str]] = {group: [] for group in expected.groups}
    unexpected, mismatched, cancelled = [], [], []
    for row in rows:
        link = row["link"]
        group = group_of.get(link)
        if group is None:
            unexpected.append(link)
            continue
        held[group].append(link)
        truth = expected.records[link]
        if (row["title"], row["date"], row["time"]) != (
            truth["title"],
            truth["date"],
            truth["time"],
        ):
            mismatched.append(
                f"{link}: {row['title']!r} {row['date']} {row['time']} != "
                f"{truth['title']!r} {truth['date']} {truth['time']}"
            )
        if row["status"] != "active":
            cancelled.append(link)
    return Comparison(
        expected=len(expected.groups),
        stored=len(rows),
        lost=[group for group, links in held.items() if not links],
        duplicated=[frozenset(links) for links in held.values() if len(links) > 1],
        unexpected=unexpected,
        mismatched=mismatched,
        cancelled=cancelled,
    )
