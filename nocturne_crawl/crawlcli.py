"""`nocturne crawl`, `nocturne schedule`, `nocturne crontab`: crawls from the command line."""

from __future__ import annotations

import dataclasses
import shlex
import signal
import sys
import threading
import time
from typing import Any

import click

from nocturne_crawl.cities import SOURCES, catalog
from nocturne_crawl.config import REPO_ROOT, Config
from nocturne_crawl.db import database_url, redact
from nocturne_crawl.launcher import CrawlLauncher, CrawlTicket
from nocturne_crawl.migrate import migrate

DONE = ("finished", "failed")


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="-s")
        settings[name] = value
    return settings


def _row(job: dict[str, Any], city: str) -> str:
    return (
        f"{city:26} {job['spider']:12} {job['status']:9} {job['pages']:>6} "
        f"{job['items_scraped']:>7} {job['items_new']:>6} {job['items_updated']:>8}"
    )


HEADER = (
    f"{'CITY':26} {'SOURCE':12} {'STATUS':9} {'PAGES':>6} {'ITEMS':>7} {'NEW':>6} {'UPDATED':>8}"
)


class Progress:
    """Live per-job lines on a terminal (redrawn in place); one line per change otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.drawn = 0
        self.seen: dict[str, str] = {}

    def show(self, jobs: list[dict[str, Any]]) -> None:
        if self.quiet:
            return
        if self.tty:
            if self.drawn:
                click.echo(f"\x1b[{self.drawn}F", nl=False)
            lines = [HEADER, *(_row(j, j["city"]) for j in jobs)]
            for line in lines:
                click.echo("\x1b[2K" + line)
            self.drawn = len(lines)
            return
        for job in jobs:
            if self.seen.get(job["job_id"]) != job["status"]:
                self.seen[job["job_id"]] = job["status"]
                click.echo(_row(job, job["city"]))


def _summary(jobs: list[dict[str, Any]], elapsed: float) -> None:
    click.echo("")
    click.echo(HEADER + f" {'SECONDS':>8}  ERROR")
    for job in jobs:
        seconds = ""
        if job["started_at"] and job["finished_at"]:
            seconds = f"{(job['finished_at'] - job['started_at']).total_seconds():.1f}"
        click.echo(f"{_row(job, job['city'])} {seconds:>8}  {job['error'] or ''}")
    failed = sum(1 for j in jobs if j["status"] == "failed")
    total_new = sum(j["items_new"] for j in jobs)
    total_items = sum(j["items_scraped"] for j in jobs)
    click.echo(
        f"\n{len(jobs)} crawl(s) in {elapsed:.1f} s: {total_items} items, {total_new} new, "
        f"{failed} failed"
    )


@click.command("crawl")
@click.argument("cities", nargs=-1)
@click.option("--all", "all_cities", is_flag=True, help="Crawl every catalog city.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help=f"Spider to run (repeatable; default: {', '.join(SOURCES)}).",
)
@click.option(
    "-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="Scrapy setting."
)
@click.option(
    "-j", "--concurrency", type=click.IntRange(1, 64), help="Crawls at once (CRAWL_CONCURRENCY)."
)
@click.option("--trigger", type=click.Choice(["cli", "cron"]), default="cli", show_default=True)
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds to wait.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary.")
def crawl_command(
    cities: tuple[str, ...],
    all_cities: bool,
    sources: tuple[str, ...],
    settings: tuple[str, ...],
    concurrency: int | None,
    trigger: str,
    timeout: float,
    quiet: bool,
) -> None:
    """Crawl CITIES (or --all) now, in the foreground; exit status 1 if any crawl failed."""
    known = catalog()
    if all_cities == bool(cities):
        raise click.UsageError("name one or more cities, or --all")
    unknown = [c for c in cities if c not in known]
    if unknown:
        raise click.UsageError(f"unknown city {unknown[0]!r}; `nocturne cities` lists them")
    targets = list(known) if all_cities else list(dict.fromkeys(cities))
    config = Config.from_env()
    if concurrency:
        config = dataclasses.replace(config, crawl_concurrency=concurrency)
    dsn = database_url(config)
    migrate(dsn)
    scrapy_settings = {"NOCTURNE_HEARTBEAT_SECONDS": "1", **_parse_settings(settings)}
    launcher = CrawlLauncher(
        config, dsn, spiders=tuple(sources) or SOURCES, settings=scrapy_settings
    )
    started = time.monotonic()
    progress = Progress(quiet)
    try:
        tickets: list[CrawlTicket] = []
        for city in targets:
            ticket = launcher.request(city, trigger=trigger, enforce_limits=False)
            if ticket.joined and not quiet:
                click.echo(f"{city}: joining the crawl already running (run {ticket.run_id})")
            tickets.append(ticket)
        run_ids = [t.run_id for t in tickets]
        deadline = started + timeout
        while True:
            launcher.sweep()
            jobs = [j for run_id in run_ids for j in launcher.run(run_id)]
            progress.show(jobs)
            if all(j["status"] in DONE for j in jobs) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: stopping the crawls", err=True)
        launcher.close(cancel_running=True, timeout=30)
        sys.exit(130)
    _summary(jobs, time.monotonic() - started)
    launcher.close(cancel_running=True, timeout=30)
    if any(j["status"] != "finished" for j in jobs):
        sys.exit(1)


@click.command("schedule")
def schedule_command() -> None:
    """Run the crawl scheduler (CRAWL_CRON) on its own, until interrupted."""
    from nocturne_crawl.scheduler import build_scheduler

    config = Config.from_env()
    dsn = database_url(config)
    migrate(dsn)
    stop = threading.Event()
    # Before anything is printed: whoever waits for the output may signal right after it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    launcher = CrawlLauncher(config, dsn)
    launcher.start_sweeper()
    scheduler = build_scheduler(config, dsn, launcher)
    scheduler.start()
    click.echo(f"scheduler running on {redact(dsn)}; CRAWL_CRON={config.crawl_cron!r} (UTC)")
    for job in scheduler.scheduler.get_jobs():
        click.echo(f"  {job.id}: next run {job.next_run_time}")
    stop.wait()
    click.echo("stopping the scheduler; running crawls finish on their own")
    scheduler.shutdown()
    launcher.close()


def crontab_lines(config: Config, python: str, repo: str) -> list[str]:
    """System-cron lines equivalent to the scheduler: one per city, staggered with sleep."""
    log = shlex.quote(str(config.logs_dir / "cron.log"))
    lines = [
        f"# Nocturne crawls: CRAWL_CRON={config.crawl_cron!r} in UTC, one city every "
        f"{config.crawl_stagger_seconds} s. Install: nocturne crontab | crontab -",
        "# Settings (DATABASE_URL, ...) come from the repository's .env.",
        "CRON_TZ=UTC",
    ]
    for index, city in enumerate(catalog()):
        delay = index * config.crawl_stagger_seconds
        wait = f"sleep {delay} && " if delay else ""
        lines.append(
            f"{config.crawl_cron} {wait}cd {shlex.quote(repo)} && {shlex.quote(python)} "
            f"-m nocturne_crawl.cli crawl {city} --trigger cron --quiet >> {log} 2>&1"
        )
    return lines


@click.command("crontab")
def crontab_command() -> None:
    """Print crontab lines that crawl every city like the scheduler does."""
    config = Config.from_env()
    for line in crontab_lines(config, sys.executable, str(REPO_ROOT)):
        click.echo(line)


COMMANDS = (crawl_command, schedule_command, crontab_command)
