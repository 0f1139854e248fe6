"""A second real database standing in for Supabase's PostgreSQL."""

from collections.abc import Iterator

import pytest

from tests.support.databases import create_database, drop_database, truncate_all


@pytest.fixture(scope="session")
def shared_database(pg_admin: str) -> Iterator[str]:
    uri = create_database(pg_admin, prefix="nocturne_shared")
    yield uri
    drop_database(pg_admin, uri)


@pytest.fixture
def shared_db(shared_database: str) -> str:
    """The shared stand-in, emptied before the test (same migrations as the local side)."""
    truncate_all(shared_database)
    return shared_database
