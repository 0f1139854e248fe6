"""`nocturne simulate`: serve the three simulated sites until Ctrl-C."""

from __future__ import annotations

from datetime import date

import click


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port.")
@click.option(
    "--events", type=int, default=60, show_default=True, help="Events per city and source."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the generated events."
)
@click.option(
    "--days", type=int, default=30, show_default=True, help="Days after the anchor the events span."
)
@click.option("--anchor", default=None, help="Anchor date YYYY-MM-DD (default: each city's today).")
@click.option(
    "--latency-ms", type=int, default=0, show_default=True, help="Delay added to every response."
)
@click.option(
    "--gql-cap", type=int, default=380, show_default=True, help="Meetup events per gql2 query."
)
def simulate_command(
    host: str,
    port: int,
    events: int,
    seed: int,
    days: int,
    anchor: str | None,
    latency_ms: int,
    gql_cap: int,
) -> None:
    """Serve simulated Eventbrite, Meetup and Luma pages for offline crawls."""
    import uvicorn

    from nocturne_crawl.simulator import Simulator

    try:
        anchor_day = date.fromisoformat(anchor) if anchor else None
    except ValueError as exc:
        raise click.BadParameter(f"--anchor must be YYYY-MM-DD: {exc}") from exc
    simulator = Simulator(
        seed=seed,
        events_per_city=events,
        anchor=anchor_day,
        days=days,
        latency_ms=latency_ms,
        gql_cap=gql_cap,
    )
    url = f"http://{host}:{port}"
    click.echo(f"simulator on {url} ({events} events per city and source, seed {seed})")
    click.echo("point the crawlers at it with:")
    for name in ("EVENTBRITE_BASE_URL", "MEETUP_BASE_URL", "LUMA_API_BASE_URL"):
        click.echo(f"  export {name}={url}")
    click.echo(
        f"truth: {url}/_sim/truth?source=luma&city=ca--los-angeles   faults: POST {url}/_sim/faults"
    )
    uvicorn.run(
        simulator.app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
