"""Crawl health: is a source still giving what it used to? The early warning that a site
changed its pages.

Each finished run keeps its item count and field coverage (the share of items carrying a
venue, a start time, a description, ...; counted by the spiders as
`nocturne/<source>/items` and `nocturne/<source>/with/<field>`). A run is `degraded` when,
against the same city and source's recent finished runs:
- it returned no events, or under a fifth of their median, where they had at least 10; or
- a field they filled for at least half of their items is now filled for under half as
  many (a field lost, not a quiet week).
With no earlier run to compare with, a run is `ok`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import psycopg

BASELINE_RUNS = 5
MIN_BASELINE_ITEMS = 10
ITEMS_FLOOR = 0.2  # under this share of the usual count: degraded
FIELD_USED = 0.5  # a field counts as "used" at this coverage...
FIELD_LOST = 0.5  # ...and as lost below this share of its usual coverage


@dataclass
class Health:
    status: str  # 'ok' | 'degraded'
    items: int
    coverage: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def as_columns(self) -> dict[str, Any]:
        return {
            "health": self.status,
            "health_notes": "; ".join(self.notes) or None,
            "coverage": psycopg.types.json.Jsonb({"items": self.items, "fields": self.coverage}),
        }


def coverage_from_stats(stats: dict[str, Any], spider: str) -> tuple[int, dict[str, float]]:
    """(items, {field: share}) from a crawl's stats."""
    prefix = f"nocturne/{spider}/"
    items = int(stats.get(f"{prefix}items", 0) or 0)
    shares: dict[str, float] = {}
    for key, value in stats.items():
        if key.startswith(f"{prefix}with/"):
            shares[key.removeprefix(f"{prefix}with/")] = (
                round(int(value) / items, 3) if items else 0.0
            )
    return items, shares


def judge(
    items: int, coverage: dict[str, float], history: list[tuple[int, dict[str, float]]]
) -> Health:
    """Compare one run with earlier runs' (items, coverage), most recent first."""
    health = Health("ok", items, coverage)
    usable = [h for h in history if h[0] > 0]
    if not usable:
        return health
    usual = statistics.median(h[0] for h in usable)
    if usual >= MIN_BASELINE_ITEMS and items < ITEMS_FLOOR * usual:
        health.notes.append("returned no events" if items == 0 else f"returned {items} events")
        health.notes[-1] += f" (usually {usual:g})"
    if items > 0:
        fields = {name for _, cov in usable for name in cov}
        for name in sorted(fields):
            before = statistics.median(cov.get(name, 0.0) for _, cov in usable)
            now = coverage.get(name, 0.0)
            if before >= FIELD_USED and now < FIELD_LOST * before:
                health.notes.append(f"lost field {name}: {now:.0%} of items (usually {before:.0%})")
    if health.notes:
        health.status = "degraded"
    return health


def assess(
    conn: psycopg.Connection, city: str, spider: str, job_id: str, stats: dict[str, Any]
) -> Health:
    """This run's health against the same city and source's recent finished runs."""
    items, coverage = coverage_from_stats(stats, spider)
    rows = conn.execute(
        """SELECT stats FROM crawl_runs
            WHERE city = %s AND spider = %s AND job_id <> %s AND status = 'finished'
         ORDER BY finished_at DESC NULLS LAST LIMIT %s""",
        (city, spider, job_id, BASELINE_RUNS),
    ).fetchall()
    history = [coverage_from_stats(row[0] or {}, spider) for row in rows]
    return judge(items, coverage, history)
