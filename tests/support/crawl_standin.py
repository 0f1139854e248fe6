"""A stand-in for the crawl launcher behind `POST/GET /scrape/{city}` (issue 5).

It speaks the scrape API contract (202 with run_id and jobs, 429 with retry_after, status
idle/queued/running/finished/failed) and does what a crawl does to the page's world: after
a short while it writes new events into the real database, or reports failure. Browser
tests use it until the real launcher and the site simulator are on main.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.events import json_response
from api.requests import require_city
from tests.support.events import insert_event


@dataclass
class CrawlStandIn:
    conninfo: str
    mode: str = "ok"  # ok | fail | limit
    new_events: int = 4
    queued_seconds: float = 0.4
    running_seconds: float = 1.2
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0

    def routes(self) -> list[Route]:
        return [
            Route("/scrape/{city}", self.start, methods=["POST"]),
            Route("/scrape/{city}", self.status, methods=["GET"]),
        ]

    async def start(self, request: Request) -> Response:
        city = require_city(request.path_params["city"])
        self.posts += 1
        if self.mode == "limit":
            raise ApiError(429, "this city was crawled moments ago", {"Retry-After": "240"})
        run = {
            "city": city.id,
            "run_id": uuid.uuid4().hex,
            "status": "queued",
            "items_new": 0,
            "error": None,
            "sources": [],
        }
        self.runs[city.id] = run
        asyncio.get_running_loop().create_task(self._crawl(city.id, city.timezone, run))
        body = {
            "message": f"Scraping initiated for {city.id}",
            "city": city.id,
            "note": "Events will be synced to shared database in real-time",
            "joined": False,
            "run_id": run["run_id"],
            "jobs": [{"job_id": f"{run['run_id']}-luma", "spider": "luma", "status": "queued"}],
        }
        return json_response(body, status=202)

    async def status(self, request: Request) -> Response:
        city = require_city(request.path_params["city"])
        idle = {"city": city.id, "run_id": None, "status": "idle", "items_new": 0, "error": None}
        return json_response(self.runs.get(city.id, idle))

    async def _crawl(self, city: str, tz: str, run: dict[str, Any]) -> None:
        await asyncio.sleep(self.queued_seconds)
        run["status"] = "running"
        await asyncio.sleep(self.running_seconds)
        if self.mode == "fail":
            run.update(status="failed", error="every source failed")
            return
        await asyncio.to_thread(self._insert, city, tz, run["run_id"])
        run.update(status="finished", items_new=self.new_events)

    def _insert(self, city: str, tz: str, run_id: str) -> None:
        soon = datetime.now(UTC) + timedelta(hours=3)
        with psycopg.connect(self.conninfo) as conn:
            for i in range(self.new_events):
                insert_event(
                    conn,
                    city=city,
                    tz=tz,
                    title=f"Found by refresh #{i}",
                    link=f"https://lu.ma/refresh-{run_id[:8]}-{i}",
                    source="luma",
                    starts_at=soon + timedelta(minutes=10 * i),
                )
