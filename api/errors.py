"""JSON errors: every 4xx/5xx the API sends is `{"error": "<what went wrong>"}`."""

from __future__ import annotations

import logging

import orjson
import psycopg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client-facing error with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}  # more fields beside "error", e.g. retry_after


def json_error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    return Response(
        orjson.dumps({"error": message, **(extra or {})}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.message, exc.headers, exc.extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "not found", 405: "method not allowed"}
    return json_error(exc.status_code, messages.get(exc.status_code, str(exc.detail)), exc.headers)


async def _database_down(request: Request, exc: Exception) -> Response:
    # Never echo the driver's message: it can carry the connection string.
    log.error(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return json_error(503, "database unavailable, try again shortly", {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_error(500, "internal error")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_error,
    psycopg.OperationalError: _database_down,
    Exception: _unexpected,
}
