"""Fault switches: what the simulator does wrong, on purpose, and how often.

A rule names a kind, the source it hits ("*" for all), optionally a path substring,
and either a `count` (the first N matching requests, then recovery) or a `rate`
(probability per request, from a seeded generator so runs repeat). Rules are tried
in order; the first that fires decides the response.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = (
    "429",  # Too Many Requests with Retry-After
    "500",  # server error
    "403",  # bot interstitial HTML with status 403
    "interstitial",  # the same challenge page with status 200 (a 2xx without data)
    "slow",  # answer after latency_ms
    "timeout",  # hang for latency_ms (default longer than any sane client timeout)
    "truncated",  # the right body cut in half
    "malformed",  # the right body with one JSON colon removed
    "js_only",  # Eventbrite search page whose events appear only after its JavaScript runs
)
SOURCES = ("eventbrite", "meetup", "luma")
DEFAULT_SLOW_MS = 1500
DEFAULT_HANG_MS = 60_000


@dataclass
class FaultRule:
    kind: str
    source: str = "*"
    path: str | None = None
    rate: float | None = None
    count: int | None = None
    latency_ms: int | None = None
    retry_after: int = 1
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        unknown = set(data) - {
            "kind",
            "source",
            "path",
            "rate",
            "count",
            "latency_ms",
            "retry_after",
        }
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        source = str(data.get("source", "*"))
        if source != "*" and source not in SOURCES:
            raise ValueError("source must be eventbrite, meetup, luma or *")
        rate = data.get("rate")
        if rate is not None and (not isinstance(rate, int | float) or not 0 <= rate <= 1):
            raise ValueError("rate must be a number in 0..1")
        count = data.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError("count must be a non-negative integer")
        latency = data.get("latency_ms")
        if latency is not None and (not isinstance(latency, int | float) or latency < 0):
            raise ValueError("latency_ms must be a non-negative number")
        retry_after = data.get("retry_after", 1)
        if not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer")
        path = data.get("path")
        return cls(
            kind=kind,
            source=source,
            path=str(path) if path else None,
            rate=float(rate) if rate is not None else None,
            count=count,
            latency_ms=int(latency) if latency is not None else None,
            retry_after=retry_after,
        )

    def matches(self, source: str, path: str) -> bool:
        return self.source in ("*", source) and (self.path is None or self.path in path)

    def delay_seconds(self) -> float:
        default = DEFAULT_HANG_MS if self.kind == "timeout" else DEFAULT_SLOW_MS
        return (self.latency_ms if self.latency_ms is not None else default) / 1000


class FaultBoard:
    """The active rules and the global latency; safe to change from any thread."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}|faults")
        self.rules: list[FaultRule] = []
        self.latency_ms = 0

    def configure(self, body: Any) -> None:
        """Add rules from a POST body: one rule, a list, or {"faults": [...], "latency_ms": N}."""
        latency = None
        if isinstance(body, dict) and ("faults" in body or "kind" not in body):
            latency = body.get("latency_ms")
            if latency is not None and (not isinstance(latency, int | float) or latency < 0):
                raise ValueError("latency_ms must be a non-negative number")
            raw = body.get("faults", [])
        else:
            raw = body
        items = raw if isinstance(raw, list) else [raw]
        rules = [FaultRule.from_json(item) for item in items]
        with self._lock:
            self.rules.extend(rules)
            if latency is not None:
                self.latency_ms = int(latency)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.latency_ms = 0

    def pick(self, source: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(source, path):
                    continue
                rule.seen += 1
                if rule.count is not None:
                    fire = rule.seen <= rule.count
                elif rule.rate is not None:
                    fire = self._rng.random() < rule.rate
                else:
                    fire = True
                if fire:
                    rule.fired += 1
                    return rule
        return None

    def snapshot(self) -> dict:
        with self._lock:
            return {"latency_ms": self.latency_ms, "faults": [asdict(r) for r in self.rules]}
