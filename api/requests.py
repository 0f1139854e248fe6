"""Reading client input: bounded JSON bodies and query parameters, with 4xx errors."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from starlette.requests import Request

from api.errors import ApiError
from nocturne_crawl.cities import City, get_city


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object body, refusing oversized or malformed ones."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise ApiError(413, f"request body larger than {max_bytes} bytes")
        except ValueError:
            raise ApiError(400, "invalid Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"request body larger than {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise ApiError(400, "request body must be a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def require_city(city_id: str) -> City:
    city = get_city(city_id)
    if city is None:
        raise ApiError(404, f"unknown city {city_id!r}; GET /cities lists the known ones")
    return city


def query_date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a date as YYYY-MM-DD, got {raw[:40]!r}") from None


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer in {low}..{high}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be an integer in {low}..{high}, got {value}")
    return value


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"{name} must be true or false")
