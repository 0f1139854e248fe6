"""A local stand-in for Supabase's REST API (PostgREST), backed by a real PostgreSQL.

Hosted Supabase cannot be reached from tests, so this speaks the part of the PostgREST
contract the mirror uses, over real HTTP: `POST /rest/v1/events?on_conflict=link` with
`Prefer: resolution=merge-duplicates` and a JSON array body (an upsert), and
`GET /rest/v1/events` with `select`, `in.`/`gt.` filters, `order`, `offset`/`limit`.
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
    faults: deque[str] = field(default_factory=deque)
    requests: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, fault: str, times: int = 1) -> None:
        """Answer the next `times` requests with `fault`: '500' or 'timeout'."""
        self.faults.extend([fault] * times)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/rest/v1/events", self.events, methods=["GET", "POST"])])

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
            fault = self.faults.popleft() if self.faults else None
        if fault == "500":
            return _json({"message": "internal error", "code": "XX000"}, 500)
        if fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return _json({"message": "too late"}, 504)
        if request.method == "POST":
            return await self._upsert(request, rows)
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

    async def _select(self, request: Request) -> Response:
        params = request.query_params
        columns = [c for c in params.get("select", "*").split(",") if c]
        where, args = [], []
        for name, value in params.multi_items():
            if name in ("select", "order", "offset", "limit"):
                continue
            match = _FILTER_RE.match(value)
            if not match:
                return _json({"message": f"bad filter {name}"}, 400)
            op, operand = match.groups()
            if op == "in":
                where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(name)))
                args.append([v.strip('"') for v in operand.strip("()").split(",")])
            else:
                where.append(sql.SQL("{} {} %s").format(sql.Identifier(name), sql.SQL(_OPS[op])))
                args.append(operand)
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
