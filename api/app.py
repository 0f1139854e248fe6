"""The Starlette application: routes, error handling, and the lifespan that opens the database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from api import calendar_feed, events, scrape, subscriptions
from api.cache import ResponseCache
from api.errors import EXCEPTION_HANDLERS
from api.openapi import openapi
from api.page import STATIC_DIR, PageFiles
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url
from nocturne_crawl.launcher import CrawlLauncher
from nocturne_crawl.migrate import migrate
from nocturne_crawl.scheduler import build_scheduler

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    """
    summary: Liveness and database reachability.
    responses:
      200: {description: The app and its database answer.}
      503: {description: The database does not answer.}
    """
    async with request.app.state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return events.json_response({"status": "ok"})


def routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Route("/cities", events.list_cities, methods=["GET"]),
        # Before /events/{city}, whose pattern would also match "<city>.ics".
        Route("/events/{city}.ics", calendar_feed.events_calendar, methods=["GET"]),
        Route("/events/{city}", events.list_events, methods=["GET"]),
        Route("/subscribe", subscriptions.subscribe, methods=["POST"]),
        Route("/unsubscribe", subscriptions.unsubscribe, methods=["POST"]),
        Route("/confirm", subscriptions.confirm_page, methods=["GET"]),
        Route("/confirm", subscriptions.confirm, methods=["POST"]),
        Route("/scrape/{city}", scrape.start_scrape, methods=["POST"]),
        Route("/scrape/{city}", scrape.scrape_status, methods=["GET"]),
        Route("/crawls/{job_id}", scrape.crawl_job, methods=["GET"]),
        # The web page last: every API route above takes precedence over it.
        Mount("/", app=PageFiles(static_dir), name="page"),
    ]


def create_app(
    config: Config | None = None,
    conninfo: str | None = None,
    static_dir: Path = STATIC_DIR,
    launcher_factory: Callable[[Config, str], CrawlLauncher] | None = None,
) -> Starlette:
    """The app; `conninfo` overrides where the database is (tests pass their own), and
    `launcher_factory(config, conninfo)` how crawls are started (tests use other spiders)."""
    config = config or Config.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dsn = conninfo or database_url(config)
        migrate(dsn)
        pool = AsyncConnectionPool(
            dsn, min_size=config.db_pool_min, max_size=config.db_pool_max, open=False
        )
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.conninfo = dsn
        launcher = (launcher_factory or CrawlLauncher)(config, dsn)
        launcher.start_sweeper()
        app.state.launcher = launcher
        scheduler = None
        if config.scheduler_enabled:
            scheduler = build_scheduler(config, dsn, launcher)
            scheduler.start()
        try:
            async with app.state.events_cache.running(dsn):
                yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            # Running crawls go on and record their own outcome; queued ones fail.
            launcher.close()
            await pool.close()

    middleware = []
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type"],
            )
        )
    app = Starlette(
        routes=routes(static_dir),
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.cities_body = events.cities_body()
    app.state.openapi = None
    app.state.events_cache = ResponseCache(config.events_cache_entries, config.events_cache_ttl)
    app.state.launcher = None
    return app
