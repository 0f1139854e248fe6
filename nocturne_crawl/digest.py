"""The digest job: each active subscription gets its city's events that are new since its
last delivered digest, still upcoming, in start order, capped with "and N more".

Never twice. A run holds a PostgreSQL advisory lock per city, so two runs never work on
the same city at once. For each mail it first commits a `pending` email_logs row (the
claim: the ids of the events it covers and the run's watermark), then talks SMTP, then marks the row
`sent` or `failed`. The next digest starts at the latest watermark of a `sent` (or
`unknown`) row, so a run that is repeated finds nothing new. If a run dies between the
SMTP send and the mark, its row stays `pending`; the next run (holding the lock, so the
row cannot be in flight) turns it into `unknown` and counts it as delivered. The bounded
outcome of a crash is therefore: at most one mail per subscriber missed (the one in
flight, if the server had not taken it), never a duplicate.

Late commits. A crawl batch that commits after the run's watermark can carry
`created_at` values from before it (now() is the transaction's start). Each digest
therefore looks back `LATE_COMMIT_WINDOW` before the previous watermark, and leaves out
the events that digests in that window already covered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg import sql
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from nocturne_crawl.cities import City, get_city
from nocturne_crawl.config import Config
from nocturne_crawl.event_filters import EventFilters, FilterError
from nocturne_crawl.mail.compose import (
    DigestEvent,
    OutgoingMail,
    digest_message,
    digest_subject,
)
from nocturne_crawl.mail.transport import (
    MailError,
    MailTransport,
    TransientMailError,
    make_transport,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Arbitrary constant: the advisory lock class shared by all digest runs (key 2: the city).
DIGEST_LOCK_CLASS = 7_345_006
LATE_COMMIT_WINDOW = timedelta(minutes=10)
LOCK_WAIT_SECONDS = 10.0
# Digests claimed per statement by each sender. A crash strands at most this many claimed
# mails per sender (counted as sent by the next run); larger batches save round trips.
CLAIM_BATCH = 8
DELIVERED = ("sent", "unknown", "pending")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    city: City
    filters: EventFilters
    since: datetime
    already_covered: frozenset[int]


@dataclass(frozen=True)
class DigestPlan:
    """One mail to send: the events it lists and how many are new in all."""

    subscriber: Subscriber
    events: tuple[DigestEvent, ...]
    covered: tuple[int, ...]  # every new event, listed or counted in "and N more"
    watermark: datetime

    @property
    def total(self) -> int:
        return len(self.covered)


@dataclass
class DigestReport:
    run_id: str
    dry_run: bool
    transport: str = ""
    cities: list[str] = field(default_factory=list)
    busy_cities: list[str] = field(default_factory=list)
    subscribers: int = 0
    # repr=False: a report's repr would otherwise list every mail of the run.
    planned: list[DigestPlan] = field(default_factory=list, repr=False)
    sent: int = 0
    failed: int = 0
    attempts: int = 0
    crashed_resolved: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"digest dry run {self.run_id}: {len(self.planned)} of {self.subscribers} "
                f"subscriber(s) would get a mail ({', '.join(self.cities) or 'no cities'})"
            )
        rate = self.sent / self.seconds if self.seconds else 0.0
        text = (
            f"digest run {self.run_id} via {self.transport}: {self.sent} sent, {self.failed} "
            f"failed, {self.attempts} attempt(s), {self.subscribers} subscriber(s) in "
            f"{len(self.cities)} city(ies), {self.seconds:.1f} s ({rate:.0f} mails/s)"
        )
        if self.crashed_resolved:
            text += (
                f"; {self.crashed_resolved} mail(s) left in flight by a crashed run counted as sent"
            )
        if self.busy_cities:
            text += f"; skipped (another run holds them): {', '.join(self.busy_cities)}"
        return text


def _blocking(job: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The coroutine function `job` as a plain function that runs it to the end on a fresh
    event loop (`asyncio.run`): one signature serves both."""

    @functools.wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(job(*args, **kwargs))

    return run


@_blocking
async def run_digest(
    config: Config,
    conninfo: str,
    *,
    cities: Iterable[str] | None = None,
    dry_run: bool = False,
    transport: MailTransport | None = None,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> DigestReport:
    """Send (or with dry_run, plan) the digests; the job the CLI and the scheduler run.

    A plain (blocking) call: `_blocking` runs the coroutine to the end.
    """
    started = time.perf_counter()
    report = DigestReport(run_id=uuid.uuid4().hex[:12], dry_run=dry_run)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        wanted = list(cities) if cities is not None else await _subscribed_cities(conn)
        for city_id in wanted:
            if dry_run or await _lock_city(conn, city_id, lock_wait):
                report.cities.append(city_id)
            else:
                report.busy_cities.append(city_id)
        if not report.cities:
            return report
        if not dry_run:
            report.crashed_resolved = await resolve_crashed_claims(conn, report.cities)
        cutoff = (await (await conn.execute("SELECT now()")).fetchone())[0]
        subscribers = await load_subscribers(conn, config, report.cities)
        report.subscribers = len(subscribers)
        report.planned = await plan_digests(conn, config, subscribers, cutoff)
        if dry_run:
            return report
        transport = transport or make_transport(config)
        report.transport = transport.describe()
        async with transport:
            await deliver(config, conninfo, transport, report)
        # The locks go with the connection; unlock explicitly for a pooled caller's sake.
        await conn.execute("SELECT pg_advisory_unlock_all()")
    report.seconds = time.perf_counter() - started
    log.info("%s", report.summary())
    return report


async def _subscribed_cities(conn: psycopg.AsyncConnection) -> list[str]:
    cur = await conn.execute(
        "SELECT DISTINCT city FROM subscriptions WHERE is_active ORDER BY city"
    )
    return [row[0] for row in await cur.fetchall()]


async def _lock_city(conn: psycopg.AsyncConnection, city_id: str, wait: float) -> bool:
    """Take the city's digest lock, waiting up to `wait` seconds for another run to end."""
    # Waiting a little also covers a run that has just died: PostgreSQL releases its locks
    # once it notices the lost connection, a moment after the process is gone.
    await conn.execute(
        sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(wait * 1000)}ms"))
    )
    try:
        if wait > 0:
            await conn.execute(
                "SELECT pg_advisory_lock(%s, hashtext(%s))", (DIGEST_LOCK_CLASS, city_id)
            )
            return True
        cur = await conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (DIGEST_LOCK_CLASS, city_id)
        )
        return (await cur.fetchone())[0]
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        await conn.execute("RESET lock_timeout")


async def resolve_crashed_claims(conn: psycopg.AsyncConnection, cities: list[str]) -> int:
    """Turn `pending` digest rows of these (locked) cities into `unknown`: a run died
    between claim and result, and we cannot know whether the server took the mail."""
    cur = await conn.execute(
        """UPDATE email_logs l
              SET status = 'unknown', finished_at = now(),
                  error = 'the run ended between sending and logging; counted as sent so it is never sent twice'
             FROM subscriptions s
            WHERE l.subscription_id = s.id AND s.city = ANY(%s)
              AND l.kind = 'digest' AND l.status = 'pending'""",
        (cities,),
    )
    if cur.rowcount:
        log.warning(
            "%d digest mail(s) were in flight when a run died; counted as sent", cur.rowcount
        )
    return cur.rowcount


async def load_subscribers(
    conn: psycopg.AsyncConnection, config: Config, cities: list[str]
) -> list[Subscriber]:
    """Active (and, with double opt-in, confirmed) subscriptions with their starting point."""
    cur = await conn.execute(
        """SELECT s.id, s.email, s.city, s.filters, s.created_at, w.watermark,
                  COALESCE(r.listed, '{}') AS listed
             FROM subscriptions s
             LEFT JOIN LATERAL (
                   SELECT max(l.watermark) AS watermark FROM email_logs l
                    WHERE l.subscription_id = s.id AND l.kind = 'digest'
                      AND l.status = ANY(%(delivered)s)) w ON true
             LEFT JOIN LATERAL (
                   SELECT array_agg(DISTINCT e) AS listed
                     FROM email_logs l CROSS JOIN unnest(l.event_ids) AS e
                    WHERE l.subscription_id = s.id AND l.kind = 'digest'
                      AND l.status = ANY(%(delivered)s)
                      AND l.watermark > w.watermark - %(window)s) r ON true
            WHERE s.city = ANY(%(cities)s) AND s.is_active
              AND (s.confirmed_at IS NOT NULL OR NOT %(confirm)s)
            ORDER BY s.id""",
        {
            "delivered": list(DELIVERED),
            "window": LATE_COMMIT_WINDOW,
            "cities": cities,
            "confirm": config.confirm_subscriptions,
        },
    )
    subscribers = []
    for sub_id, email, city_id, raw_filters, created_at, watermark, listed in await cur.fetchall():
        city = get_city(city_id)
        try:
            filters = EventFilters.parse(raw_filters or {})
        except FilterError as exc:
            log.warning("subscription %s has unusable filters (%s); skipped", sub_id, exc)
            continue
        if city is None:
            log.warning("subscription %s is for unknown city %r; skipped", sub_id, city_id)
            continue
        since = created_at if watermark is None else watermark - LATE_COMMIT_WINDOW
        subscribers.append(Subscriber(sub_id, email, city, filters, since, frozenset(listed)))
    return subscribers


async def plan_digests(
    conn: psycopg.AsyncConnection,
    config: Config,
    subscribers: list[Subscriber],
    cutoff: datetime,
) -> list[DigestPlan]:
    """What each subscriber gets: one events query per (city, filters), shared by all."""
    groups: dict[tuple[str, bytes], list[Subscriber]] = {}
    for sub in subscribers:
        key = (sub.city.id, orjson.dumps(sub.filters.to_json(), option=orjson.OPT_SORT_KEYS))
        groups.setdefault(key, []).append(sub)
    plans: list[DigestPlan] = []
    for members in groups.values():
        candidates = await _candidate_events(conn, members, cutoff)
        # Subscribers with the same starting point get the same list: pick it once.
        picked: dict[
            tuple[datetime, frozenset[int]], tuple[tuple[DigestEvent, ...], tuple[int, ...]]
        ] = {}
        for sub in members:
            key = (sub.since, sub.already_covered)
            if key not in picked:
                new = [
                    e
                    for e in candidates
                    if e["created_at"] > sub.since and e["id"] not in sub.already_covered
                ]
                zone = sub.city.tz
                shown = tuple(
                    DigestEvent.from_row(e, zone) for e in new[: config.digest_max_events]
                )
                picked[key] = (shown, tuple(e["id"] for e in new))
            shown, covered = picked[key]
            if covered:
                plans.append(DigestPlan(sub, shown, covered, cutoff))
    return plans


async def _candidate_events(
    conn: psycopg.AsyncConnection, members: list[Subscriber], cutoff: datetime
) -> list[dict[str, Any]]:
    first = members[0]
    conditions, params = first.filters.conditions()
    where = [
        sql.SQL("city = %s"),
        sql.SQL("status = 'active'"),
        sql.SQL("starts_at > now()"),
        sql.SQL("created_at > %s"),
        sql.SQL("created_at <= %s"),
        *conditions,
    ]
    query = sql.SQL(
        """SELECT id, title, link, location, source, starts_at, time, created_at
             FROM events WHERE {where} ORDER BY starts_at, id"""
    ).format(where=sql.SQL(" AND ").join(where))
    since = min(m.since for m in members)
    cur = await conn.execute(query, [first.city.id, since, cutoff, *params])
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def deliver(
    config: Config, conninfo: str, transport: MailTransport, report: DigestReport
) -> None:
    """Send the planned mails with at most `smtp_concurrency` in flight."""
    plans = iter(report.planned)
    workers = max(1, min(config.smtp_concurrency, len(report.planned)))
    await asyncio.gather(
        *(_worker(config, conninfo, transport, plans, report) for _ in range(workers))
    )


async def _worker(
    config: Config,
    conninfo: str,
    transport: MailTransport,
    plans: Iterator[DigestPlan],
    report: DigestReport,
) -> None:
    # Claims must be durable before the mail leaves (a lost claim could mean a duplicate);
    # results need not be: a result lost in a database crash leaves the claim `pending`,
    # which the next run counts as delivered. So results skip the WAL flush wait.
    claims = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    results = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, options="-c synchronous_commit=off"
    )
    async with claims, results:
        while batch := list(islice(plans, CLAIM_BATCH)):
            await send_batch(config, (claims, results), transport, batch, report)


async def send_batch(
    config: Config,
    conns: tuple[psycopg.AsyncConnection, psycopg.AsyncConnection],
    transport: MailTransport,
    batch: list[DigestPlan],
    report: DigestReport,
) -> None:
    """First attempts of a few digests: one claim statement, the sends, one result statement.

    Transient failures are then retried one by one, with backoff (`send_digest`).
    """
    claims, results = conns
    claimed = await claim_attempts(claims, batch, report.run_id, attempt=1)
    outcomes: list[tuple[int, str, str | None, str | None]] = []
    retry: list[DigestPlan] = []
    for plan in batch:
        log_id = claimed.get(plan.subscriber.id)
        if log_id is None:
            continue  # unsubscribed since the plan was made
        report.attempts += 1
        mail = _compose(config, plan, log_id, report.run_id)
        try:
            await transport.send(mail)
        except MailError as exc:
            outcomes.append((log_id, "failed", _error_text(config, exc, 1), None))
            if exc.transient and config.mail_attempts > 1:
                retry.append(plan)
            else:
                log.warning("digest to subscription %s failed: %s", plan.subscriber.id, exc)
                report.failed += 1
            continue
        outcomes.append((log_id, "sent", None, mail.message_id))
        report.sent += 1
    await finish_attempts(results, outcomes)
    for plan in retry:
        await asyncio.sleep(_backoff(config))
        if await send_digest(config, conns, transport, plan, report, first_attempt=2):
            report.sent += 1
        else:
            report.failed += 1


def _backoff(config: Config) -> float:
    return config.mail_retry_backoff_seconds * (1 + random.random() / 2)  # noqa: S311


def _compose(config: Config, plan: DigestPlan, log_id: int, run_id: str) -> OutgoingMail:
    sub = plan.subscriber
    return digest_message(
        config,
        subscription_id=sub.id,
        email=sub.email,
        city=sub.city,
        events=list(plan.events),
        total=plan.total,
        message_id=f"digest.{log_id}.{run_id}",
    )


async def send_digest(
    config: Config,
    conns: tuple[psycopg.AsyncConnection, psycopg.AsyncConnection],
    transport: MailTransport,
    plan: DigestPlan,
    report: DigestReport,
    first_attempt: int = 1,
) -> bool:
    """One digest, attempt by attempt with exponential backoff on transient errors (4xx,
    lost connections), none on permanent ones (5xx); True if sent.

    `conns` is (claims, results): a synchronous-commit and an asynchronous-commit connection.
    """
    claims, results = conns
    sub = plan.subscriber
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, config.mail_attempts - first_attempt + 1)),
        wait=wait_exponential(multiplier=config.mail_retry_backoff_seconds, max=60)
        + wait_random(0, config.mail_retry_backoff_seconds / 2),
        retry=retry_if_exception_type(TransientMailError),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                number = first_attempt + attempt.retry_state.attempt_number - 1
                claimed = await claim_attempts(claims, [plan], report.run_id, number)
                log_id = claimed.get(sub.id)
                if log_id is None:
                    return False  # unsubscribed since the plan was made
                report.attempts += 1
                mail = _compose(config, plan, log_id, report.run_id)
                try:
                    await transport.send(mail)
                except MailError as exc:
                    error = _error_text(config, exc, number)
                    await finish_attempts(results, [(log_id, "failed", error, None)])
                    raise
                await finish_attempts(results, [(log_id, "sent", None, mail.message_id)])
    except MailError as exc:
        log.warning("digest to subscription %s failed: %s", sub.id, exc)
        return False
    return True


def _error_text(config: Config, exc: MailError, attempt: int) -> str:
    text = str(exc)
    for secret in config.secrets():
        text = text.replace(secret, "***")
    if exc.transient and attempt < config.mail_attempts:
        return f"{text} (attempt {attempt}, will retry)"
    if exc.transient:
        return f"{text} (attempt {attempt}, giving up until the next run)"
    return f"{text} (permanent, not retried)"


CLAIM_SQL = """
    INSERT INTO email_logs (subscription_id, email, subject, event_count, status, kind,
                            attempt, run_id, event_ids, watermark)
    SELECT id, email, %s, %s, 'pending', 'digest', %s, %s, %s, %s
      FROM subscriptions WHERE id = %s AND is_active
    RETURNING subscription_id, id"""


async def claim_attempts(
    conn: psycopg.AsyncConnection, plans: list[DigestPlan], run_id: str, attempt: int
) -> dict[int, int]:
    """Commit `pending` rows before the mails leave: {subscription id: log id}, leaving out
    subscriptions that went inactive since the plan was made."""
    params = [
        (
            digest_subject(p.subscriber.city, p.total),
            p.total,
            attempt,
            run_id,
            list(p.covered),
            p.watermark,
            p.subscriber.id,
        )
        for p in plans
    ]
    claimed: dict[int, int] = {}
    # One transaction, one round trip (executemany pipelines), one WAL flush for the batch.
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(CLAIM_SQL, params, returning=True)
        while True:
            for sub_id, log_id in await cur.fetchall():
                claimed[sub_id] = log_id
            if not cur.nextset():
                break
    return claimed


async def finish_attempts(
    conn: psycopg.AsyncConnection, outcomes: list[tuple[int, str, str | None, str | None]]
) -> None:
    """Record (log id, status, error, message id) results in one statement."""
    if not outcomes:
        return
    ids, statuses, errors, message_ids = (list(column) for column in zip(*outcomes, strict=True))
    await conn.execute(
        """UPDATE email_logs l
              SET status = v.status, error = v.error, message_id = v.message_id,
                  finished_at = now()
             FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
                  AS v (id, status, error, message_id)
            WHERE l.id = v.id""",
        (ids, statuses, errors, message_ids),
    )
