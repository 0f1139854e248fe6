"""A pre-forked crawl worker: Scrapy and the project imported once, one forked process per crawl.

`python -m scrapy crawl ...` spends about a second importing Scrapy, Twisted, the spiders
and the pipelines before it fetches anything. The worker (`python -m
nocturne_crawl.crawlworker`, started by the subprocess backend) pays that once: it imports
everything a crawl loads, installs no reactor, and then forks one child per job. Each child
is still its own process running `scrapy crawl <spider> ...` (the same arguments, its own
session, its own log file, its own `crawl_runs` row), so it can be killed on its own, and
its exit status goes back to the backend as a `subprocess` exit status would.

Protocol: JSON lines. The backend writes `{"job", "argv", "log", "cwd"}` to the worker's
stdin; the worker answers on stdout with `{"ready": true}` once (after the imports), then
`{"job", "pid"}` or `{"job", "error"}` per request, and `{"job", "pid", "exit"}` when the
child ends (`exit` as `Popen.returncode`: negative for a signal). When its stdin closes
(the backend or the app went away) the worker exits; running children go on and record
their own outcome, as subprocess crawls do.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import itertools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# How long the worker may take to import everything, and to answer one fork request.
START_TIMEOUT = 120.0
FORK_TIMEOUT = 30.0

# Settings whose values are classes a crawl loads (DNS_RESOLVER is deprecated: skipped).
_OBJECT_SETTINGS = (
    "SCHEDULER",
    "DUPEFILTER_CLASS",
    "STATS_CLASS",
    "SPIDER_LOADER_CLASS",
    "SCHEDULER_PRIORITY_QUEUE",
    "SCHEDULER_DISK_QUEUE",
    "SCHEDULER_MEMORY_QUEUE",
    "DOWNLOADER",
    "REQUEST_FINGERPRINTER_CLASS",
    "LOG_FORMATTER",
    "ITEM_PROCESSOR",
    "TWISTED_DNS_RESOLVER",
)
_COMPONENT_SETTINGS = (
    "DOWNLOADER_MIDDLEWARES",
    "SPIDER_MIDDLEWARES",
    "EXTENSIONS",
    "ITEM_PIPELINES",
    "ADDONS",
)


def preload() -> list[str]:
    """Import what a crawl of this project imports, without installing a reactor.

    Returns the objects that could not be loaded (a crawl that needs them reports the
    error itself, in its own log).
    """
    import scrapy.cmdline  # noqa: F401
    import scrapy.commands.crawl  # noqa: F401
    import scrapy.crawler  # noqa: F401
    import twisted.internet.asyncioreactor  # noqa: F401
    from scrapy.spiderloader import get_spider_loader
    from scrapy.utils.conf import build_component_list
    from scrapy.utils.misc import load_object
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    paths: list[Any] = []
    for name in _COMPONENT_SETTINGS:
        paths += build_component_list(settings.getwithbase(name))
    paths += [p for p in settings.getwithbase("DOWNLOAD_HANDLERS").values() if p]
    paths += [settings.get(name) for name in _OBJECT_SETTINGS]
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            if not isinstance(path, str) or "." not in path:
                continue
            try:
                load_object(path)
            except Exception as exc:  # an optional handler's missing dependency, say
                failed.append(f"{path}: {exc}")
        get_spider_loader(settings)
    if "twisted.internet.reactor" in sys.modules:
        # A child could not install the asyncio reactor over it: refuse to serve.
        raise RuntimeError("preloading installed a Twisted reactor")
    return failed


def _child(argv: list[str], log_path: str, cwd: str, private_fds: list[int]) -> None:
    """In the forked child: become a `scrapy crawl` process of its own; never returns."""
    code = 1
    try:
        os.setsid()  # its own session, as the subprocess backend starts crawls
        for fd in private_fds:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        # The signal dispositions of a fresh Python process (SIGPIPE stays ignored).
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        os.chdir(cwd)
        sys.argv = list(argv)
        from scrapy.cmdline import execute

        try:
            execute(list(argv))
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Worker:
    def __init__(self, requests_fd: int, replies_fd: int):
        self.requests_fd = requests_fd
        self.replies_fd = replies_fd
        self.children: dict[int, str] = {}
        self.buffer = b""
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            try:
                data = data[os.write(self.replies_fd, data) :]
            except InterruptedError:
                continue
            except BrokenPipeError:
                return  # the backend is gone; children go on without it

    def spawn(self, request: dict[str, Any]) -> None:
        job = str(request.get("job"))
        try:
            pid = os.fork()
        except OSError as exc:
            self.send({"job": job, "error": f"could not fork the crawl process: {exc}"})
            return
        if pid == 0:
            _child(
                request["argv"],
                request["log"],
                request.get("cwd") or os.getcwd(),
                [self.requests_fd, self.replies_fd, self.wake_r, self.wake_w],
            )
        self.children[pid] = job
        self.send({"job": job, "pid": pid})

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.children.pop(pid, None)
            if job is not None:
                self.send({"job": job, "pid": pid, "exit": os.waitstatus_to_exitcode(status)})

    def handle(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                self.spawn(json.loads(line))

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.requests_fd, selectors.EVENT_READ, "requests")
        selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        # Fewer copied pages in each child: what was imported stays out of the collector.
        gc.freeze()
        self.send({"ready": True, "pid": os.getpid()})
        while True:
            for key, _ in selector.select(timeout=5):
                if key.data == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                try:
                    data = os.read(self.requests_fd, 65536)
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    data = b""
                if not data:
                    return  # the backend closed our stdin: running children go on alone
                self.handle(data)
            self.reap()


# -- the backend's side -------------------------------------------------------------------


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


class ForkedProcess:
    """A crawl process forked by the worker: the part of `subprocess.Popen` backends use."""

    def __init__(self, pid: int, argv: list[str]):
        self.pid = pid
        self.args = argv
        self.returncode: int | None = None
        self.exit_known = True
        self._done = threading.Event()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self._done.is_set():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _exited(self, code: int | None, known: bool = True) -> None:
        self.returncode = code
        self.exit_known = known
        self._done.set()

    def _orphaned(self) -> None:
        """The worker is gone before this child: its exit status is lost, watch its pid."""
        from nocturne_crawl.crawlruns import process_alive

        def watch() -> None:
            while process_alive(self.pid):
                if self._done.wait(0.5):
                    return
            self._exited(None, known=False)

        threading.Thread(target=watch, name=f"crawl-orphan-{self.pid}", daemon=True).start()


class CrawlWorkerClient:
    """Starts `python -m nocturne_crawl.crawlworker` and asks it for crawl processes."""

    def __init__(
        self, env: dict[str, str], cwd: Path, log_path: Path, timeout: float = START_TIMEOUT
    ):
        self.cwd = str(cwd)
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._replies: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._children: dict[str, ForkedProcess] = {}
        self._ready = threading.Event()
        self._ready_message: dict[str, Any] = {}
        self.alive = True
        with Path(log_path).open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nocturne_crawl.crawlworker"],
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                # Its own session, like every crawl process: a Ctrl-C meant for the app
                # does not reach it or, through it, the crawls.
                start_new_session=True,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self._reader = threading.Thread(
            target=self._read, args=(self.proc.stdout,), name="crawl-worker-reader", daemon=True
        )
        self._reader.start()
        if not self._ready.wait(timeout) or not self._ready_message.get("ready"):
            error = self._ready_message.get("error") or f"not ready within {timeout:.0f} s"
            self.close()
            raise OSError(f"the crawl worker did not start: {error}")

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "ready" in message:
                self._ready_message = message
                self._ready.set()
                continue
            token = str(message.get("job"))
            if "exit" in message:
                with self._lock:
                    child = self._children.pop(token, None)
                if child is not None:
                    child._exited(int(message["exit"]))
                continue
            with self._lock:
                if "pid" in message:
                    message["child"] = ForkedProcess(int(message["pid"]), [])
                    self._children[token] = message["child"]
                waiter = self._replies.pop(token, None)
            if waiter is not None:
                waiter[1].append(message)
                waiter[0].set()
        # The worker's stdout closed: it exited (or was killed).
        with self._lock:
            self.alive = False
            orphans = list(self._children.values())
            self._children.clear()
            waiters = list(self._replies.values())
            self._replies.clear()
        self._ready.set()
        for event, box in waiters:
            box.append({"error": "the crawl worker exited"})
            event.set()
        for child in orphans:
            child._orphaned()

    def start(self, argv: list[str], log_path: Path) -> ForkedProcess:
        """Fork `scrapy <argv...>` (argv[0] is "scrapy") writing to `log_path`."""
        token = str(next(self._tokens))
        event: threading.Event = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            if not self.alive:
                raise OSError("the crawl worker is not running")
            self._replies[token] = (event, box)
        request = {"job": token, "argv": argv, "log": str(log_path), "cwd": self.cwd}
        try:
            with self._write_lock:
                self._stdin.write((json.dumps(request) + "\n").encode())
                self._stdin.flush()
        except (OSError, ValueError) as exc:
            with self._lock:
                self._replies.pop(token, None)
            raise OSError(f"the crawl worker is not running: {exc}") from exc
        if not event.wait(FORK_TIMEOUT):
            with self._lock:
                self._replies.pop(token, None)
            raise OSError(f"the crawl worker did not fork within {FORK_TIMEOUT:.0f} s")
        reply = box[0]
        if "error" in reply:
            raise OSError(reply["error"])
        child: ForkedProcess = reply["child"]
        child.args = argv
        return child

    def close(self, timeout: float = 10) -> None:
        """Stop the worker (running children go on); waits for it to exit."""
        with self._write_lock, contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


def main() -> None:
    # The protocol gets private copies of stdin/stdout; fd 1 then points at stderr (the
    # worker's log), so nothing printed during imports can corrupt the replies.
    requests_fd = os.dup(0)
    replies_fd = os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by closing its stdin
    worker = _Worker(requests_fd, replies_fd)
    try:
        for problem in preload():
            print(f"crawl worker: not preloaded: {problem}", file=sys.stderr, flush=True)
    except Exception as exc:
        traceback.print_exc()
        worker.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    worker.serve()


if __name__ == "__main__":
    main()
