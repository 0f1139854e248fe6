"""The Starlette application: routes, error handling, and the lifespan that opens the database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from api import calendar_feed, events, subscriptions
from api.cache import ResponseCache
from api.errors import EXCEPTION_HANDLERS
from api.openapi import openapi
from api.page import STATIC_DIR, PageFiles
from nocturne_crawl.config import Config
from nocturne_crawl.db import database_url
from nocturne_crawl.migrate import migrate

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
        # The web page last: every API route above takes precedence over it.
        Mount("/", app=PageFiles(static_dir), name="page"),
    ]


def create_app(
    config: Config | None = None, conninfo: str | None = None, static_dir: Path = STATIC_DIR
) -> Starlette:
    """The app; `conninfo` overrides where the database is (tests pass their own)."""
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
        try:
            async with app.state.events_cache.running(dsn):
                yield
        finally:
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
    return app
