"""Step 4 over REST: the real `supabase` client against a local PostgREST stand-in.

Hosted Supabase is out of reach here, so tests/support/postgrest.py serves the PostgREST
upsert, select and delete contract over real HTTP, backed by a second real PostgreSQL database.
"""

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row

from nocturne_crawl.cli import main
from tests.support.events import insert_event
from tests.support.mirror_checks import (
    content,
    count,
    links,
    pending,
    poorer_and_richer_listing,
    tombstones,
)
from tests.support.pipeline_runs import make_item, run_items
from tests.support.postgrest import free_port, in_list, serve_postgrest

# A JWT-shaped key, as Supabase's anon/service keys are.
KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"


@pytest.fixture
def postgrest(shared_db):
    with serve_postgrest(shared_db, KEY) as (stand_in, url):
        yield stand_in, url


def settings(db, url, **extra):
    return {
        "NOCTURNE_DATABASE_URL": db,
        "NOCTURNE_SUPABASE_URL": url,
        "NOCTURNE_SUPABASE_KEY": KEY,
        "NOCTURNE_DB_BATCH_SIZE": 25,
        "NOCTURNE_SYNC_BATCH_SIZE": 10,
        "NOCTURNE_SYNC_CONCURRENCY": 2,
        "NOCTURNE_SYNC_BACKOFF_SECONDS": 0.01,
        # generous: a loaded machine must not turn slow answers into extra retries
        "NOCTURNE_SYNC_TIMEOUT_SECONDS": 5,
        **extra,
    }


async def test_upserts_in_batches_with_the_postgrest_contract(db, shared_db, postgrest):
    stand_in, url = postgrest
    _, stats = await run_items([make_item() for _ in range(25)], settings(db, url))
    posts = [r for r in stand_in.requests if r.method == "POST"]
    assert sorted(r.rows for r in posts) == [5, 10, 10]
    for request in posts:
        assert request.query["on_conflict"] == "link"
        assert "resolution=merge-duplicates" in request.headers["prefer"]
        assert request.headers["apikey"] == KEY
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["content-type"].startswith("application/json")
    assert stats["nocturne/synced"] == 25
    assert pending(db) == 0 and content(db) == content(shared_db)


@pytest.mark.parametrize("fault", ["500", "timeout"])
async def test_transient_failures_are_retried_with_backoff(db, shared_db, postgrest, fault):
    stand_in, url = postgrest
    stand_in.hang_seconds = 3.0
    stand_in.fail(fault, times=2)
    _, stats = await run_items(
        [make_item() for _ in range(25)], settings(db, url, NOCTURNE_SYNC_TIMEOUT_SECONDS=1)
    )
    # 3 batches + 2 retries (more only if the machine is too slow for the 1 s timeout)
    assert len([r for r in stand_in.requests if r.method == "POST"]) >= 5
    assert not stand_in.faults
    assert stats["nocturne/synced"] == 25
    assert content(db) == content(shared_db)


async def test_unreachable_then_sync_recovers_without_loss_or_duplicates(db, shared_db, postgrest):
    stand_in, url = postgrest
    nowhere = f"http://127.0.0.1:{free_port()}"
    items = [make_item() for _ in range(25)]
    _, stats = await run_items(items, settings(db, nowhere, NOCTURNE_SYNC_RETRIES=2))
    assert stats["nocturne/items_new"] == 25 and stats.get("nocturne/synced", 0) == 0
    assert pending(db) == 25
    # Supabase answers again: a sync pushes the backlog; a second crawl changes nothing.
    env = {"DATABASE_URL": db, "SUPABASE_URL": url, "SUPABASE_KEY": KEY}
    result = CliRunner().invoke(main, ["sync", "--city", "ca--los-angeles"], env=env)
    assert result.exit_code == 0, result.output
    assert "pushed 25 row(s)" in result.output
    await run_items(items, settings(db, url))
    assert count(shared_db) == count(db) == 25
    assert pending(db) == 0 and content(db) == content(shared_db)


async def test_a_refused_batch_leaves_only_its_rows_pending(db, shared_db, postgrest):
    stand_in, url = postgrest
    with psycopg.connect(shared_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD CONSTRAINT test_no_poison CHECK (title <> 'Poison')")
    items = [make_item() for _ in range(25)]
    items[3].title = "Poison"
    try:
        _, stats = await run_items(items, settings(db, url, NOCTURNE_SYNC_CONCURRENCY=1))
        assert stats["nocturne/synced"] == 15 and stats["nocturne/sync_failed"] == 10
        assert pending(db) == 10 and count(shared_db) == 15
    finally:
        with psycopg.connect(shared_db, autocommit=True) as conn:
            conn.execute("ALTER TABLE events DROP CONSTRAINT test_no_poison")
    env = {"DATABASE_URL": db, "SUPABASE_URL": url, "SUPABASE_KEY": KEY}
    result = CliRunner().invoke(main, ["sync", "--no-pull"], env=env)
    assert result.exit_code == 0, result.output
    assert pending(db) == 0 and content(db) == content(shared_db)


async def test_pull_over_rest_brings_rows_another_install_pushed(db, shared_db, postgrest):
    stand_in, url = postgrest
    other_install = await make_other_install_rows(shared_db, url)
    env = {"DATABASE_URL": db, "SUPABASE_URL": url, "SUPABASE_KEY": KEY}
    result = CliRunner().invoke(main, ["sync", "--city", "ca--los-angeles"], env=env)
    assert result.exit_code == 0, result.output
    assert "pulled 4 row(s)" in result.output
    gets = [r for r in stand_in.requests if r.method == "GET"]
    assert gets and gets[0].query["city"] == "in.(ca--los-angeles)"
    assert content(db) == other_install


async def make_other_install_rows(shared_db, url):
    """Another install crawls and mirrors over REST into the shared database."""
    from tests.support.databases import admin_uri, create_database, drop_database

    admin = admin_uri()
    other = create_database(admin, prefix="nocturne_other")
    try:
        await run_items([make_item() for _ in range(4)], settings(other, url))
        return content(other)
    finally:
        drop_database(admin, other)


# -- Deletions over REST: `DELETE /rest/v1/events?link=in.(...)` ------------------------


def merged_pair():
    """A stored listing, and a richer one of the same event on another site that the
    dedupe keeps instead; the first link has characters PostgREST's `in` list quotes."""
    poor, rich = poorer_and_richer_listing()
    poor.link = "https://www.eventbrite.com/e/warehouse-night-(late),techno-777"
    return poor, rich


async def test_a_merged_away_row_is_deleted_through_the_rest_api(db, shared_db, postgrest):
    stand_in, url = postgrest
    poor, rich = merged_pair()
    other = make_item()
    await run_items([poor, other], settings(db, url))
    assert links(shared_db) == links(db) == {poor.link, other.link}
    _, stats = await run_items([rich], settings(db, url))
    assert stats["nocturne/dedupe/replaced"] == 1 and stats["nocturne/sync_deleted"] == 1
    deletes = [r for r in stand_in.requests if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].query["link"].startswith('in.("')  # the link's value is quoted
    assert deletes[0].headers["apikey"] == KEY
    assert links(db) == links(shared_db) == {rich.link, other.link}
    assert content(db) == content(shared_db) and tombstones(db) == set()


async def test_a_failed_delete_keeps_its_tombstone_until_sync(db, shared_db, postgrest):
    stand_in, url = postgrest
    poor, rich = merged_pair()
    await run_items([poor], settings(db, url))
    stand_in.fail("500", times=2, method="DELETE")
    _, stats = await run_items([rich], settings(db, url, NOCTURNE_SYNC_RETRIES=2))
    assert not stand_in.faults
    assert stats["nocturne/synced"] == 1 and stats["nocturne/sync_deleted"] == 0
    assert tombstones(db) == {poor.link}
    assert links(shared_db) == {poor.link, rich.link}
    env = {"DATABASE_URL": db, "SUPABASE_URL": url, "SUPABASE_KEY": KEY}
    result = CliRunner().invoke(main, ["sync", "--no-pull"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 1 link(s) on the shared side, 0 deletion(s) still pending" in result.output
    assert links(db) == links(shared_db) == {rich.link}
    assert content(db) == content(shared_db) and tombstones(db) == set()


def test_a_row_deleted_while_its_push_was_on_the_way_is_deleted_after_it(db, shared_db, postgrest):
    """The push read the row, the row was deleted here and its tombstone already sent
    (by another process) before the push arrived: the push records the deletion again."""
    from nocturne_crawl.mirror import PENDING_PAGE_SQL, Mirror, RestTransport

    _, url = postgrest
    with psycopg.connect(db, autocommit=True) as conn:
        for n in range(3):
            insert_event(conn, link=f"https://www.eventbrite.com/e/in-flight-{n}")
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(PENDING_PAGE_SQL, (0, 10)).fetchall()
        conn.execute("DELETE FROM events WHERE link = 'https://www.eventbrite.com/e/in-flight-0'")
        conn.execute("DELETE FROM events_deleted")  # as if already sent, before the push
    mirror = Mirror(db, RestTransport(url, KEY), batch_size=10)
    try:
        mirror._push_rows(rows)
        assert "https://www.eventbrite.com/e/in-flight-0" in links(shared_db)
        assert tombstones(db) == {"https://www.eventbrite.com/e/in-flight-0"}
        assert mirror.push_deletions() == 1
    finally:
        mirror.close()
    assert (
        links(db)
        == links(shared_db)
        == {
            "https://www.eventbrite.com/e/in-flight-1",
            "https://www.eventbrite.com/e/in-flight-2",
        }
    )
    assert content(db) == content(shared_db) and tombstones(db) == set()


def test_in_lists_are_read_as_postgrest_reads_them():
    from postgrest.utils import sanitize_param

    values = ["https://x.example/a,b", "https://x.example/(1)", 'say "hi" \\o/', "plain"]
    encoded = "(" + ",".join(sanitize_param(v) for v in values) + ")"
    assert in_list(encoded) == values
    assert in_list("()") == [] and in_list("(a,b)") == ["a", "b"]
