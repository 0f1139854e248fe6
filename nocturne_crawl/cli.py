"""The `nocturne` command. Later features add their commands with `main.add_command`."""

from __future__ import annotations

import logging
import sys

import click

from nocturne_crawl.cities import CatalogError, catalog
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url, redact
from nocturne_crawl.migrate import migrate


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug output.")
def main(verbose: bool) -> None:
    """Nocturne: a city's events from Eventbrite, Meetup and Luma."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command("migrate")
def migrate_command() -> None:
    """Apply pending database migrations."""
    config = Config.from_env()
    dsn = database_url(config)
    applied = migrate(dsn)
    where = redact(dsn)
    if applied:
        click.echo(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        click.echo(f"database {where} is up to date")


@main.command("cities")
def cities_command() -> None:
    """List the city catalog."""
    try:
        cities = catalog()
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    for city in cities.values():
        click.echo(f"{city.id:28} {city.name:16} {city.timezone}")


@main.command("run")
@click.option("--host", default=None, help="Bind address (HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (WEB_WORKERS).")
def run_command(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API and the web page."""
    import uvicorn

    config = Config.from_env()
    # Resolve (and start, when embedded) the database once, before workers fork.
    dsn = database_url(config)
    migrate(dsn)
    click.echo(f"database: {redact(dsn)}")
    if not config.database_url:
        import os

        os.environ["DATABASE_URL"] = dsn
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or config.host,
        port=port or config.port,
        workers=workers or config.workers,
        log_level="info",
        access_log=False,
    )


from nocturne_crawl.simulator.cli import simulate_command  # noqa: E402

main.add_command(simulate_command)

from nocturne_crawl.digest_cli import digest_command  # noqa: E402

main.add_command(digest_command)

from nocturne_crawl.sync import sync_command  # noqa: E402

main.add_command(sync_command)

from nocturne_crawl import crawlcli  # noqa: E402

main.add_command(crawlcli.crawl_command)
main.add_command(crawlcli.schedule_command)
main.add_command(crawlcli.crontab_command)

if __name__ == "__main__":
    sys.exit(main())
