"""`nocturne simulate` serves the sites from a real process until stopped."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.links import canonical_link
from tests.simulator.test_shapes import next_data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_simulate_command_serves_until_interrupted() -> None:
    port = free_port()
    nocturne = str(Path(sys.executable).with_name("nocturne"))
    command = [nocturne, "simulate", "--port", str(port), "--events", "25", "--seed", "4"]
    proc = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/_sim/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert health["seed"] == 4
        truth = httpx.get(
            f"{url}/_sim/truth", params={"source": "meetup", "city": "il--chicago"}
        ).json()
        assert truth["count"] == 25
        page = httpx.get(f"{url}/find/", params={"location": "us--il--Chicago", "source": "EVENTS"})
        state = next_data(page.text)["props"]["pageProps"]["__APOLLO_STATE__"]
        shown = {canonical_link(v["eventUrl"]) for k, v in state.items() if "eventUrl" in v}
        assert len(shown) == 20 and shown <= {e["link"] for e in truth["events"]}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"export MEETUP_BASE_URL=http://127.0.0.1:{port}" in out
