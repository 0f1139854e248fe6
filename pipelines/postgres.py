"""Step 3: batched upsert into PostgreSQL, one transaction per batch.

Rows are buffered and written when the batch is full, when the flush interval has passed
and at spider close: COPY into a temporary staging table, then one
`INSERT ... SELECT ... ON CONFLICT (link) DO UPDATE`. A batch the database refuses for its
data is split until the refused rows are isolated (dropped and counted); a batch that
fails for any other reason (connection lost, server down) stays in memory and is retried
at the next flush. Only committed rows are announced to the mirror.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.reactor import is_reactor_installed
from twisted.internet import task

from nocturne_crawl.items import EVENT_COLUMNS
from pipelines.database import store_conninfo
from pipelines.fields import field_view
from pipelines.late_twins import merge_late_twins, others_inserted_since
from pipelines.matching import WINDOW_SECONDS
from pipelines.signals import duplicate_found, events_stored
from pipelines.vanished import mark_vanished

log = logging.getLogger(__name__)

# What the pipeline writes (the rest of the row is the database's: id, status, times).
COLUMNS = EVENT_COLUMNS
_LINK, _SOURCE, _CITY = (COLUMNS.index(c) for c in ("link", "source", "city"))
_CONTENT = [c for c in COLUMNS if c != "link"] + ["status"]
_cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))

# Rows are copied in binary (no text formatting in Python, no parsing in PostgreSQL). The
# item carries the local date and time as ISO text: staged as text, cast on insert.
_STAGED_AS_TEXT = {"date": "date", "time": "time"}


def _columns_cast(casts: dict[str, str]) -> sql.Composable:
    """COLUMNS as a select list, the ones in `casts` cast to their type there."""
    return sql.SQL(", ").join(
        sql.SQL("{c}::{t} AS {c}").format(c=sql.Identifier(c), t=sql.SQL(casts[c]))
        if c in casts
        else sql.Identifier(c)
        for c in COLUMNS
    )


# The staging table is filled outside the batch's transaction (see `flush`) and emptied
# before each fill.
STAGING_SQL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS events_staging AS SELECT {staged} FROM events WITH NO DATA"
).format(staged=_columns_cast(dict.fromkeys(_STAGED_AS_TEXT, "text")))
STAGING_TYPES_SQL = """
    SELECT atttypid FROM pg_attribute
     WHERE attrelid = 'pg_temp.events_staging'::regclass AND attnum > 0 AND NOT attisdropped
     ORDER BY attnum"""
CLEAR_STAGING_SQL = "TRUNCATE events_staging"
COPY_SQL = sql.SQL("COPY events_staging ({cols}) FROM STDIN (FORMAT BINARY)").format(cols=_cols)
_changed = sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
    old=sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(c)) for c in _CONTENT),
    new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in _CONTENT),
)
# updated_at moves (and synced_at clears) only when the content changed, so a re-crawl
# of unchanged events leaves nothing for the mirror to send again. xmax = 0 tells a row
# this statement inserted from one it updated.
UPSERT_SQL = sql.SQL(
    """INSERT INTO events AS e ({cols}, status, last_scraped, updated_at)
       SELECT {staged}, 'active', now(), now() FROM events_staging
       ON CONFLICT (link) DO UPDATE SET {sets}, status = EXCLUDED.status,
           last_scraped = now(),
           updated_at = CASE WHEN {changed} THEN now() ELSE e.updated_at END,
           synced_at = CASE WHEN {changed} THEN NULL ELSE e.synced_at END
       RETURNING e.link, e.city, (e.xmax = 0) AS inserted, (e.updated_at = now()) AS changed"""
).format(
    cols=_cols,
    staged=_columns_cast(_STAGED_AS_TEXT),
    sets=sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in COLUMNS if c != "link"
    ),
    changed=_changed,
)
# Remember duplicates whose kept event is stored; the aliased row (if any) goes.
ALIAS_SQL = """
    INSERT INTO event_aliases (link, event_link, source)
    SELECT a.link, a.event_link, a.source
      FROM unnest(%s::text[], %s::text[], %s::text[]) AS a(link, event_link, source)
     WHERE a.link <> a.event_link AND EXISTS (SELECT 1 FROM events WHERE link = a.event_link)
    ON CONFLICT (link) DO UPDATE SET event_link = EXCLUDED.event_link
    RETURNING link, event_link"""
REPOINT_SQL = """
    UPDATE event_aliases AS x SET event_link = a.event_link
      FROM unnest(%s::text[], %s::text[]) AS a(link, event_link)
     WHERE x.event_link = a.link AND x.link <> a.event_link"""
DELETE_ALIASED_SQL = "DELETE FROM events WHERE link = ANY(%s) RETURNING link"
SNAPSHOT_SQL = "SELECT pg_current_snapshot()::text"
NOTIFY_SQL = "SELECT pg_notify('events_changed', c) FROM unnest(%s::text[]) AS c"
REFUSED = (psycopg.errors.IntegrityError, psycopg.errors.DataError)
# How long a lane whose connection could not be opened is left aside (see `flush`).
LANE_REST_SECONDS = 30.0


Rows = dict[str, tuple[Any, ...]]  # link -> row in COLUMNS order


@dataclass
class BatchOutcome:
    """What writing one batch did, applied on the crawl's thread."""

    stored: list = field(default_factory=list)  # (link, city, inserted, changed) committed
    failed: Rows = field(default_factory=dict)  # to try again later
    settled_aliases: list[str] = field(default_factory=list)
    merged: int = 0  # rows deleted as aliases of a richer listing
    late_merged: int = 0  # rows another source's concurrent run had stored too (late_twins)
    late_checked: bool = False  # whether new rows were looked at for late twins
    errors: int = 0  # failed transactions
    rejected: int = 0  # rows the database refused, dropped


_row = itemgetter(*COLUMNS)


def row_of(item: Any) -> tuple[Any, ...]:
    fields = field_view(item)
    try:
        return _row(fields)
    except KeyError:  # an item without some of the columns: those are NULL
        return tuple(fields.get(c) for c in COLUMNS)


class Lane:
    """A connection with its own staging table: one batch staged or being written."""

    def __init__(self) -> None:
        self.conn: psycopg.Connection | None = None
        self.rested_until = 0.0  # not used before then: its connection could not be opened

    def forget_broken(self) -> None:
        if self.conn is not None and (self.conn.broken or self.conn.closed):
            self.conn = None


class PostgresPipeline:
    """Buffers validated items and upserts them in batches; counts new and updated rows."""

    def __init__(
        self,
        crawler: Crawler,
        conninfo: str,
        batch_size: int = 1000,
        flush_seconds: float = 1.0,
        max_backlog: int = 50_000,
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.conninfo = conninfo
        self.batch_size = max(1, batch_size)
        self.flush_seconds = flush_seconds
        self.max_backlog = max_backlog
        self.buffer: dict[str, tuple[Any, ...]] = {}
        self.aliases: dict[str, tuple[str, str]] = {}
        # Two connections: the next batch is staged on one while the writer thread writes
        # the one before on the other.
        self.lanes = [Lane(), Lane()]
        self.run_started = None
        self.db_errors = 0
        self.last_flush = time.monotonic()
        self.retry_after = 0.0
        self.failures = 0
        self.pairs: set[tuple[str, str]] = set()
        self.timer: task.LoopingCall | None = None
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="store")
        self.in_flight: deque[tuple[Lane, Future[BatchOutcome]]] = deque()
        self.twin_window = float(WINDOW_SECONDS)
        # This run's name as a writer of events (event_writers, migration 0009) and the
        # snapshot taken when it opened: the late-twin check's gate.
        self.writer_name = f"store-{uuid.uuid4().hex}"
        self.start_snapshot: str | None = None
        self.copy_types: list[int] = []  # the staging table's column types, for binary COPY

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostgresPipeline:
        s = crawler.settings
        pipe = cls(
            crawler,
            store_conninfo(crawler),
            batch_size=s.getint("NOCTURNE_DB_BATCH_SIZE", 1000),
            flush_seconds=s.getfloat("NOCTURNE_DB_FLUSH_SECONDS", 1.0),
            max_backlog=s.getint("NOCTURNE_DB_MAX_BACKLOG", 50_000),
        )
        pipe.twin_window = 60 * s.getfloat("NOCTURNE_DEDUPE_WINDOW_MINUTES", WINDOW_SECONDS / 60)
        crawler.signals.connect(pipe.remember_alias, signal=duplicate_found)
        crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        return pipe

    @property
    def conn(self) -> psycopg.Connection | None:
        """The first lane's connection (the run's snapshot, vanished events)."""
        return self.lanes[0].conn

    # -- Scrapy hooks ----------------------------------------------------------------

    def open_spider(self) -> None:
        conn = self._connect(self.lanes[0])
        if conn is not None:
            # Before any item: the dedupe step's reads of stored events all come later, so
            # whatever this snapshot sees, they saw too. Without it every batch is checked.
            try:
                self.start_snapshot = conn.execute(SNAPSHOT_SQL).fetchone()[0]
            except psycopg.Error as exc:
                log.warning("postgres: no start snapshot, every batch checked: %s", exc)
        if self.flush_seconds > 0 and is_reactor_installed():
            # Items may trickle in slowly; the page should still see them within seconds.
            # (Outside a running crawl there is no reactor to tick: the per-item check does.)
            self.timer = task.LoopingCall(self._flush_if_due)
            self.timer.start(self.flush_seconds, now=False)

    def process_item(self, item: Any) -> Any:
        row = row_of(item)
        self.buffer[row[_LINK]] = row
        self.pairs.add((row[_CITY], row[_SOURCE]))
        if len(self.buffer) >= self.batch_size:
            self.flush()
        else:
            self._flush_if_due()
        return item

    def close_spider(self) -> None:
        if self.timer is not None and self.timer.running:
            self.timer.stop()
        # Last chance for rows kept after a failure: a few quick attempts.
        for pause in (0.0, 0.5, 1.0, 2.0):
            time.sleep(pause)
            self.retry_after = 0.0
            self.flush(wait=True)
            if not self.buffer:
                break
        self.writer.shutdown(wait=True)
        if self.buffer:
            log.error("%d rows could not be stored in this run", len(self.buffer))
            self.stats.inc_value("nocturne/dropped/db_unavailable", len(self.buffer))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        try:
            self._mark_vanished(reason)
        finally:
            for lane in self.lanes:
                if lane.conn is not None:
                    lane.conn.close()
                    lane.conn = None

    def remember_alias(self, link: str, event_link: str, source: str) -> None:
        self.aliases[link] = (event_link, source)

    # -- Writing ---------------------------------------------------------------------
    # One batch at a time is written by a single writer thread, in the order the batches
    # were made, while the crawl goes on preparing the next ones (PostgreSQL works while
    # Python validates). A batch is first copied to a staging table on the crawl's thread;
    # with two connections (lanes), the next batch is staged on one while the writer
    # thread writes the one before on the other, so the writer goes from one batch to
    # the next without waiting. Everything the crawl sees (stats, signals, the retry
    # buffer) is updated on the crawl's thread when outcomes are collected, in order.

    def _flush_if_due(self) -> None:
        if time.monotonic() - self.last_flush >= self.flush_seconds:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Write the buffered rows (and pending aliases), unless backing off."""
        self._collect()
        lane = self._free_lane()
        if (not self.buffer and not self.aliases) or time.monotonic() < self.retry_after:
            if wait:
                self._collect(everything=True)
            return
        self.last_flush = time.monotonic()
        batch, self.buffer = self.buffer, {}
        # The rows are copied to the lane's staging table here, on the crawl's thread;
        # the writer thread then runs the statements. A thread that waits on the network
        # waits again for the interpreter lock when it wakes, up to the switch interval
        # (5 ms) while the crawl's thread is busy: a COPY does that at every flush of its
        # buffer, the statements once each.
        staged_on = None
        if batch:
            reachable, staged_on = self._stage(lane, batch)
            if not reachable and lane.conn is None and self.in_flight:
                # This lane's connection could not be opened (the server's or the role's
                # connection limit, say) while the other lane's works: wait for the batch
                # in flight there and stage on its connection instead, for a while.
                lane.rested_until = time.monotonic() + LANE_REST_SECONDS
                lane = self._finish_oldest()
                reachable, staged_on = self._stage(lane, batch)
            if not reachable:  # no database: the batch is kept, as if it had failed
                self._apply(BatchOutcome(failed=batch, errors=1))
                return
        future = self.writer.submit(self._write, lane, batch, dict(self.aliases), staged_on)
        self.in_flight.append((lane, future))
        if wait:
            self._collect(everything=True)

    def _collect(self, everything: bool = False) -> None:
        """Apply the outcomes of finished batches, in order; with `everything`, wait for all."""
        while self.in_flight:
            _, future = self.in_flight[0]
            if not everything and not future.done():
                return
            self._finish_oldest()

    def _free_lane(self) -> Lane:
        """A lane with no batch in flight (after the oldest batch is done, if need be)."""
        busy = [lane for lane, _ in self.in_flight]
        now = time.monotonic()
        for lane in self.lanes:
            if lane not in busy and now >= lane.rested_until:
                return lane
        if not self.in_flight:
            return self.lanes[0]
        return self._finish_oldest()

    def _finish_oldest(self) -> Lane:
        """Wait for the oldest batch in flight, apply its outcome; the lane it used."""
        lane, future = self.in_flight.popleft()
        self._apply(future.result())
        return lane

    def _apply(self, outcome: BatchOutcome) -> None:
        """Count what writing a batch did; keep its failed rows for a later flush."""
        if outcome.errors:
            self.db_errors += outcome.errors
            self.stats.inc_value("nocturne/db_errors", outcome.errors)
        if outcome.rejected:
            self.stats.inc_value("nocturne/dropped/db_rejected", outcome.rejected)
        for link in outcome.settled_aliases:
            self.aliases.pop(link, None)
        if outcome.merged:
            self.stats.inc_value("nocturne/dedupe/rows_merged", outcome.merged)
        if outcome.late_checked:
            self.stats.inc_value("nocturne/dedupe/late_checks")
        if outcome.late_merged:
            self.stats.inc_value("nocturne/dedupe/late_merged", outcome.late_merged)
        self._committed(outcome.stored)
        if not outcome.failed:
            self.failures = 0
            return
        self.failures += 1
        self.retry_after = time.monotonic() + min(30.0, 0.5 * 2**self.failures)
        # Rows scraped since the failure are newer than the kept ones.
        merged = {**outcome.failed, **self.buffer}
        if len(merged) > self.max_backlog:
            excess = len(merged) - self.max_backlog
            for link in list(merged)[:excess]:
                del merged[link]
            self.stats.inc_value("nocturne/dropped/db_backlog", excess)
        self.buffer = merged

    def _connect(self, lane: Lane) -> psycopg.Connection | None:
        if lane.conn is not None and not lane.conn.closed and not lane.conn.broken:
            return lane.conn
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            conn.execute(STAGING_SQL)
            self.copy_types = [r[0] for r in conn.execute(STAGING_TYPES_SQL).fetchall()]
            conn.execute("SELECT set_config('nocturne.writer', %s, false)", (self.writer_name,))
        except psycopg.Error as exc:
            log.error("postgres: cannot connect: %s", type(exc).__name__)
            return None
        if self.run_started is None:
            # Database time, like last_scraped: rows this run touches are stamped after it.
            self.run_started = conn.execute("SELECT now()").fetchone()[0]
        lane.conn = conn
        return conn

    def _stage(self, lane: Lane, batch: Rows) -> tuple[bool, psycopg.Connection | None]:
        """Copy `batch` to the lane's staging table: (database reachable, connection
        holding it)."""
        conn = self._connect(lane)
        if conn is None:
            return False, None
        try:
            self._copy(conn, batch)
        except REFUSED:  # a row the database refuses: the writer stages again and isolates it
            return True, None
        except psycopg.Error as exc:
            log.error("postgres: batch of %d not staged, kept for retry: %s", len(batch), exc)
            lane.forget_broken()
            return False, None
        return True, conn

    def _write(
        self,
        lane: Lane,
        batch: Rows,
        aliases: dict[str, tuple[str, str]],
        staged_on: psycopg.Connection | None = None,
    ) -> BatchOutcome:
        """Store `batch` and `aliases` (writer thread); what happened.

        `staged_on`: the connection whose staging table holds `batch` already; on any
        other connection the batch is staged again first.
        """
        outcome = BatchOutcome()
        conn = self._connect(lane)
        if conn is None:
            outcome.errors, outcome.failed = 1, batch
            return outcome
        try:
            if batch and conn is not staged_on:
                self._copy(conn, batch)
            # Pipeline mode: BEGIN goes with the upsert, the notification with COMMIT.
            with conn.pipeline(), conn.transaction():
                stored = self._upsert(conn, batch) if batch else []
                settled, merged = self._store_aliases(conn, aliases)
                self._notify(conn, stored)
        except REFUSED as exc:
            outcome.errors = 1
            if not batch:
                log.error("postgres: duplicate links refused, forgotten: %s", exc)
                outcome.settled_aliases = list(aliases)
                return outcome
            log.warning("postgres: batch of %d refused (%s); isolating", len(batch), exc)
            self._bisect(lane, batch, outcome)
            return outcome
        except psycopg.Error as exc:
            outcome.errors, outcome.failed = 1, batch
            log.error("postgres: batch of %d rolled back, kept for retry: %s", len(batch), exc)
            lane.forget_broken()
            return outcome
        outcome.stored, outcome.settled_aliases, outcome.merged = stored, settled, merged
        outcome.late_checked, outcome.late_merged = self._merge_late_twins(lane, stored)
        return outcome

    def _merge_late_twins(self, lane: Lane, stored: list) -> tuple[bool, int]:
        """Merge what a concurrent run of another source inserted too (late_twins.py).

        (checked, merged): nothing is looked at when no other writer inserted events of
        these cities since this run opened.
        """
        inserted = [link for link, _, is_new, _ in stored if is_new]
        conn = lane.conn
        if not inserted or conn is None:
            return False, 0
        try:
            if self.start_snapshot is not None:
                cities = sorted({city for _, city, is_new, _ in stored if is_new})
                if not others_inserted_since(conn, cities, self.writer_name, self.start_snapshot):
                    return False, 0
            merged = merge_late_twins(conn, inserted, self.twin_window)
        except psycopg.Error as exc:
            # Harmless to miss: the next run's dedupe step merges the pair.
            log.warning("postgres: late cross-source duplicates not checked: %s", exc)
            lane.forget_broken()
            return False, 0
        if merged:
            log.info("postgres: %d duplicates stored by a concurrent run merged", len(merged))
        return True, len(merged)

    def _bisect(self, lane: Lane, batch: Rows, outcome: BatchOutcome) -> None:
        """Write what the database accepts of a refused batch, half by half."""
        if len(batch) == 1:
            log.warning("postgres: row refused by the database, dropped: %s", next(iter(batch)))
            outcome.rejected += 1
            return
        items = list(batch.items())
        half = len(items) // 2
        for part in (dict(items[:half]), dict(items[half:])):
            conn = self._connect(lane)
            if conn is None:
                outcome.failed.update(part)
                continue
            try:
                self._copy(conn, part)
                with conn.transaction():
                    stored = self._upsert(conn, part)
                    self._notify(conn, stored)
            except REFUSED:
                self._bisect(lane, part, outcome)
            except psycopg.Error:
                lane.forget_broken()
                outcome.failed.update(part)
            else:
                outcome.stored += stored

    def _copy(self, conn: psycopg.Connection, batch: Rows) -> None:
        with conn.cursor() as cur:
            cur.execute(CLEAR_STAGING_SQL)
            with cur.copy(COPY_SQL) as copy:
                copy.set_types(self.copy_types)
                for row in batch.values():
                    try:
                        copy.write_row(row)
                    except (TypeError, ValueError, OverflowError) as exc:  # a value's type
                        raise psycopg.DataError(f"{type(exc).__name__}: {exc}") from exc

    def _upsert(self, conn: psycopg.Connection, batch: Rows) -> list:
        """Insert or update the staged `batch`; (link, city, inserted, changed) per row."""
        with conn.cursor() as cur:
            cur.execute(UPSERT_SQL)
            stored = cur.fetchall()
        if len(stored) != len(batch):  # every staged row is inserted or updated
            raise psycopg.OperationalError(
                f"staging held {len(stored)} rows for a batch of {len(batch)}"
            )
        return stored

    @staticmethod
    def _notify(conn: psycopg.Connection, stored: list) -> None:
        cities = sorted({city for _, city, _, changed in stored if changed})
        if cities:
            conn.execute(NOTIFY_SQL, (cities,))

    @staticmethod
    def _store_aliases(
        conn: psycopg.Connection, aliases: dict[str, tuple[str, str]]
    ) -> tuple[list[str], int]:
        """Record aliases whose kept event is stored, drop their rows; (settled, deleted)."""
        if not aliases:
            return [], 0
        links = list(aliases)
        kept = [aliases[k][0] for k in links]
        sources = [aliases[k][1] for k in links]
        done = conn.execute(ALIAS_SQL, (links, kept, sources)).fetchall()
        if not done:
            return [], 0
        conn.execute(REPOINT_SQL, ([a for a, _ in done], [k for _, k in done]))
        deleted = conn.execute(DELETE_ALIASED_SQL, ([a for a, _ in done],)).fetchall()
        return [a for a, _ in done], len(deleted)

    def _committed(self, stored: list) -> None:
        if not stored:
            return
        new = sum(1 for _, _, inserted, _ in stored if inserted)
        self.stats.inc_value("nocturne/items_new", new)
        self.stats.inc_value("nocturne/items_updated", len(stored) - new)
        changed = [link for link, _, _, is_changed in stored if is_changed]
        if changed:
            self.crawler.signals.send_catch_log(events_stored, links=changed)

    # -- Vanished events ----------------------------------------------------------------

    def _mark_vanished(self, reason: str) -> None:
        source_errors = self.stats.get_value("nocturne/source_errors", 0)
        complete = reason == "finished" and not source_errors and not self.db_errors
        if not complete or self.buffer or self.run_started is None:
            log.info(
                "vanished events: not marked (reason=%s, source errors=%s, db errors=%s)",
                reason,
                source_errors,
                self.db_errors,
            )
            return
        conn = self._connect(self.lanes[0])
        if conn is None:
            return
        changed: list[str] = []
        for city, source in sorted(self.pairs):
            try:
                changed += mark_vanished(conn, city, source, self.run_started)
            except psycopg.Error as exc:
                log.error("vanished events: %s/%s not marked: %s", city, source, exc)
        self.stats.set_value("nocturne/vanished", len(changed))
        if changed:
            self.crawler.signals.send_catch_log(events_stored, links=changed)
