"""A local stand-in for Supabase's REST API (PostgREST), backed by a real PostgreSQL.

Hosted Supabase cannot be reached from tests, so this speaks the part of the PostgREST
contract the mirror uses, over real HTTP: `POST /rest/v1/events?on_conflict=link` with
`Prefer: resolution=merge-duplicates` and a JSON array body (an upsert), and
`GET /rest/v1/events` with `select`, `in.`/`gt.` filters, `order`, `offset`/`limit`, and
`DELETE /rest/v1/events` with filters (`Prefer: return=minimal` answers 204, otherwise
the deleted rows; a DELETE without a filter is refused, as Supabase's safeupdate does).
Requests need the `apikey` header and `Authorization: Bearer <key>`. Faults can be
queued: an HTTP 500, or a response slower than the client's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import uvicorn
from psycopg import sql
from psycopg.rows import dict_row
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_FILTER_RE = re.compile(r"^(eq|gt|gte|lt|in)\.(.*)$", re.S)
_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<"}


def in_list(operand: str) -> list[str]:
    """The values of an `in.(...)` operand, as PostgREST reads them: comma-separated, a
    value in double quotes may hold commas, parentheses and `\\`-escaped quotes."""
    if not (operand.startswith("(") and operand.endswith(")")):
        raise ValueError(f"bad in list {operand!r}")
    text, values, i = operand[1:-1], [], 0
    if not text:
        return []
    while i <= len(text):
        if i < len(text) and text[i] == '"':
            value, i = [], i + 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                value.append(text[i])
                i += 1
            if i >= len(text):
                raise ValueError(f"unterminated quote in {operand!r}")
            i += 1
            if i < len(text) and text[i] != ",":
                raise ValueError(f"text after a quoted value in {operand!r}")
            values.append("".join(value))
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            values.append(text[i:end])
            i = end
        i += 1
    return values


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, default=str), status, media_type="application/json")


@dataclass
class SeenRequest:
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    rows: int


@dataclass
class PostgrestStandIn:
    conninfo: str
    key: str
    hang_seconds: float = 3.0
    faults: deque[tuple[str, str | None]] = field(default_factory=deque)
    requests: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, fault: str, times: int = 1, method: str | None = None) -> None:
        """Answer the next `times` requests (of `method` only, if given) with `fault`:
        '500' or 'timeout'."""
        self.faults.extend([(fault, method)] * times)

    def _next_fault(self, method: str) -> str | None:
        for queued in self.faults:
            if queued[1] in (None, method):
                self.faults.remove(queued)
                return queued[0]
        return None

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/rest/v1/events", self.events, methods=["GET", "POST", "DELETE"])]
        )

    async def events(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.key or request.headers.get("authorization") != (
            f"Bearer {self.key}"
        ):
            return _json({"message": "Invalid API key"}, 401)
        body = await request.body()
        rows = orjson.loads(body) if body else []
        with self.lock:
            self.requests.append(
                SeenRequest(
                    request.method,
                    dict(request.query_params),
                    {k.lower(): v for k, v in request.headers.items()},
                    len(rows) if isinstance(rows, list) else 1,
                )
            )
            fault = self._next_fault(request.method)
        if fault == "500":
            return _json({"message": "internal error", "code": "XX000"}, 500)
        if fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return _json({"message": "too late"}, 504)
        if request.method == "POST":
            return await self._upsert(request, rows)
        if request.method == "DELETE":
            return await self._delete(request)
        return await self._select(request)

    async def _upsert(self, request: Request, rows: Any) -> Response:
        prefer = request.headers.get("prefer", "")
        if request.query_params.get("on_conflict") != "link" or (
            "resolution=merge-duplicates" not in prefer
        ):
            return _json({"message": "only upserts on link are served here"}, 400)
        if not isinstance(rows, list) or not rows:
            return _json({"message": "body must be a JSON array"}, 400)
        columns = request.query_params.get("columns", "").replace('"', "").split(",")
        columns = [c for c in columns if c] or list(rows[0])
        statement = sql.SQL(
            """INSERT INTO events ({cols})
               SELECT {cols} FROM json_populate_recordset(NULL::events, %s::json)
               ON CONFLICT (link) DO UPDATE SET {sets}
               RETURNING to_jsonb(events.*) AS row"""
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                for c in columns
                if c != "link"
            ),
        )
        try:
            result = await run_in_threadpool(self._run, statement, (orjson.dumps(rows).decode(),))
        except psycopg.Error as exc:
            return _json({"message": str(exc), "code": exc.sqlstate}, 409)
        return _json([r["row"] for r in result], 201)

    @staticmethod
    def _filters(request: Request) -> tuple[list[sql.Composable], list[Any]]:
        """The request's column filters as SQL conditions; ValueError for a bad one."""
        where: list[sql.Composable] = []
        args: list[Any] = []
        for name, value in request.query_params.multi_items():
            if name in ("select", "order", "offset", "limit", "columns"):
                continue
            match = _FILTER_RE.match(value)
            if not match:
                raise ValueError(f"bad filter {name}")
            op, operand = match.groups()
            if op == "in":
                where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(name)))
                args.append(in_list(operand))
            else:
                where.append(sql.SQL("{} {} %s").format(sql.Identifier(name), sql.SQL(_OPS[op])))
                args.append(operand)
        return where, args

    async def _delete(self, request: Request) -> Response:
        try:
            where, args = self._filters(request)
        except ValueError as exc:
            return _json({"message": str(exc), "code": "PGRST100"}, 400)
        if not where:
            return _json({"message": "DELETE requires a WHERE clause", "code": "21000"}, 400)
        statement = sql.SQL(
            "DELETE FROM events WHERE {} RETURNING to_jsonb(events.*) AS row"
        ).format(sql.SQL(" AND ").join(where))
        try:
            result = await run_in_threadpool(self._run, statement, args)
        except psycopg.Error as exc:
            return _json({"message": str(exc), "code": exc.sqlstate}, 409)
        if "return=representation" in request.headers.get("prefer", ""):
            return _json([r["row"] for r in result], 200)
        return Response(status_code=204)

    async def _select(self, request: Request) -> Response:
        params = request.query_params
        columns = [c for c in params.get("select", "*").split(",") if c]
        try:
            where, args = self._filters(request)
        except ValueError as exc:
            return _json({"message": str(exc), "code": "PGRST100"}, 400)
        order = [
            sql.SQL("{} {}").format(
                sql.Identifier(part.split(".")[0]),
                sql.SQL("DESC" if part.endswith(".desc") else "ASC"),
            )
            for part in params.get("order", "id").split(",")
        ]
        statement = sql.SQL(
            "SELECT {cols} FROM events WHERE {where} ORDER BY {order} OFFSET %s LIMIT %s"
        ).format(
            cols=sql.SQL("*")
            if columns == ["*"]
            else sql.SQL(", ").join(map(sql.Identifier, columns)),
            where=sql.SQL(" AND ").join(where) if where else sql.SQL("true"),
            order=sql.SQL(", ").join(order),
        )
        args += [int(params.get("offset", 0)), int(params.get("limit", 1000))]
        result = await run_in_threadpool(self._run, statement, args)
        return _json(result)

    def _run(self, statement: sql.Composable, args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            rows = conn.execute(statement, args).fetchall()
        # PostgREST answers with JSON: timestamps and dates as ISO strings.
        return orjson.loads(orjson.dumps(rows, default=str))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_postgrest(conninfo: str, key: str) -> Iterator[tuple[PostgrestStandIn, str]]:
    """Run the stand-in on a free loopback port; yields it and its base URL."""
    stand_in = PostgrestStandIn(conninfo, key)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            stand_in.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("PostgREST stand-in did not start")
        time.sleep(0.02)
    try:
        yield stand_in, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
