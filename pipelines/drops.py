"""Dropping an item: one place that counts it under `nocturne/dropped/<reason>`."""

from __future__ import annotations

from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector


def drop(stats: StatsCollector, reason: str, detail: str) -> DropItem:
    """Count the drop and return the exception to raise (logged at DEBUG, not per-item WARNING)."""
    stats.inc_value(f"nocturne/dropped/{reason}")
    return DropItem(f"{reason}: {detail}", log_level="DEBUG")
