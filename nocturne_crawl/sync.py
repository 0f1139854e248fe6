"""`nocturne sync`: bring the local and the shared (Supabase) database level."""

from __future__ import annotations

import click

from nocturne_crawl.cities import catalog
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url, redact
from nocturne_crawl.migrate import migrate
from nocturne_crawl.mirror import Mirror, shared_transport


@click.command("sync")
@click.option(
    "--init",
    is_flag=True,
    help="Create Nocturne's schema on the shared database (runs the migrations there; "
    "needs SUPABASE_DB_URL).",
)
@click.option("--city", "cities", multiple=True, help="Pull only these cities (default: all).")
@click.option("--no-pull", is_flag=True, help="Only push local rows not yet mirrored.")
def sync_command(init: bool, cities: tuple[str, ...], no_pull: bool) -> None:
    """Push pending rows and local deletions to the shared database, then pull what other
    installs added."""
    config = Config.from_env()
    if init:
        if not config.supabase_db_url:
            raise click.ClickException(
                "--init needs SUPABASE_DB_URL (the shared database's PostgreSQL URL); "
                "the REST API cannot create tables"
            )
        applied = migrate(config.supabase_db_url)
        where = redact(config.supabase_db_url)
        click.echo(f"shared database {where}: {len(applied)} migration(s) applied")
        return
    known = catalog()
    unknown = [c for c in cities if c not in known]
    if unknown:
        raise click.ClickException(f"unknown city: {', '.join(unknown)}")
    transport = shared_transport(config)
    if transport is None:
        raise click.ClickException(
            "no shared database configured: set SUPABASE_DB_URL, or SUPABASE_URL and SUPABASE_KEY"
        )
    local = database_url(config)
    migrate(local)
    mirror = Mirror(
        local,
        transport,
        batch_size=config.sync_batch_size,
        concurrency=config.sync_concurrency,
        retries=config.sync_retries,
    )
    try:
        counts = mirror.push_pending()
        click.echo(f"pushed {counts.pushed} row(s), {counts.failed} still pending")
        click.echo(
            f"deleted {counts.deleted} link(s) on the shared side, "
            f"{counts.deletes_pending} deletion(s) still pending"
        )
        if not no_pull:
            pulled = mirror.pull(cities or list(known))
            click.echo(f"pulled {pulled} row(s) from {transport.target}")
    finally:
        mirror.close()
    if counts.failed or counts.deletes_pending:
        raise SystemExit(1)
