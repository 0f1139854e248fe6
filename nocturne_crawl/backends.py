"""Where crawl processes run: local `scrapy crawl` subprocesses, or a Scrapyd server.

Either way each job is its own process running one spider over one city, and the process
records itself in `crawl_runs` (see `recorder.py`); a backend only starts jobs and, when a
process dies without a word, says so.
"""

from __future__ import annotations

import logging
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from nocturne_crawl import crawlruns
from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.crawlruns import Job
from nocturne_crawl.crawlworker import CrawlWorkerClient, ForkedProcess, fork_available

log = logging.getLogger(__name__)

SCRAPYD_PROJECT = "nocturne"


class LaunchError(RuntimeError):
    """The backend could not start a crawl."""


class CrawlBackend(Protocol):
    name: str

    def submit(self, jobs: list[Job]) -> None: ...

    def reconcile(self, conn: psycopg.Connection) -> int: ...

    def close(self, cancel_running: bool = False, timeout: float = 30) -> None: ...


def _last_line(path: Path, secrets: Iterable[str]) -> str:
    """The log's last non-empty line (the traceback's message, usually), secrets removed."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    line = next((ln for ln in reversed(lines) if ln), "")[:300]
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"crawl process killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"crawl process killed by signal {-code}"
    return f"crawl process exited with status {code}"


class SubprocessBackend:
    """`scrapy crawl <spider> -a city=<id>` processes, one per job, at most `concurrency` at once.

    Jobs beyond the limit wait in a FIFO queue (the executor's). Each job's output goes to
    `<logs_dir>/<job_id>.log`. A process that exits without recording an outcome (killed,
    crashed before the spider opened) is marked failed here, with its exit reason.

    With `prefork` (the default where `os.fork` exists) the processes are forked by one
    crawl worker that imported Scrapy and the project once (`crawlworker.py`, its own log
    `<logs_dir>/crawl-worker.log`); otherwise, or when the worker cannot start, each is a
    fresh `python -m scrapy crawl ...`. Either way a crawl is a process of its own.
    """

    name = "subprocess"

    def __init__(
        self,
        pool: ConnectionPool,
        conninfo: str,
        logs_dir: Path,
        concurrency: int,
        env: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
        secrets: Iterable[str] = (),
        prefork: bool = True,
    ):
        import os

        self.pool = pool
        self.logs_dir = Path(logs_dir)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        # The crawl processes use the very database the launcher uses (the embedded server's
        # URL is resolved once by the caller and handed down).
        self.env = {**os.environ, **(env or {}), "DATABASE_URL": conninfo}
        self.settings = dict(settings or {})
        self.secrets = [s for s in (*secrets, conninfo) if s]
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen | ForkedProcess] = {}
        self._waiting: set[str] = set()
        self._closing = False
        self.prefork = prefork and fork_available()
        self._worker: CrawlWorkerClient | None = None
        self._worker_lock = threading.Lock()
        # Daemon workers: an app that exits does not wait for its crawls, which run in their
        # own sessions and record their own outcome.
        self._workers = [
            threading.Thread(target=self._work, name=f"crawl-{n}", daemon=True)
            for n in range(max(1, concurrency))
        ]
        for worker in self._workers:
            worker.start()

    def command(self, job: Job, log_path: Path) -> list[str]:
        return [sys.executable, "-m", "scrapy", *self.scrapy_args(job, log_path)]

    def scrapy_args(self, job: Job, log_path: Path) -> list[str]:
        """`crawl <spider> -a city=<id> -s ...`: the arguments after `scrapy`."""
        cmd = ["crawl", job.spider, "-a", f"city={job.city}"]
        settings = {
            "NOCTURNE_JOB_ID": job.job_id,
            "NOCTURNE_RUN_ID": job.run_id,
            "NOCTURNE_TRIGGER": job.trigger,
            "NOCTURNE_BACKEND": self.name,
            "NOCTURNE_LOG_PATH": str(log_path),
            **self.settings,
        }
        for key, value in settings.items():
            cmd += ["-s", f"{key}={value}"]
        return cmd

    def submit(self, jobs: list[Job]) -> None:
        with self._lock:
            if self._closing:
                raise LaunchError("the launcher is shutting down")
            for job in jobs:
                self._waiting.add(job.job_id)
                self._queue.put(job)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception:  # one job's trouble must not stop the worker
                log.exception("crawl job %s", job.job_id)

    def _fail(self, job: Job, error: str) -> None:
        if self.pool.closed:
            return  # the launcher is gone; the sweeper of the next status read decides
        with self.pool.connection() as conn:
            if crawlruns.fail_if_active(conn, [job.job_id], error):
                log.warning("crawl %s (%s %s) failed: %s", job.job_id, job.spider, job.city, error)

    def _run(self, job: Job) -> None:
        with self._lock:
            self._waiting.discard(job.job_id)
            if self._closing:
                return
        log_path = self.logs_dir / f"{job.job_id}.log"
        try:
            proc = self._start(job, log_path)
        except OSError as exc:
            self._fail(job, f"could not start the crawl process: {exc}")
            return
        with self._lock:
            self._running[job.job_id] = proc
        try:
            with self.pool.connection() as conn:
                crawlruns.note_process(conn, job.job_id, proc.pid, log_path)
        except psycopg.Error as exc:
            log.warning("could not note crawl process %s: %s", proc.pid, type(exc).__name__)
        code = proc.wait()
        with self._lock:
            self._running.pop(job.job_id, None)
        if code is None:
            # Forked by a worker that went away first: the status is lost, not the outcome
            # (a crawl that recorded itself keeps it; `_fail` only touches active rows).
            self._fail(job, "crawl process exited; its exit status was lost with the crawl worker")
            return
        reason = exit_reason(code)
        detail = _last_line(log_path, self.secrets) if code > 0 else ""
        self._fail(job, f"{reason}: {detail}" if detail else reason)

    def _start(self, job: Job, log_path: Path) -> subprocess.Popen | ForkedProcess:
        worker = self._crawl_worker()
        if worker is not None:
            try:
                return worker.start(["scrapy", *self.scrapy_args(job, log_path)], log_path)
            except OSError as exc:
                log.warning("crawl worker: %s; starting %s as a new process", exc, job.job_id)
        with log_path.open("ab") as out:
            return subprocess.Popen(
                self.command(job, log_path),
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the app does not hit the crawls.
                start_new_session=True,
            )

    def _crawl_worker(self) -> CrawlWorkerClient | None:
        """The pre-forked crawl worker, started on first use (again if it died); None: off."""
        with self._worker_lock:
            if not self.prefork or self._closing:
                return None
            if self._worker is not None and self._worker.alive:
                return self._worker
            try:
                self._worker = CrawlWorkerClient(
                    self.env, REPO_ROOT, self.logs_dir / "crawl-worker.log"
                )
            except OSError as exc:
                # Not again for this backend: each try would cost a start-up.
                log.warning("no pre-forked crawl worker (%s): one process per crawl", exc)
                self.prefork = False
                self._worker = None
            return self._worker

    def running_pids(self) -> dict[str, int]:
        with self._lock:
            return {job_id: proc.pid for job_id, proc in self._running.items()}

    def reconcile(self, conn: psycopg.Connection) -> int:
        return 0  # the waiting threads see every exit as it happens

    def close(self, cancel_running: bool = False, timeout: float = 30) -> None:
        """Stop taking jobs; queued ones fail. Running crawls finish, or are interrupted."""
        with self._lock:
            self._closing = True
            waiting = sorted(self._waiting)
            running = list(self._running.values())
        if waiting:
            with self.pool.connection() as conn:
                crawlruns.fail_if_active(conn, waiting, "the launcher stopped before it started")
        if cancel_running:
            for proc in running:
                # Scrapy's graceful stop: the recorder still writes the run (as failed).
                proc.send_signal(signal.SIGINT)
            for proc in running:
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for _ in self._workers:
            self._queue.put(None)
        if cancel_running:
            for worker in self._workers:
                worker.join(timeout=timeout)
        with self._worker_lock:
            crawl_worker, self._worker = self._worker, None
        if crawl_worker is not None:
            # Forked crawls still running go on in their own sessions, as Popen'd ones do.
            crawl_worker.close()


class ScrapydBackend:
    """A Scrapyd server's `schedule.json`, with `listjobs.json` to notice vanished jobs.

    The project must be deployed first (`scrapyd-deploy` from the repository root), and the
    Scrapyd host needs `DATABASE_URL` in its environment: the crawl records itself there.
    """

    name = "scrapyd"

    def __init__(
        self,
        url: str,
        project: str = SCRAPYD_PROJECT,
        settings: dict[str, str] | None = None,
        timeout: float = 10,
    ):
        self.url = url.rstrip("/")
        self.project = project
        self.settings = dict(settings or {})
        self.client = httpx.Client(timeout=timeout)

    def _schedule(self, job: Job) -> None:
        settings = {
            "NOCTURNE_TRIGGER": job.trigger,
            "NOCTURNE_RUN_ID": job.run_id,
            "NOCTURNE_BACKEND": self.name,
            **self.settings,
        }
        data = {
            "project": self.project,
            "spider": job.spider,
            "jobid": job.job_id,
            "city": job.city,
            "setting": [f"{k}={v}" for k, v in settings.items()],
        }
        try:
            response = self.client.post(f"{self.url}/schedule.json", data=data)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LaunchError(f"Scrapyd at {self.url} did not answer: {exc}") from exc
        if body.get("status") != "ok":
            raise LaunchError(f"Scrapyd refused the job: {body.get('message', body)}")

    def submit(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._schedule(job)

    def listjobs(self) -> dict[str, list[dict]]:
        response = self.client.get(f"{self.url}/listjobs.json", params={"project": self.project})
        body = response.json()
        if body.get("status") != "ok":
            raise LaunchError(f"Scrapyd listjobs failed: {body.get('message', body)}")
        return body

    def reconcile(self, conn: psycopg.Connection) -> int:
        """Fail active Scrapyd jobs that Scrapyd lists as finished or does not know."""
        rows = conn.execute(
            """SELECT job_id, status, extract(epoch FROM now() - created_at) FROM crawl_runs
               WHERE backend = 'scrapyd' AND status IN ('queued', 'running')"""
        ).fetchall()
        if not rows:
            return 0
        try:
            jobs = self.listjobs()
        except (httpx.HTTPError, ValueError, LaunchError) as exc:
            log.warning("cannot reach Scrapyd to check jobs: %s", exc)
            return 0
        finished = {j["id"] for j in jobs.get("finished", [])}
        known = finished | {j["id"] for key in ("pending", "running") for j in jobs.get(key, [])}
        failed = 0
        for job_id, _status, age in rows:
            if job_id in finished:
                error = "Scrapyd reports the job ended, but the crawl recorded no outcome"
            elif job_id not in known and age > 60:
                error = "Scrapyd does not know this job (lost, or Scrapyd restarted)"
            else:
                continue
            failed += crawlruns.fail_if_active(conn, [job_id], error)
        return failed

    def close(self, cancel_running: bool = False, timeout: float = 30) -> None:
        self.client.close()
