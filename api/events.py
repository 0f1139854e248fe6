"""`GET /cities` and `GET /events/{city}`: the seed's read API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from psycopg import sql
from starlette.requests import Request
from starlette.responses import Response

from api.cache import CachedBody, ResponseCache
from api.errors import ApiError
from api.requests import query_bool, query_date, query_int, require_city
from nocturne_crawl.cities import City, catalog
from nocturne_crawl.event_filters import EventFilters, FilterError
from nocturne_crawl.localtime import local_day_bounds, today_in

MAX_LIMIT = 500
DEFAULT_LIMIT = 100

# The seed's fields first, then what the page and calendar feed also need.
EVENT_COLUMNS = sql.SQL(
    """id, title, link, date::text AS date, to_char(time, 'HH24:MI') AS time, location,
       description, source, city, starts_at, ends_at, timezone, latitude, longitude,
       is_online, is_free, price, image_url, status"""
)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers
    )


async def list_cities(request: Request) -> Response:
    """
    summary: The city catalog.
    responses:
      200:
        description: Every city Nocturne knows.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CityList'}
    """
    body = request.app.state.cities_body
    return Response(body, media_type="application/json", headers={"Cache-Control": "max-age=300"})


def cities_body() -> bytes:
    return orjson.dumps({"cities": [c.public() for c in catalog().values()]})


@dataclass
class EventQuery:
    """The selection of one city's events that a request asks for."""

    city: City
    start_date: date
    end_date: date | None
    limit: int
    include_cancelled: bool = False
    conditions: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    columns: sql.Composable = field(default_factory=lambda: EVENT_COLUMNS)

    def statement(self) -> tuple[sql.Composed, list[Any]]:
        lower, _ = local_day_bounds(self.start_date, self.city.tz)
        where = [sql.SQL("city = %s"), sql.SQL("starts_at >= %s")]
        params: list[Any] = [self.city.id, lower]
        if self.end_date is not None:
            _, upper = local_day_bounds(self.end_date, self.city.tz)
            where.append(sql.SQL("starts_at < %s"))
            params.append(upper)
        if not self.include_cancelled:
            where.append(sql.SQL("status = 'active'"))
        where.extend(self.conditions)
        params.extend(self.params)
        params.append(self.limit)
        query = sql.SQL(
            "SELECT {cols} FROM events WHERE {where} ORDER BY starts_at, id LIMIT %s"
        ).format(cols=self.columns, where=sql.SQL(" AND ").join(where))
        return query, params


def parse_filters(request: Request) -> EventFilters:
    """`free`, `online` and `q` from the query string, or a 400."""
    try:
        return EventFilters.parse(request.query_params)
    except FilterError as exc:
        raise ApiError(400, str(exc)) from None


def parse_event_query(
    request: Request, city: City, include_cancelled_default: bool = False
) -> EventQuery:
    start = query_date(request, "start_date")
    end = query_date(request, "end_date")
    if start is None:
        start = today_in(city.tz) if end is None or end >= today_in(city.tz) else end
    if end is not None and end < start:
        raise ApiError(400, "end_date must not be before start_date")
    conditions, params = parse_filters(request).conditions()
    return EventQuery(
        city=city,
        start_date=start,
        end_date=end,
        limit=query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        include_cancelled=query_bool(request, "include_cancelled", include_cancelled_default),
        conditions=conditions,
        params=params,
    )


async def fetch_events(request: Request, selection: EventQuery) -> list[dict[str, Any]]:
    query, params = selection.statement()
    pool = request.app.state.pool
    # Binary results: timestamps and numbers load without text parsing (~2x faster here).
    async with pool.connection() as conn, conn.cursor(binary=True) as cur:
        await cur.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def list_events(request: Request) -> Response:
    """
    summary: A city's events, upcoming first.
    parameters:
      - {name: city, in: path, required: true, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
      - {name: start_date, in: query, schema: {type: string, format: date}}
      - {name: end_date, in: query, schema: {type: string, format: date}}
      - {name: include_cancelled, in: query, schema: {type: boolean, default: false}}
      - {name: free, in: query, description: Only free (true) or only paid (false) events., schema: {type: boolean}}
      - {name: online, in: query, schema: {type: string, enum: [include, exclude, only], default: include}}
      - {name: q, in: query, description: Words to find in title, venue or description (prefix match, all words)., schema: {type: string, maxLength: 200}}
    responses:
      200:
        description: Events ordered by start; from today (city time) unless start_date says otherwise.
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/Event'}}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    city = require_city(request.path_params["city"])
    cache: ResponseCache = request.app.state.events_cache
    # The city's date is part of the key: without a start_date "upcoming" moves on at
    # local midnight. Only valid queries are stored, so a hit needs no parsing.
    key = (city.id, request.scope["query_string"], today_in(city.tz))
    answer = cache.get(key)
    if answer is None:
        selection = parse_event_query(request, city)
        generation = cache.generation
        body = orjson.dumps(await fetch_events(request, selection))
        # Compress only what will be cached: compressing every miss would cost more than it saves.
        answer = CachedBody.of(body, compress=cache.active)
        cache.put(key, answer, generation)
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == answer.etag:
        return Response(status_code=304, headers=headers)
    if answer.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(answer.gzipped, media_type="application/json", headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)
