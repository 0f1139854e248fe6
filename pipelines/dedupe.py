"""Step 2: one row per event. Same link twice in a run, or one event listed on two sites.

Cross-source candidates are the run's own items plus the events already stored for the
city (earlier runs, other sources, other installs), loaded a week at a time when an item
first falls in that week, so the check costs a few dictionary lookups per item.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from scrapy.crawler import Crawler

from nocturne_crawl.items import EVENT_COLUMNS
from pipelines.database import store_conninfo
from pipelines.drops import drop
from pipelines.fields import field_view
from pipelines.matching import WINDOW_SECONDS, Listing, latitude_band, same_event
from pipelines.signals import duplicate_found

log = logging.getLogger(__name__)

# Candidates are filed by city and by a slot of `window` seconds (at least this long),
# then by band of latitude and by source: an item is compared with the other sources'
# listings of its own slot and the two next to it (every listing within the window), in
# its own band and the two next to it, and with those that have no coordinate.
MIN_SLOT_SECONDS = 60
# Stored candidates are loaded a week of one city at a time: few queries per crawl.
SPAN = 7 * 86400
# One city's stored events around one UTC day: the cross-source candidates.
CANDIDATES_SQL = sql.SQL(
    """SELECT {cols} FROM events
        WHERE city = %s AND starts_at >= %s AND starts_at < %s AND status = 'active'"""
).format(cols=sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS)))


class DedupePipeline:
    """Drops repeats: by canonical link within the run, and cross-source duplicates."""

    def __init__(self, crawler: Crawler, conninfo: str | None, window: float) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.conninfo = conninfo
        self.window = window
        self.seen: set[str] = set()
        self.aliases: set[str] = set()
        self.slot_seconds = max(float(window), MIN_SLOT_SECONDS)
        # (city, slot) -> latitude band (None: no coordinate) -> source -> link -> listing
        self.slots: dict[tuple[str, int], dict[int | None, dict[str, dict[str, Listing]]]] = {}
        self.loaded_spans: set[tuple[str, int]] = set()
        self.alias_cities: set[str] = set()
        self.conn: psycopg.Connection | None = None
        self.db_warned = False
        self.retry_at = 0.0  # after a failed connect, stored events are not asked for a while

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        minutes = crawler.settings.getfloat("NOCTURNE_DEDUPE_WINDOW_MINUTES", WINDOW_SECONDS / 60)
        return cls(crawler, store_conninfo(crawler), minutes * 60)

    def close_spider(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def process_item(self, item: Any) -> Any:
        fields = field_view(item)
        link = fields["link"]
        if link in self.seen:
            raise drop(self.stats, "duplicate", link)
        self.seen.add(link)
        listing = Listing.from_row(fields)
        self._load_stored(listing)
        if link in self.aliases:
            raise drop(self.stats, "cross_source_duplicate", f"{link} (known alias)")
        match = self._find(listing)
        if match is None:
            self._remember(listing)
            return item
        if listing.richness > match.richness:
            # The richer listing wins; the other one's link becomes its alias.
            self._forget(match)
            self._remember(listing)
            self.aliases.add(match.link)
            self._announce(match.link, link, match.source)
            self.stats.inc_value("nocturne/dedupe/replaced")
            return item
        self.aliases.add(link)
        self._announce(link, match.link, listing.source)
        raise drop(self.stats, "cross_source_duplicate", f"{link} is {match.link}")

    def _announce(self, link: str, event_link: str, source: str) -> None:
        self.crawler.signals.send_catch_log(
            duplicate_found, link=link, event_link=event_link, source=source
        )

    def _find(self, listing: Listing) -> Listing | None:
        start, window = listing.start, self.window
        slot = int(start // self.slot_seconds)
        city, source = listing.city, listing.source
        band = latitude_band(listing)
        for near in (slot - 1, slot, slot + 1):
            by_band = self.slots.get((city, near))
            if not by_band:
                continue
            if band is None:  # no coordinate: any place may be the same
                groups = tuple(by_band.values())
            else:  # listings elsewhere are too far; those without coordinates may match
                get = by_band.get
                groups = (get(band - 1), get(band), get(band + 1), get(None))
            for by_source in groups:
                if not by_source:
                    continue
                for other, listings in by_source.items():
                    if other == source:
                        continue  # a site does not list one event twice under two links
                    for candidate in listings.values():
                        # The start first (same_event checks it too): most fail it.
                        if abs(candidate.start - start) <= window and same_event(
                            listing, candidate, window
                        ):
                            return candidate
        return None

    def _remember(self, listing: Listing) -> None:
        self._group(listing).setdefault(listing.source, {})[listing.link] = listing

    def _forget(self, listing: Listing) -> None:
        self._group(listing).get(listing.source, {}).pop(listing.link, None)

    def _group(self, listing: Listing) -> dict[str, dict[str, Listing]]:
        """The listings of `listing`'s city, slot and latitude band, by source."""
        key = (listing.city, int(listing.start // self.slot_seconds))
        return self.slots.setdefault(key, {}).setdefault(latitude_band(listing), {})

    def _connection(self) -> psycopg.Connection | None:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        if not self.conninfo or time.monotonic() < self.retry_at:
            return None
        try:
            self.conn = psycopg.connect(
                self.conninfo, autocommit=True, row_factory=dict_row, connect_timeout=5
            )
        except psycopg.Error as exc:
            self.retry_at = time.monotonic() + 30
            if not self.db_warned:
                log.warning(
                    "dedupe: stored events unavailable (%s); in-run checks only",
                    type(exc).__name__,
                )
                self.db_warned = True
            return None
        return self.conn

    def _load_stored(self, listing: Listing) -> None:
        span = int(listing.start // SPAN)
        if (listing.city, span) in self.loaded_spans:
            return
        conn = self._connection()
        if conn is None:
            return
        start = datetime.fromtimestamp(span * SPAN, UTC) - timedelta(seconds=self.window)
        end = datetime.fromtimestamp((span + 1) * SPAN, UTC) + timedelta(seconds=self.window)
        try:
            if listing.city not in self.alias_cities:
                rows = conn.execute(
                    """SELECT a.link FROM event_aliases a JOIN events e ON e.link = a.event_link
                       WHERE e.city = %s""",
                    (listing.city,),
                ).fetchall()
                self.aliases.update(r["link"] for r in rows)
                self.alias_cities.add(listing.city)
            rows = conn.execute(CANDIDATES_SQL, (listing.city, start, end)).fetchall()
        except psycopg.Error as exc:
            log.warning("dedupe: could not load stored events: %s", exc)
            self.conn = None
            return
        self.loaded_spans.add((listing.city, span))
        for row in rows:
            stored = Listing.from_row(row)
            # A link this run already passed is represented by the run's own listing.
            if stored.link not in self.seen:
                self._remember(stored)
