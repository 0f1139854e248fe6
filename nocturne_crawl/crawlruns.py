"""The `crawl_runs` record: one row per crawl job, queued -> running -> finished | failed.

Jobs of one request (one per source) share a `run_id`. The launcher queues rows; the
`CrawlRunRecorder` extension, inside the crawl process, marks them running, heartbeats, and
writes the outcome. A process that dies without writing one (SIGKILL, OOM, a lost host) is
swept to failed by `sweep_stale`: its heartbeat went stale, its pid is gone, or the launcher
that queued it is gone.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ACTIVE = ("queued", "running")
HOST = socket.gethostname()
# Scrapy finish reasons that mean the crawl ended the way it was asked to.
OK_FINISH_REASONS = frozenset(
    {
        "finished",
        "closespider_itemcount",
        "closespider_pagecount",
        "closespider_timeout",
        "closespider_errorcount",
    }
)


@dataclass(frozen=True)
class Job:
    """One queued crawl: one spider over one city."""

    job_id: str
    run_id: str
    city: str
    spider: str
    trigger: str

    def public(self, status: str = "queued") -> dict[str, str]:
        return {"job_id": self.job_id, "spider": self.spider, "status": status}


@dataclass(frozen=True)
class Outcome:
    """How a crawl ended, read from its stats."""

    status: str  # finished | failed
    error: str | None
    counts: dict[str, int]


def new_id() -> str:
    return uuid.uuid4().hex


def launcher_identity() -> str:
    return f"{HOST}:{os.getpid()}"


def stat_counts(stats: dict[str, Any]) -> dict[str, int]:
    """The counters `crawl_runs` keeps, from a crawl's stats (pipelines' and spiders' keys)."""
    dropped = sum(v for k, v in stats.items() if k.startswith("nocturne/dropped/"))
    return {
        "pages": int(stats.get("nocturne/pages", 0)),
        "items_scraped": int(stats.get("item_scraped_count", 0)),
        "items_new": int(stats.get("nocturne/items_new", 0)),
        "items_updated": int(stats.get("nocturne/items_updated", 0)),
        "items_dropped": int(dropped or stats.get("item_dropped_count", 0)),
    }


def crawl_outcome(stats: dict[str, Any], reason: str | None) -> Outcome:
    """Decide finished or failed.

    Failed when Scrapy stopped for another reason than the crawl's own end (shutdown,
    cancelled, an exception), when nothing was scraped and something went wrong (source
    errors, spider exceptions, logged errors), or when events were scraped but none could be
    stored. A city with no events and no errors is a finished crawl with zero items.
    """
    counts = stat_counts(stats)
    reason = reason or "unknown"
    if reason not in OK_FINISH_REASONS:
        return Outcome("failed", f"crawl stopped before the end ({reason})", counts)
    seen = counts["items_scraped"] + counts["items_dropped"]
    source_errors = int(stats.get("nocturne/source_errors", 0))
    exceptions = int(stats.get("spider_exceptions/count", 0)) or sum(
        v for k, v in stats.items() if k.startswith("spider_exceptions/")
    )
    logged_errors = int(stats.get("log_count/ERROR", 0))
    if seen == 0 and (source_errors or exceptions or logged_errors):
        parts = []
        if source_errors:
            parts.append(f"{source_errors} source error(s)")
        if exceptions:
            parts.append(f"{exceptions} spider exception(s)")
        if not parts:
            parts.append(f"{logged_errors} logged error(s)")
        return Outcome("failed", "no events scraped: " + ", ".join(parts), counts)
    db_errors = int(stats.get("nocturne/db_errors", 0))
    stored = counts["items_new"] + counts["items_updated"]
    if counts["items_scraped"] and db_errors and not stored:
        return Outcome("failed", f"no events stored: {db_errors} database error(s)", counts)
    return Outcome("finished", None, counts)


def json_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """Stats made JSON-safe (datetimes as ISO strings) for the `stats` column."""
    safe: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, datetime):
            safe[key] = value.isoformat()
        elif isinstance(value, int | float | str | bool) or value is None:
            safe[key] = value
        else:
            safe[key] = str(value)
    return safe


def queue_jobs(
    conn: psycopg.Connection,
    *,
    city: str,
    spiders: tuple[str, ...],
    trigger: str,
    backend: str,
    client: str | None = None,
) -> list[Job]:
    """Insert one queued row per spider, sharing a new run id (in the caller's transaction)."""
    run_id = new_id()
    jobs = [Job(new_id(), run_id, city, spider, trigger) for spider in spiders]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO crawl_runs (job_id, run_id, city, spider, trigger, status, backend,
                                       launcher, client)
               VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s)""",
            [
                (j.job_id, run_id, city, j.spider, trigger, backend, launcher_identity(), client)
                for j in jobs
            ],
        )
    return jobs


def note_process(conn: psycopg.Connection, job_id: str, pid: int, log_path: Path) -> None:
    """The launcher started the job's process: keep its pid and log before it reports in."""
    conn.execute(
        """UPDATE crawl_runs SET pid = %s, host = %s, log_path = %s
           WHERE job_id = %s AND status = 'queued'""",
        (pid, HOST, str(log_path), job_id),
    )


def mark_running(
    conn: psycopg.Connection,
    *,
    job_id: str,
    run_id: str,
    city: str,
    spider: str,
    trigger: str,
    backend: str,
    log_path: str | None,
) -> None:
    """The crawl process started: create the row (plain `scrapy crawl`) or move it to running."""
    conn.execute(
        """INSERT INTO crawl_runs (job_id, run_id, city, spider, trigger, status, backend, pid,
                                   host, log_path, started_at, heartbeat_at)
           VALUES (%s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, now(), now())
           ON CONFLICT (job_id) DO UPDATE SET
               status = 'running', pid = EXCLUDED.pid, host = EXCLUDED.host,
               log_path = COALESCE(EXCLUDED.log_path, crawl_runs.log_path),
               started_at = now(), heartbeat_at = now(), error = NULL""",
        (job_id, run_id, city, spider, trigger, backend, os.getpid(), HOST, log_path),
    )


def heartbeat(conn: psycopg.Connection, job_id: str, counts: dict[str, int]) -> None:
    """Still alive, with the counts so far (what progress displays show)."""
    conn.execute(
        """UPDATE crawl_runs SET heartbeat_at = now(), pages = %(pages)s,
               items_scraped = %(items_scraped)s, items_new = %(items_new)s,
               items_updated = %(items_updated)s, items_dropped = %(items_dropped)s
           WHERE job_id = %(job_id)s AND status = 'running'""",
        {**counts, "job_id": job_id},
    )


def mark_done(
    conn: psycopg.Connection,
    job_id: str,
    outcome: Outcome,
    finish_reason: str | None,
    stats: dict[str, Any],
) -> None:
    """Write the crawl's outcome, counts and stats."""
    conn.execute(
        """UPDATE crawl_runs SET status = %(status)s, error = %(error)s,
               finish_reason = %(reason)s, finished_at = now(), heartbeat_at = now(),
               pages = %(pages)s, items_scraped = %(items_scraped)s, items_new = %(items_new)s,
               items_updated = %(items_updated)s, items_dropped = %(items_dropped)s,
               stats = %(stats)s
           WHERE job_id = %(job_id)s""",
        {
            **outcome.counts,
            "status": outcome.status,
            "error": outcome.error,
            "reason": finish_reason,
            "stats": psycopg.types.json.Jsonb(json_stats(stats)),
            "job_id": job_id,
        },
    )


def mark_health(conn: psycopg.Connection, job_id: str, found: Any) -> None:
    """Store a run's coverage and health (nocturne_crawl.health.Health)."""
    conn.execute(
        """UPDATE crawl_runs SET coverage = %(coverage)s, health = %(health)s,
               health_notes = %(health_notes)s
           WHERE job_id = %(job_id)s""",
        {**found.as_columns(), "job_id": job_id},
    )


def fail_if_active(conn: psycopg.Connection, job_ids: list[str], error: str) -> int:
    """Mark jobs failed unless they already recorded an outcome; how many were marked."""
    cur = conn.execute(
        """UPDATE crawl_runs SET status = 'failed', error = %s, finished_at = now()
           WHERE job_id = ANY(%s) AND status IN ('queued', 'running')""",
        (error[:2000], job_ids),
    )
    return cur.rowcount


def process_alive(pid: int) -> bool:
    """Whether a crawl process with this pid runs on this host (zombies count as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # The state letter follows the parenthesized command name, which may hold spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _launcher_alive(launcher: str | None) -> bool:
    if not launcher or ":" not in launcher:
        return True
    host, _, pid = launcher.rpartition(":")
    if host != HOST or not pid.isdigit():
        return True  # another machine's launcher: only its heartbeat rule applies
    return process_alive(int(pid))


def sweep_stale(
    conn: psycopg.Connection,
    stale_seconds: int,
    queue_timeout_seconds: int,
    city: str | None = None,
) -> int:
    """Fail the jobs that can no longer finish; how many were failed.

    Running jobs: no heartbeat for `stale_seconds`, or a pid that is gone from this host.
    Queued jobs: waiting longer than `queue_timeout_seconds`, or their process/launcher on
    this host is gone.
    """
    rows = conn.execute(
        """SELECT job_id, status, pid, host, launcher,
                  extract(epoch FROM now() - heartbeat_at) AS silent,
                  extract(epoch FROM now() - created_at) AS waited
           FROM crawl_runs
           WHERE status IN ('queued', 'running') AND (%(city)s::text IS NULL OR city = %(city)s)""",
        {"city": city},
    ).fetchall()
    failed = 0
    for job_id, status, pid, host, launcher, silent, waited in rows:
        error = None
        local_dead = pid is not None and host == HOST and not process_alive(pid)
        if status == "running":
            if silent is not None and silent > stale_seconds:
                error = f"crawl process stopped reporting (no heartbeat for {int(silent)} s)"
            elif local_dead:
                error = f"crawl process {pid} exited without recording an outcome"
        else:
            if waited > queue_timeout_seconds:
                error = f"crawl did not start within {queue_timeout_seconds} s"
            elif local_dead:
                error = f"crawl process {pid} exited before it started crawling"
            elif pid is None and not _launcher_alive(launcher):
                error = "the launcher that queued this crawl exited before starting it"
        if error:
            failed += fail_if_active(conn, [job_id], error)
    return failed


def _job_public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "spider": row["spider"],
        "job_id": row["job_id"],
        "status": row["status"],
        "items_scraped": row["items_scraped"],
        "items_new": row["items_new"],
        "items_updated": row["items_updated"],
        "items_dropped": row["items_dropped"],
        "pages": row["pages"],
        "health": row["health"],
        "health_notes": row["health_notes"],
        "coverage": row["coverage"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "error": row["error"],
    }


_JOB_COLUMNS = """job_id, run_id, city, spider, trigger, status, backend, created_at,
    started_at, finished_at, heartbeat_at, pages, items_scraped, items_new, items_updated,
    items_dropped, error, finish_reason, health, health_notes, coverage,
    coalesce((stats->>'nocturne/dedupe/rows_merged')::int, 0)
      + coalesce((stats->>'nocturne/dedupe/late_merged')::int, 0) AS rows_merged"""


def run_jobs(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM crawl_runs WHERE run_id = %s ORDER BY id",  # noqa: S608
            (run_id,),
        ).fetchall()


def run_state(statuses: list[str]) -> str:
    """One state for a run from its jobs' states.

    Running while any job runs, queued while jobs only wait, then finished when at least one
    source finished (the others' errors are in `sources`), failed when every source failed.
    """
    if "running" in statuses:
        return "running"
    if "queued" in statuses:
        return "running" if "finished" in statuses or "failed" in statuses else "queued"
    if statuses and all(s == "failed" for s in statuses):
        return "failed"
    return "finished" if statuses else "idle"


def run_summary(city: str, run_id: str | None, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `GET /scrape/{city}` body for one run (or an idle city)."""
    if not jobs:
        return {
            "city": city,
            "run_id": None,
            "status": "idle",
            "trigger": None,
            "started_at": None,
            "finished_at": None,
            "items_scraped": 0,
            "items_new": 0,
            "items_updated": 0,
            "error": None,
            "degraded": False,
            "sources": [],
        }
    status = run_state([j["status"] for j in jobs])
    started = [j["started_at"] for j in jobs if j["started_at"]]
    finished = [j["finished_at"] for j in jobs if j["finished_at"]]
    error = None
    if status == "failed":
        error = "; ".join(f"{j['spider']}: {j['error'] or 'failed'}" for j in jobs)
    return {
        "city": city,
        "run_id": run_id,
        "status": status,
        "trigger": jobs[0]["trigger"],
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if status in ("finished", "failed") and finished else None,
        "items_scraped": sum(j["items_scraped"] for j in jobs),
        # Rows new to the city: when two sources' crawls store one event at the same time,
        # the dedupe merges the later row into the other, and it is not new twice.
        "items_new": max(0, sum(j["items_new"] - j["rows_merged"] for j in jobs)),
        "items_updated": sum(j["items_updated"] for j in jobs),
        "error": error,
        # Any source that looks like its site changed (see nocturne_crawl.health).
        "degraded": any(j["health"] == "degraded" for j in jobs),
        "sources": [_job_public(j) for j in jobs],
    }


def latest_run(conn: psycopg.Connection, city: str) -> dict[str, Any]:
    """The latest run of a city, summarized (status `idle` when it was never crawled)."""
    row = conn.execute(
        "SELECT run_id FROM crawl_runs WHERE city = %s ORDER BY created_at DESC, id DESC LIMIT 1",
        (city,),
    ).fetchone()
    if row is None:
        return run_summary(city, None, [])
    return run_summary(city, row[0], run_jobs(conn, row[0]))


def job_detail(conn: psycopg.Connection, job_id: str) -> dict[str, Any] | None:
    """One job's row for `GET /crawls/{job_id}`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM crawl_runs WHERE job_id = %s",  # noqa: S608
            (job_id,),
        ).fetchone()
    if row is None:
        return None
    detail = _job_public(row)
    detail.update(
        run_id=row["run_id"],
        city=row["city"],
        trigger=row["trigger"],
        backend=row["backend"],
        created_at=row["created_at"],
        heartbeat_at=row["heartbeat_at"],
        finish_reason=row["finish_reason"],
    )
    return detail
