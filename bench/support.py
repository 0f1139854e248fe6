"""What the benchmarks share: a persistent benchmark database, a server process, a load generator."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
from psycopg import sql

from nocturne_crawl.config import Config
from nocturne_crawl.db import embedded_server_uri, with_database
from nocturne_crawl.migrate import migrate
from tests.support.processes import free_port, server_process

__all__ = ["bench_database", "free_port", "measure", "serve_app"]


def bench_database(name: str) -> str:
    """A migrated database kept between runs (on DATABASE_URL's server, else the embedded one)."""
    admin = os.environ.get("DATABASE_URL") or embedded_server_uri(Config.from_env().data_dir)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    uri = with_database(admin, name)
    migrate(uri)
    return uri


@contextmanager
def serve_app(
    conninfo: str, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """`nocturne run` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    env = {"DATABASE_URL": conninfo, "NOCTURNE_SCHEDULER": "0", **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "nocturne_crawl.cli",
        "run",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/health", env=env):
        yield url


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        return (
            f"{label:34} {self.requests:7d} req  {self.requests / self.seconds:8.0f} req/s  "
            f"p50 {self.pct(50):6.2f} ms  p99 {self.pct(99):6.2f} ms  "
            f"mean {statistics.fmean(self.latencies_ms):6.2f} ms  errors {self.errors}"
        )


async def _client(
    host: str, port: int, paths: list[str], stop_at: float, out: LoadResult, offset: int
) -> None:
    """One keep-alive HTTP/1.1 client: a request, wait for the whole answer, repeat."""
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
            out.requests += 1
            if status >= 400:
                out.errors += 1
    finally:
        writer.close()


def run_load(base_url: str, paths: list[str], clients: int, seconds: float) -> LoadResult:
    """`clients` concurrent closed-loop clients for `seconds` (a short warm-up first)."""
    parsed = httpx.URL(base_url)
    result = LoadResult(0, 0, seconds, [])

    async def main() -> None:
        warm = LoadResult(0, 0, 0, [])
        await asyncio.gather(
            *(
                _client(parsed.host, parsed.port, paths, time.perf_counter() + 1.0, warm, k)
                for k in range(clients)
            )
        )
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _client(parsed.host, parsed.port, paths, stop_at, result, k * 7)
                for k in range(clients)
            )
        )
        result.seconds = time.perf_counter() - started

    asyncio.run(main())
    return result


WRK_SCRIPT = """
local paths = {%s}
local i = 0
wrk.headers["Accept-Encoding"] = "gzip"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    summary.duration / 1e6))
end
"""


@dataclass
class WrkResult:
    requests: int
    errors: int
    p50: float
    p99: float
    mean: float
    seconds: float

    def line(self, label: str) -> str:
        return (
            f"{label:34} {self.requests:7d} req  {self.requests / self.seconds:8.0f} req/s  "
            f"p50 {self.p50:6.2f} ms  p99 {self.p99:6.2f} ms  mean {self.mean:6.2f} ms  errors {self.errors}"
        )


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def measure(base_url: str, paths: list[str], clients: int, seconds: float):
    """Closed-loop load with `clients` keep-alive connections: wrk when installed, else asyncio."""
    if load_generator() == "python":
        return run_load(base_url, paths, clients, seconds)
    script = WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        # Warm-up, then the measured run.
        subprocess.run(
            ["wrk", "-t2", f"-c{clients}", "-d1s", "-s", f.name, base_url],
            capture_output=True,
            check=True,
        )
        out = subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "-s", f.name, base_url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    requests, errors = int(fields[0]), int(fields[1])
    p50, p99, mean, secs = (float(x) for x in fields[2:])
    return WrkResult(requests, errors, p50, p99, mean, secs)
