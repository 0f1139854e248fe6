"""A closed-loop HTTP load for the system tests: N keep-alive clients, every failure counted.

Written on asyncio streams rather than an HTTP client library so that the load generator
costs little CPU next to the app it measures on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    requests: int = 0
    server_errors: int = 0  # 5xx answers
    failed: int = 0  # no answer: refused, reset, timed out
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms) or [0.0]
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _one_client(
    host: str, port: int, paths: list[str], stop_at: float, load: Load, offset: int, timeout: float
) -> None:
    i = offset
    reader = writer = None
    while time.perf_counter() < stop_at:
        path = paths[i % len(paths)]
        i += 1
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout
                )
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await asyncio.wait_for(reader.readexactly(length), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            load.failed += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        load.latencies_ms.append((time.perf_counter() - started) * 1000)
        load.requests += 1
        load.statuses[status] = load.statuses.get(status, 0) + 1
        if status >= 500:
            load.server_errors += 1
    if writer is not None:
        writer.close()


async def run_load(
    base_url: str, paths: list[str], clients: int, seconds: float, timeout: float = 10.0
) -> Load:
    host, port = base_url.removeprefix("http://").split(":")
    load = Load()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _one_client(host, int(port), paths, stop_at, load, k * 13, timeout)
            for k in range(clients)
        )
    )
    load.seconds = time.perf_counter() - started
    return load
