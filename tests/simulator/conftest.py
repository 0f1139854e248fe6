"""A running simulator shared by the module's tests (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from nocturne_crawl.simulator import Simulator, start_simulator

CITY = "ca--los-angeles"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with start_simulator(
        seed=3, events_per_city=120, cities=[CITY, "germany--berlin"], anchor=date(2026, 12, 1)
    ) as running:
        yield running


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    sim.clear_faults()
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client
    sim.clear_faults()
