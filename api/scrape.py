"""`POST /scrape/{city}`, `GET /scrape/{city}` and `GET /crawls/{job_id}`: crawls on demand.

The handlers hand the work to the app's `CrawlLauncher` in a worker thread (its database
calls are blocking, and short); the crawl itself runs in separate processes.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.errors import ApiError
from api.events import json_response
from api.requests import require_city
from nocturne_crawl.backends import LaunchError
from nocturne_crawl.launcher import CrawlLauncher, CrawlRefused


def _launcher(request: Request) -> CrawlLauncher:
    return request.app.state.launcher


async def start_scrape(request: Request) -> Response:
    """
    summary: Start crawling a city's events (or join the crawl already running).
    parameters:
      - {name: city, in: path, required: true, schema: {type: string}}
    responses:
      202:
        description: The crawl was started, or an earlier one still running was joined.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ScrapeStarted'}
      404: {description: Unknown city.}
      429:
        description: The city was crawled too recently, or this client started too many crawls.
        headers:
          Retry-After: {schema: {type: integer}, description: Seconds to wait.}
      503: {description: The crawl backend (Scrapyd) is unreachable.}
    """
    city = require_city(request.path_params["city"])
    client = request.client.host if request.client else None
    try:
        ticket = await run_in_threadpool(
            _launcher(request).request, city.id, trigger="api", client=client
        )
    except CrawlRefused as exc:
        return json_response(
            {"error": exc.message, "retry_after": exc.retry_after},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except LaunchError as exc:
        raise ApiError(503, f"the crawl could not be started: {exc}") from None
    return json_response(
        {
            "message": f"Scraping initiated for {city.id}",
            "city": city.id,
            "note": "Events will be synced to shared database in real-time",
            "joined": ticket.joined,
            "run_id": ticket.run_id,
            "jobs": ticket.jobs,
        },
        status=202,
    )


async def scrape_status(request: Request) -> Response:
    """
    summary: The state of a city's latest crawl, per source, with its counts.
    parameters:
      - {name: city, in: path, required: true, schema: {type: string}}
    responses:
      200:
        description: The latest run (status idle when the city was never crawled).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ScrapeStatus'}
      404: {description: Unknown city.}
    """
    city = require_city(request.path_params["city"])
    body = await run_in_threadpool(_launcher(request).latest, city.id)
    return json_response(body, headers={"Cache-Control": "no-store"})


async def crawl_job(request: Request) -> Response:
    """
    summary: One crawl job (one source of one city's crawl).
    parameters:
      - {name: job_id, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: The job's state and counts.}
      404: {description: No such job.}
    """
    job_id = request.path_params["job_id"]
    if len(job_id) > 64:
        raise ApiError(404, "no crawl job with that id")
    body = await run_in_threadpool(_launcher(request).job, job_id)
    if body is None:
        raise ApiError(404, "no crawl job with that id")
    return json_response(body, headers={"Cache-Control": "no-store"})
