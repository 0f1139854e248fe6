"""Server processes that tests and benchmarks start: a command on a free loopback port,
waited for until it answers, stopped at the end. The site simulator (`nocturne simulate`)
and Scrapyd are started here and nowhere else; `bench/` imports this module too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from nocturne_crawl.config import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers 200 (the server's health path); raises if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def server_process(
    command: list[str],
    health_url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    log_path: Path | None = None,
    timeout: float = 60,
    new_session: bool = False,
) -> Iterator[subprocess.Popen]:
    """`command` running until the block ends, once `health_url` answered."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(Path(log_path).open("wb")) if log_path else subprocess.DEVNULL
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    try:
        wait_for_http(health_url, timeout=timeout, proc=proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def simulator_process(
    *, events: int = 30, latency_ms: int = 0, seed: int = 1, timeout: float = 60
) -> Iterator[str]:
    """`nocturne simulate` in its own process (its CPU is not the caller's); its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "nocturne_crawl.cli",
        "simulate",
        "--port",
        str(port),
        "--events",
        str(events),
        "--latency-ms",
        str(latency_ms),
        "--seed",
        str(seed),
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/_sim/health", timeout=timeout):
        yield url


@contextlib.contextmanager
def scrapyd_process(home: Path, env: dict[str, str], max_proc: int = 4) -> Iterator[str]:
    """A real Scrapyd on a loopback port, its eggs, logs and output under `home`; its URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (home / "scrapyd.conf").write_text(
        f"""[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
eggs_dir = {home / "eggs"}
logs_dir = {home / "logs"}
dbs_dir = {home / "dbs"}
items_dir =
max_proc = {max_proc}
poll_interval = 0.2
"""
    )
    url = f"http://127.0.0.1:{port}"
    scrapyd = str(Path(sys.executable).parent / "scrapyd")
    with server_process(
        [scrapyd],
        f"{url}/daemonstatus.json",
        env=env,
        cwd=home,
        log_path=home / "scrapyd.out",
        timeout=30,
    ):
        yield url
