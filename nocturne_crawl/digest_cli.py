"""`nocturne digest`: send (or preview) the email digests now."""

from __future__ import annotations

import click

from nocturne_crawl.cities import get_city
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url
from nocturne_crawl.digest import run_digest
from nocturne_crawl.migrate import migrate


@click.command("digest")
@click.option(
    "--city", "cities", multiple=True, help="Only this city id (repeatable); default: all."
)
@click.option("--dry-run", is_flag=True, help="Show who would get what; send and log nothing.")
def digest_command(cities: tuple[str, ...], dry_run: bool) -> None:
    """Email each subscriber the events that are new since their last digest."""
    for city_id in cities:
        if get_city(city_id) is None:
            raise click.BadParameter(f"unknown city {city_id!r}", param_hint="--city")
    config = Config.from_env()
    dsn = database_url(config)
    migrate(dsn)
    if not dry_run and not config.smtp_url:
        click.echo(f"SMTP_URL is not set: writing mails to {config.outbox_dir}")
    report = run_digest(config, dsn, cities=list(cities) or None, dry_run=dry_run)
    if dry_run:
        for plan in report.planned:
            sub = plan.subscriber
            click.echo(
                f"{sub.email} ({sub.city.id}): {plan.total} new event(s), {len(plan.events)} listed"
            )
    click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)
