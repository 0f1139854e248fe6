"""A cache of serialized `/events` answers, emptied whenever the events table changes.

Readers far outnumber writers: the same city page is asked for again and again between
crawls. Every statement that writes `events` fires a trigger that NOTIFYs
`events_changed` (migration 0006); a listener task empties the cache on each
notification, and on any loss of its connection (a missed notification must not leave
stale answers). A TTL bounds staleness even then.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedBody:
    """An answer as sent: the JSON, its gzip form (compressed once, sent many times), its ETag."""

    body: bytes
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, body: bytes, compress: bool) -> CachedBody:
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        # Below ~1 KiB gzip saves nothing worth a header. Level 1: a 73 KiB page shrinks
        # about as much as at 6 (repetitive JSON) for a third of the time on a cache miss.
        gzipped = (
            gzip.compress(body, compresslevel=1, mtime=0) if compress and len(body) > 1024 else None
        )
        return cls(body, etag, gzipped)


class ResponseCache:
    def __init__(self, max_entries: int = 2048, ttl_seconds: float = 60.0):
        self.max_entries = max_entries
        self.ttl = ttl_seconds
        self._entries: OrderedDict[Hashable, tuple[float, CachedBody]] = OrderedDict()
        self.enabled = max_entries > 0
        self.listening = False
        # Bumped by every clear(): an answer read from the database before a change must
        # not be stored after the change emptied the cache.
        self.generation = 0

    def get(self, key: Hashable) -> CachedBody | None:
        # Only serve from the cache while the listener is connected: without it, a change
        # could go unnoticed for up to the TTL.
        if not (self.enabled and self.listening):
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, cached = entry
        if time.monotonic() - stored_at > self.ttl:
            self._entries.pop(key, None)
            return None
        return cached

    def put(self, key: Hashable, cached: CachedBody, generation: int) -> None:
        if not (self.enabled and self.listening) or generation != self.generation:
            return
        self._entries[key] = (time.monotonic(), cached)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    @property
    def active(self) -> bool:
        return self.enabled and self.listening

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    async def listen(self, conninfo: str) -> None:
        """Empty the cache on every `events_changed` notification; reconnect on failure."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute("LISTEN events_changed")
                    self.clear()
                    self.listening = True
                    async for _ in conn.notifies():
                        self.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: stop serving cached answers, retry
                log.warning(
                    "events cache listener lost its connection (%s); retrying", type(exc).__name__
                )
            finally:
                self.listening = False
                self.clear()
            await asyncio.sleep(1.0)

    @contextlib.asynccontextmanager
    async def running(self, conninfo: str):
        if not self.enabled:
            yield self
            return
        task = asyncio.create_task(self.listen(conninfo))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
