"""Per-client request limits (a sliding window in memory, per worker process)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request

from api.errors import ApiError


class SlidingWindowLimit:
    """At most `limit` requests per client within any `window` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float | None:
        """Record a request from `client`; None if allowed, else seconds until it would be."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            if len(self._hits) > 10_000:
                self._forget_idle(now)
            return None

    def _forget_idle(self, now: float) -> None:
        # Bounded memory under many distinct clients: drop those with no recent request.
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]


def client_key(request: Request) -> str:
    # The peer address; behind a reverse proxy every client shares it (see README).
    return request.client.host if request.client else "unknown"


def enforce(limit: SlidingWindowLimit, request: Request, what: str) -> None:
    """A 429 with Retry-After when this client is over `limit`."""
    wait = limit.retry_after(client_key(request))
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"too many {what} requests from this client; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            extra={"retry_after": seconds},
        )
