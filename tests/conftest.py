"""Shared fixtures: real PostgreSQL, the app, and the captured site fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nocturne_crawl.config import REPO_ROOT, Config
from tests.support.databases import admin_uri, create_database, drop_database, truncate_all

SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that touch PostgreSQL are marked `db`: CI runs them a second time against the
    # machine's server, after the whole suite has run on the embedded one.
    for item in items:
        if {"database", "db", "pg_admin"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def pg_admin() -> str:
    return admin_uri()


@pytest.fixture(scope="session")
def database(pg_admin: str) -> Iterator[str]:
    """A migrated database for this test session."""
    uri = create_database(pg_admin)
    yield uri
    drop_database(pg_admin, uri)


@pytest.fixture
def db(database: str) -> str:
    """The session database, emptied before the test."""
    truncate_all(database)
    return database


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path / "data", secret_key="test-secret-key", scheduler_enabled=False)


@pytest.fixture
def client(db: str, config: Config) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(config, conninfo=db)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The captured real responses beside the repository; skipped only outside CI."""
    if not SHARED_FIXTURES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared fixtures at {SHARED_FIXTURES}")
        pytest.skip("shared fixtures folder not present")
    return SHARED_FIXTURES
