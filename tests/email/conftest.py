"""Fixtures for mail tests: a real SMTP server on loopback and a config that uses it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from nocturne_crawl.config import Config
from tests.support.smtp import SmtpServer, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def mail_config(config: Config, smtp_server: SmtpServer) -> Config:
    # Backoff shortened so retry tests take milliseconds; the logic is the same.
    return dataclasses.replace(
        config,
        smtp_url=smtp_server.url,
        smtp_concurrency=4,
        mail_attempts=3,
        mail_retry_backoff_seconds=0.01,
        public_url="http://127.0.0.1:8000",
    )
