"""The shared (Supabase) database: two transports behind one interface, push and pull.

- `RestTransport`: the `supabase` client over PostgREST (`SUPABASE_URL` + `SUPABASE_KEY`).
- `PostgresTransport`: straight to the shared PostgreSQL (`SUPABASE_DB_URL`).

Both sides have the same schema (the same migrations). On the shared side `arrived_at`
is when a row's current version arrived there, which is what a pull pages by; locally
`synced_at` means "the shared database has this version", set only for rows a push
confirmed (an update no index sees, so it stays cheap: migration 0007).

Deletions travel too: a trigger records every deleted local link in `events_deleted`
(migration 0008); after its pushes the mirror deletes those links on the shared side and
drops a tombstone once the shared side confirmed. Other installs' deletions are not pulled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import httpx
import psycopg
from postgrest import APIError
from postgrest.types import ReturnMethod
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from nocturne_crawl.config import Config
from nocturne_crawl.items import SHARED_COLUMNS

log = logging.getLogger(__name__)

MIRROR_COLUMNS = SHARED_COLUMNS
_cols = sql.SQL(", ").join(map(sql.Identifier, MIRROR_COLUMNS))
# Clocks of two installs differ; a pull starts this far before its watermark (the
# upsert makes seeing a row twice harmless).
PULL_OVERLAP = timedelta(minutes=5)
REFUSED = (psycopg.errors.IntegrityError, psycopg.errors.DataError)


class RowsRefused(Exception):
    """The shared database is up but refused a batch's data: retrying will not help."""


class SharedTransport(Protocol):
    """One way to reach the shared database."""

    target: str  # names the shared database in sync_state (no secrets)
    delete_batch: int  # at most this many links per delete request

    def push(self, rows: list[dict[str, Any]]) -> list[str]:
        """Upsert `rows` by link; the links the shared database confirmed."""

    def delete(self, links: list[str]) -> None:
        """Delete these links; returns once the shared database confirmed."""

    def pull(
        self, cities: Sequence[str], since: datetime, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """Rows of `cities` that arrived after `since`, oldest first (with `arrived_at`)."""

    def close(self) -> None: ...


def _staging(name: str, columns: sql.Composable) -> sql.Composed:
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS "
        "SELECT {} FROM events WITH NO DATA"
    ).format(sql.Identifier(name), columns)


# Newer content wins, whoever wrote it; `arrived_at` (what pulls page by) and `synced_at`
# are the shared database's own clock.
SHARED_UPSERT_SQL = sql.SQL(
    """INSERT INTO events AS e ({cols}, synced_at, arrived_at)
       SELECT {cols}, now(), now() FROM mirror_staging
       ON CONFLICT (link) DO UPDATE SET {sets}, synced_at = now(), arrived_at = now()
       WHERE e.updated_at <= EXCLUDED.updated_at"""
).format(
    cols=_cols,
    sets=sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
        for c in MIRROR_COLUMNS
        if c != "link"
    ),
)


COPY_BINARY_SQL = sql.SQL("COPY mirror_staging ({}) FROM STDIN (FORMAT BINARY)").format(_cols)


class PostgresTransport:
    """The shared database over PostgreSQL (`SUPABASE_DB_URL`)."""

    delete_batch = 1000

    def __init__(self, conninfo: str, concurrency: int = 4, timeout: float = 10.0) -> None:
        info = psycopg.conninfo.conninfo_to_dict(conninfo)
        self.target = (
            f"postgres://{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
        )
        self.conninfo = conninfo
        self.pool = ConnectionPool(
            conninfo,
            min_size=0,
            max_size=max(1, concurrency),
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            configure=self._configure,
            timeout=timeout,
            open=False,
        )
        self.opened = False
        self.lock = threading.Lock()

    @staticmethod
    def _configure(conn: psycopg.Connection) -> None:
        conn.execute(_staging("mirror_staging", _cols))

    def _pool(self) -> ConnectionPool:
        with self.lock:
            if not self.opened:
                self.pool.open()
                self.opened = True
        return self.pool

    def push(self, rows: list[dict[str, Any]]) -> list[str]:
        try:
            with self._pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
                copy_sql = sql.SQL("COPY mirror_staging ({}) FROM STDIN").format(_cols)
                with cur.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row([row.get(c) for c in MIRROR_COLUMNS])
                cur.execute(SHARED_UPSERT_SQL)
        except REFUSED as exc:
            raise RowsRefused(f"{type(exc).__name__}: {exc.diag.message_primary}") from exc
        # Committed: every link is now there in this version or a newer one.
        return [row["link"] for row in rows]

    def push_copy(self, data: Sequence[bytes]) -> None:
        """Upsert rows given as binary COPY data in MIRROR_COLUMNS order (as the local
        database exported them: both sides have one schema, so no row becomes Python
        objects on the way); every row is there, in this version or a newer one, on return."""
        try:
            with self._pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
                with cur.copy(COPY_BINARY_SQL) as copy:
                    for block in data:
                        copy.write(block)
                cur.execute(SHARED_UPSERT_SQL)
        except REFUSED as exc:
            raise RowsRefused(f"{type(exc).__name__}: {exc.diag.message_primary}") from exc

    def delete(self, links: list[str]) -> None:
        with self._pool().connection() as conn:
            conn.execute("DELETE FROM events WHERE link = ANY(%s)", (links,))

    def pull(
        self, cities: Sequence[str], since: datetime, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        with self._pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    """SELECT {cols}, arrived_at FROM events
                       WHERE city = ANY(%s) AND arrived_at > %s
                       ORDER BY arrived_at, link OFFSET %s LIMIT %s"""
                ).format(cols=_cols),
                (list(cities), since, offset, limit),
            )
            return cur.fetchall()

    def close(self) -> None:
        if self.opened:
            self.pool.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


class RestTransport:
    """The shared database through Supabase's REST API (PostgREST), with the `supabase` client."""

    # The links go in the URL (`link=in.(...)`): keep it well under proxies' limits.
    delete_batch = 50

    def __init__(self, url: str, key: str, timeout: float = 10.0) -> None:
        from supabase import ClientOptions, create_client  # imported only when configured

        self.target = f"rest:{url.rstrip('/')}"
        options = ClientOptions(
            # An httpx.Timeout, not a number: postgrest-py truncates numbers to whole
            # seconds (0.5 becomes 0, an immediate failure).
            postgrest_client_timeout=httpx.Timeout(timeout),
            postgrest_client_retry=False,  # retries are ours (tenacity), with backoff
            auto_refresh_token=False,
            persist_session=False,
        )
        self.client = create_client(url, key, options)

    def push(self, rows: list[dict[str, Any]]) -> list[str]:
        arrived = datetime.now(UTC).isoformat()
        payload = [
            {
                **{c: _jsonable(row.get(c)) for c in MIRROR_COLUMNS},
                "synced_at": arrived,
                "arrived_at": arrived,
            }
            for row in rows
        ]
        try:
            response = self.client.table("events").upsert(payload, on_conflict="link").execute()
        except APIError as exc:
            # PostgREST passes PostgreSQL's SQLSTATE on: classes 22 and 23 are bad data.
            if str(exc.code or "")[:2] in ("22", "23"):
                raise RowsRefused(f"{exc.code}: {exc.message}") from exc
            raise
        return [r["link"] for r in response.data or [] if isinstance(r, dict) and "link" in r]

    def delete(self, links: list[str]) -> None:
        # Raises APIError unless PostgREST answered with success.
        self.client.table("events").delete(returning=ReturnMethod.minimal).in_(
            "link", links
        ).execute()

    def pull(
        self, cities: Sequence[str], since: datetime, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        response = (
            self.client.table("events")
            .select(",".join((*MIRROR_COLUMNS, "arrived_at")))
            .in_("city", list(cities))
            .gt("arrived_at", since.isoformat())
            .order("arrived_at")
            .order("link")
            .range(offset, offset + limit - 1)
            .execute()
        )
        rows = response.data or []
        for row in rows:
            row["arrived_at"] = datetime.fromisoformat(row["arrived_at"])
        return rows

    def close(self) -> None:
        session = getattr(self.client.postgrest, "session", None)
        if session is not None:
            session.close()


def shared_transport(config: Config, **overrides: Any) -> SharedTransport | None:
    """The configured transport (the direct one when both are set), or None."""
    db_url = overrides.get("supabase_db_url", config.supabase_db_url)
    url = overrides.get("supabase_url", config.supabase_url)
    key = overrides.get("supabase_key", config.supabase_key)
    timeout = overrides.get("timeout", config.sync_timeout_seconds)
    if db_url:
        return PostgresTransport(db_url, config.sync_concurrency, timeout)
    if url and key:
        return RestTransport(url, key, timeout)
    return None


@dataclass
class MirrorCounts:
    pushed: int = 0
    failed: int = 0
    pulled: int = 0
    deleted: int = 0  # links deleted on the shared side
    deletes_pending: int = 0  # tombstones left for `nocturne sync` (shared side down)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


PENDING_BY_LINK_SQL = sql.SQL(
    "SELECT {cols} FROM events WHERE link = ANY(%s) AND synced_at IS NULL"
).format(cols=_cols)
PENDING_PAGE_SQL = sql.SQL(
    "SELECT id, {cols} FROM events WHERE synced_at IS NULL AND id > %s ORDER BY id LIMIT %s"
).format(cols=_cols)
# Over the direct transport rows go as the local database's binary COPY output: first
# the pending rows' keys (link, version), then the rows themselves. A row changed between
# the two goes in its newer version and is not marked (its key names the older one), so
# it stays pending and goes again: never marked for a version the shared side lacks.
PENDING_KEYS_BY_LINK_SQL = (
    "SELECT link, updated_at FROM events WHERE link = ANY(%s) AND synced_at IS NULL"
)
PENDING_KEYS_PAGE_SQL = """
    SELECT id, link, updated_at FROM events
     WHERE synced_at IS NULL AND id > %s ORDER BY id LIMIT %s"""
EXPORT_SQL = sql.SQL(
    "COPY (SELECT {cols} FROM events WHERE link = ANY(%s)) TO STDOUT (FORMAT BINARY)"
).format(cols=_cols)
# Only the version that was pushed is marked: a row changed meanwhile stays pending.
MARK_SYNCED_SQL = """
    UPDATE events AS e SET synced_at = now()
      FROM unnest(%s::text[], %s::timestamptz[]) AS u(link, updated_at)
     WHERE e.link = u.link AND e.updated_at = u.updated_at"""
# A pushed row deleted here while its push was in flight: its tombstone may already have
# been sent (and dropped) before the push arrived, so it is recorded again.
RETOMBSTONE_SQL = """
    INSERT INTO events_deleted (link)
    SELECT u.link FROM unnest(%s::text[]) AS u(link)
     WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.link = u.link)
    ON CONFLICT (link) DO NOTHING"""
# A link stored here again supersedes its deletion: its row is (or will be) pushed.
DROP_REVIVED_TOMBSTONES_SQL = """
    DELETE FROM events_deleted d USING events e WHERE e.link = d.link"""
TOMBSTONE_PAGE_SQL = """
    SELECT d.link, d.deleted_at FROM events_deleted d
     WHERE d.link > %s AND NOT EXISTS (SELECT 1 FROM events e WHERE e.link = d.link)
     ORDER BY d.link LIMIT %s"""
# Only the deletion that was sent is settled (a link deleted again meanwhile keeps its
# newer tombstone, which is harmless to send twice).
SETTLE_TOMBSTONES_SQL = """
    DELETE FROM events_deleted d
     USING unnest(%s::text[], %s::timestamptz[]) AS u(link, deleted_at)
     WHERE d.link = u.link AND d.deleted_at = u.deleted_at"""
# A link stored here again while its deletion was on the way may have been pushed before
# the deletion arrived: push it again.
REPUSH_REVIVED_SQL = "UPDATE events SET synced_at = NULL WHERE link = ANY(%s) RETURNING link"


class Mirror:
    """Pushes local rows to the shared database in parallel batches and pulls others' rows."""

    def __init__(
        self,
        local_conninfo: str,
        transport: SharedTransport,
        batch_size: int = 500,
        concurrency: int = 4,
        retries: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self.transport = transport
        self.batch_size = max(1, batch_size)
        self.retries = max(1, retries)
        self.backoff = backoff
        self.local = ConnectionPool(
            local_conninfo,
            min_size=0,
            max_size=max(1, concurrency),
            kwargs={"autocommit": True},
            open=True,
        )
        self.concurrency = max(1, concurrency)
        self.executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mirror")
        self.counts = MirrorCounts()
        self.down = False  # set once a batch exhausted its retries: the rest waits for a sync

    # -- push ----------------------------------------------------------------------

    def submit_links(self, links: Sequence[str]) -> list[Future]:
        """Mirror these rows (if still pending) in the background, one task per batch."""
        return [
            self.executor.submit(self._push_links, list(links[i : i + self.batch_size]))
            for i in range(0, len(links), self.batch_size)
        ]

    def push_pending(self) -> MirrorCounts:
        """Push every row with synced_at null, in id order; wait for all batches."""
        # Bounded read-ahead: the backlog is never all in memory at once.
        slots = threading.BoundedSemaphore(2 * self.concurrency)
        futures: list[Future] = []
        last_id = 0
        raw = isinstance(self.transport, PostgresTransport)
        while not self.down:
            with self.local.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                page_sql = PENDING_KEYS_PAGE_SQL if raw else PENDING_PAGE_SQL
                rows = cur.execute(page_sql, (last_id, self.batch_size)).fetchall()
            if not rows:
                break
            last_id = rows[-1]["id"]
            slots.acquire()
            future = self.executor.submit(self._push_keys if raw else self._push_rows, rows)
            future.add_done_callback(lambda _: slots.release())
            futures.append(future)
        wait_all(futures)
        self.push_deletions()
        return self.counts

    def push_deletions(self) -> int:
        """Delete on the shared side the links deleted here (after this mirror's pushes,
        so none of them lands after its deletion); tombstones go once the shared side
        confirmed. The links deleted there now; what did not get through stays for
        `nocturne sync`."""
        with self.local.connection() as conn:
            conn.execute(DROP_REVIVED_TOMBSTONES_SQL)
        batch = min(self.batch_size, max(1, self.transport.delete_batch))
        deleted, last, revived = 0, "", []
        while not self.down:
            with self.local.connection() as conn:
                rows = conn.execute(TOMBSTONE_PAGE_SQL, (last, batch)).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            links = [link for link, _ in rows]
            if not self._send(lambda chunk=links: self.transport.delete(chunk), 0):
                break
            with self.local.connection() as conn, conn.transaction():
                conn.execute(SETTLE_TOMBSTONES_SQL, (links, [at for _, at in rows]))
                revived += [r[0] for r in conn.execute(REPUSH_REVIVED_SQL, (links,))]
            deleted += len(links)
        if self.down:
            with self.local.connection() as conn:
                left = conn.execute("SELECT count(*) FROM events_deleted").fetchone()[0]
            with self.counts.lock:
                self.counts.deletes_pending = left
        self.counts.add(deleted=deleted)
        if revived:
            self._push_links(revived)
        return deleted

    def _push_links(self, links: list[str]) -> None:
        if self.down:
            return
        raw = isinstance(self.transport, PostgresTransport)
        with self.local.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                PENDING_KEYS_BY_LINK_SQL if raw else PENDING_BY_LINK_SQL, (links,)
            ).fetchall()
        if rows:
            (self._push_keys if raw else self._push_rows)(rows)

    def _push_keys(self, keys: list[dict[str, Any]]) -> None:
        """Direct transport: these pending rows (link, updated_at) as binary COPY data."""
        if self.down:
            return
        assert isinstance(self.transport, PostgresTransport)
        transport = self.transport
        links = [key["link"] for key in keys]
        with (
            self.local.connection() as conn,
            conn.cursor() as cur,
            cur.copy(EXPORT_SQL, (links,)) as copy,
        ):
            data = [bytes(block) for block in copy]
        if not self._send(lambda: transport.push_copy(data), len(keys)):
            return
        with self.local.connection() as conn:
            marked = conn.execute(MARK_SYNCED_SQL, (links, [key["updated_at"] for key in keys]))
            if marked.rowcount < len(links):
                conn.execute(RETOMBSTONE_SQL, (links,))
        self.counts.add(pushed=len(keys))

    def _send(self, attempt: Any, count: int) -> bool:
        """Run a push with retries; False (counted, logged) when it did not get through."""
        try:
            self._with_retries(attempt)
        except RowsRefused as exc:
            # The shared side is up; only this batch is at fault. The others go on.
            self.counts.add(failed=count)
            log.warning("mirror: shared database refused a batch of %d: %s", count, exc)
            return False
        except Exception as exc:
            self.counts.add(failed=count)
            if not self.down:
                self.down = True
                log.warning(
                    "mirror: shared database not reachable (%s); rows stay pending for "
                    "`nocturne sync`",
                    _describe(exc),
                )
            return False
        return True

    def _push_rows(self, rows: list[dict[str, Any]]) -> None:
        if self.down:
            return
        confirmed: list[str] = []

        def attempt() -> None:
            confirmed[:] = self.transport.push(rows)

        if not self._send(attempt, len(rows)):
            return
        by_link = {row["link"]: row["updated_at"] for row in rows}
        links = [link for link in confirmed if link in by_link]
        with self.local.connection() as conn:
            marked = conn.execute(MARK_SYNCED_SQL, (links, [by_link[link] for link in links]))
            if marked.rowcount < len(links):
                conn.execute(RETOMBSTONE_SQL, (links,))
        self.counts.add(pushed=len(links), failed=len(rows) - len(links))

    def _with_retries(self, attempt: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.backoff, max=8),
            retry=retry_if_exception(lambda exc: not isinstance(exc, RowsRefused)),
            reraise=True,
        )
        return retrying(attempt)

    # -- pull ----------------------------------------------------------------------

    def pull(self, cities: Iterable[str], page_size: int = 1000) -> int:
        """Bring rows other installs added for `cities` since the last pull; how many."""
        cities = sorted(set(cities))
        with self.local.connection() as conn:
            row = conn.execute(
                "SELECT pulled_until FROM sync_state WHERE target = %s", (self.transport.target,)
            ).fetchone()
        watermark = row[0] if row and row[0] else datetime(1970, 1, 1, tzinfo=UTC)
        since, newest, offset, pulled = watermark - PULL_OVERLAP, watermark, 0, 0
        while cities:
            rows = self._with_retries(
                lambda o=offset: self.transport.pull(cities, since, o, page_size)
            )
            if not rows:
                break
            pulled += upsert_pulled(self.local, rows)
            newest = max(newest, max(r["arrived_at"] for r in rows))
            offset += len(rows)
            if len(rows) < page_size:
                break
        with self.local.connection() as conn:
            conn.execute(
                """INSERT INTO sync_state (target, pulled_until) VALUES (%s, %s)
                   ON CONFLICT (target) DO UPDATE
                   SET pulled_until = EXCLUDED.pulled_until, updated_at = now()""",
                (self.transport.target, newest),
            )
        self.counts.add(pulled=pulled)
        return pulled

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.local.close()
        self.transport.close()


PULL_UPSERT_SQL = sql.SQL(
    """INSERT INTO events AS e ({cols}, synced_at)
       SELECT {cols}, now() FROM pull_staging s
        WHERE NOT EXISTS (SELECT 1 FROM event_aliases a WHERE a.link = s.link)
       ON CONFLICT (link) DO UPDATE SET {sets}, synced_at = now()
       WHERE e.updated_at < EXCLUDED.updated_at
       RETURNING e.link"""
).format(
    cols=_cols,
    sets=sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
        for c in MIRROR_COLUMNS
        if c not in ("link", "created_at")
    ),
)


def upsert_pulled(pool: ConnectionPool, rows: list[dict[str, Any]]) -> int:
    """Write pulled rows locally (newer wins, known aliases skipped); rows written."""
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(_staging("pull_staging", _cols))
        with cur.copy(sql.SQL("COPY pull_staging ({}) FROM STDIN").format(_cols)) as copy:
            for row in rows:
                copy.write_row([row.get(c) for c in MIRROR_COLUMNS])
        cur.execute(PULL_UPSERT_SQL)
        written = cur.fetchall()
        cities = sorted({r["city"] for r in rows})
        if written:
            cur.execute(
                "SELECT pg_notify('events_changed', c) FROM unnest(%s::text[]) c", (cities,)
            )
    return len(written)


def wait_all(futures: Iterable[Future], timeout: float | None = None) -> None:
    for future in futures:
        future.result(timeout=timeout)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    # Connection errors can echo the conninfo; keep credentials out of the log.
    return redact_text(text)


def redact_text(text: str) -> str:
    config = Config.from_env()
    for secret in config.secrets():
        text = text.replace(secret, "***")
    return text[:300]
