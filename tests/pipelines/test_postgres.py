"""Step 3 against real PostgreSQL: batched upsert, counts, faults, vanished events."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pipelines.fields import field_view, write_fields
from pipelines.validate import normalize_event
from tests.support.databases import temporary_role
from tests.support.events import insert_event
from tests.support.mirror_checks import content, pending
from tests.support.pipeline_runs import PipelineRun, make_item, run_items

STORE_ONLY = {
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.postgres.PostgresPipeline": 300,
}


def count(db: str, where: str = "true") -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()[0]


async def test_new_then_updated_and_the_same_crawl_twice_leaves_the_same_rows(db):
    items = [make_item() for _ in range(25)]
    settings = {"NOCTURNE_DATABASE_URL": db, "NOCTURNE_DB_BATCH_SIZE": 10}
    _, first = await run_items(items, settings)
    assert (first["nocturne/items_new"], first["nocturne/items_updated"]) == (25, 0)
    with psycopg.connect(db) as conn:
        before = dict(
            conn.execute("SELECT link, (created_at, updated_at, last_scraped) FROM events")
        )
    again = [make_item(link=i.link, title=i.title, starts_at=i.starts_at) for i in items]
    for item, old in zip(again, items, strict=True):
        item.location, item.latitude, item.source_id = old.location, old.latitude, old.source_id
    again[0].title = "Renamed"
    _, second = await run_items(again, settings)
    assert (second["nocturne/items_new"], second["nocturne/items_updated"]) == (0, 25)
    assert count(db) == 25
    with psycopg.connect(db) as conn:
        after = dict(
            conn.execute("SELECT link, (created_at, updated_at, last_scraped) FROM events")
        )
    for link, (created, updated, scraped) in after.items():
        assert created == before[link][0]
        assert scraped > before[link][2]
        # updated_at moves only where the content changed
        assert (updated > before[link][1]) == (link == items[0].link)


async def test_duplicate_links_in_one_batch_do_not_break_on_conflict(db):
    item = make_item()
    twin = make_item(link=item.link + "?utm_source=x", title="Later wins")
    run = await PipelineRun({"NOCTURNE_DATABASE_URL": db, "ITEM_PIPELINES": STORE_ONLY}).open()
    await run.feed([item, twin, make_item()])
    stats = await run.close()
    assert stats.get("nocturne/db_errors", 0) == 0
    assert stats["nocturne/items_new"] == 2
    with psycopg.connect(db) as conn:
        titles = [r[0] for r in conn.execute("SELECT title FROM events ORDER BY id")]
    assert "Later wins" in titles and len(titles) == 2


async def test_each_committed_batch_notifies_its_city(db):
    listener = psycopg.connect(db, autocommit=True)
    listener.execute("LISTEN events_changed")
    try:
        items = [make_item() for _ in range(7)] + [make_item(city="ny--new-york")]
        await run_items(items, {"NOCTURNE_DATABASE_URL": db, "NOCTURNE_DB_BATCH_SIZE": 4})
        got = [n.payload for n in listener.notifies(timeout=1.0)]
    finally:
        listener.close()
    assert got.count("ca--los-angeles") == 2
    assert "ny--new-york" in got


async def test_a_batch_the_database_refuses_loses_only_the_refused_row(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD CONSTRAINT test_no_poison CHECK (title <> 'Poison')")
    try:
        items = [make_item() for _ in range(9)]
        items[4].title = "Poison"
        run, stats = await run_items(
            items, {"NOCTURNE_DATABASE_URL": db, "NOCTURNE_DB_BATCH_SIZE": 5}
        )
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE events DROP CONSTRAINT test_no_poison")
    assert stats["nocturne/db_errors"] == 1
    assert stats["nocturne/dropped/db_rejected"] == 1
    assert stats["nocturne/items_new"] == 8
    assert count(db) == 8 and count(db, "title = 'Poison'") == 0


async def test_the_next_batch_is_staged_on_the_other_connection(db):
    """Two connections take turns: one batch is staged on one while the one before is
    written on the other. Every row lands once, counted once."""
    run = await PipelineRun(
        {"NOCTURNE_DATABASE_URL": db, "NOCTURNE_DB_BATCH_SIZE": 5, "ITEM_PIPELINES": STORE_ONLY}
    ).open()
    items = [make_item() for _ in range(25)]
    await run.feed(items)
    store = run.pipeline("PostgresPipeline")
    backends = {lane.conn.info.backend_pid for lane in store.lanes if lane.conn is not None}
    assert len(backends) == 2
    stats = await run.close()
    assert stats["nocturne/items_new"] == 25 and count(db) == 25


async def test_a_value_the_binary_copy_cannot_take_loses_only_its_row(db):
    """Rows are copied in binary, where a value of the wrong type cannot be written at all
    (text COPY would have spelled it out). Without the validate step, one item carries a
    latitude the float column cannot take: that row is isolated and counted, the rest of
    its batch stored."""
    items = [make_item() for _ in range(7)]
    for item in items:
        write_fields(item, normalize_event(field_view(item)))
    items[3].latitude = "north"
    run, stats = await run_items(
        items,
        {
            "NOCTURNE_DATABASE_URL": db,
            "NOCTURNE_DB_BATCH_SIZE": 7,
            "ITEM_PIPELINES": {"pipelines.postgres.PostgresPipeline": 300},
        },
    )
    assert stats["nocturne/dropped/db_rejected"] == 1
    assert stats["nocturne/items_new"] == 6
    with psycopg.connect(db) as conn:
        links = {r[0] for r in conn.execute("SELECT link FROM events")}
    assert links == {i.link for i in items} - {items[3].link}


async def test_connection_killed_mid_run_loses_nothing(db, shared_db):
    settings = {
        "NOCTURNE_DATABASE_URL": db,
        "NOCTURNE_DB_BATCH_SIZE": 5,
        "NOCTURNE_SUPABASE_DB_URL": shared_db,
    }
    run = await PipelineRun(settings).open()
    items = [make_item() for _ in range(23)]
    await run.feed(items[:10])
    store = run.pipeline("PostgresPipeline")
    store.flush(wait=True)  # the second batch may still be in the writer thread
    assert count(db) == 10
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
    await run.feed(items[10:])
    assert run.stats.get_value("nocturne/db_errors") >= 1
    assert store.buffer  # kept in memory for the retry
    stats = await run.close()
    assert count(db) == 23
    assert stats["nocturne/items_new"] == 23
    with psycopg.connect(db) as conn:
        links = {r[0] for r in conn.execute("SELECT link FROM events")}
    assert links == {i.link for i in items}
    # the rows rolled back were mirrored once committed: both sides level
    assert pending(db) == 0 and content(db) == content(shared_db)


async def test_server_unreachable_for_the_whole_run_fails_soft(db):
    dead = psycopg.conninfo.make_conninfo(db, host="127.0.0.1", port=1, connect_timeout=1)
    items = [make_item() for _ in range(3)]
    run, stats = await run_items(
        items,
        {
            "NOCTURNE_DATABASE_URL": dead,
            "NOCTURNE_DB_BATCH_SIZE": 2,
            "ITEM_PIPELINES": STORE_ONLY,
        },
    )
    assert stats["nocturne/db_errors"] >= 1
    assert stats["nocturne/dropped/db_unavailable"] == 3
    assert len(run.passed) == 3  # the crawl itself went on


def _upcoming(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


@pytest.fixture
def stored_events(db):
    """Five upcoming LA Eventbrite events, one past, one upcoming Meetup."""
    with psycopg.connect(db, autocommit=True) as conn:
        links = [f"https://www.eventbrite.com/e/stored-{n}" for n in range(5)]
        for n, link in enumerate(links):
            insert_event(conn, link=link, title=f"Stored {n}", starts_at=_upcoming(n + 1))
        insert_event(conn, link="https://www.eventbrite.com/e/past", starts_at=_upcoming(-2))
        insert_event(
            conn, link="https://www.meetup.com/g/events/1", source="meetup", starts_at=_upcoming(1)
        )
        conn.execute("UPDATE events SET last_scraped = now() - interval '1 hour'")
    return links


def _again(link: str, n: int):
    return make_item(link=link, title=f"Stored {n}", starts_at=_upcoming(n + 1))


async def test_a_complete_crawl_cancels_what_it_no_longer_lists(db, stored_events):
    seen = [_again(stored_events[0], 0), _again(stored_events[1], 1)]
    _, stats = await run_items(seen, {"NOCTURNE_DATABASE_URL": db})
    assert stats["nocturne/vanished"] == 3
    with psycopg.connect(db) as conn:
        status = dict(conn.execute("SELECT link, status FROM events"))
    assert [status[link] for link in stored_events] == ["active"] * 2 + ["cancelled"] * 3
    assert status["https://www.eventbrite.com/e/past"] == "active"
    assert status["https://www.meetup.com/g/events/1"] == "active"
    # One of them is listed again: it comes back.
    await run_items(seen + [_again(stored_events[2], 2)], {"NOCTURNE_DATABASE_URL": db})
    assert count(db, "status = 'cancelled'") == 2


@pytest.mark.parametrize("how", ["shutdown", "closespider_timeout", "source_errors"])
async def test_a_partial_crawl_marks_nothing(db, stored_events, how):
    run = await PipelineRun({"NOCTURNE_DATABASE_URL": db}).open()
    await run.feed([_again(stored_events[0], 0)])
    if how == "source_errors":
        run.stats.inc_value("nocturne/source_errors")
    await run.close("finished" if how == "source_errors" else how)
    assert count(db, "status = 'cancelled'") == 0


def test_one_column_list_beside_the_item_for_the_store_the_matching_and_the_mirror(db):
    from nocturne_crawl.items import EVENT_COLUMNS, SHARED_COLUMNS, EventItem
    from nocturne_crawl.mirror import MIRROR_COLUMNS
    from pipelines.postgres import COLUMNS

    assert COLUMNS == EVENT_COLUMNS == EventItem.field_names()
    assert MIRROR_COLUMNS == SHARED_COLUMNS
    assert SHARED_COLUMNS[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    with psycopg.connect(db) as conn:
        table = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
            )
        }
    assert set(SHARED_COLUMNS) <= table


async def test_a_second_connection_refused_by_the_server_costs_nothing(db):
    """The store's role may open one connection only (as under a tight connection limit):
    while the first batch is held in flight, the next cannot be staged on a second
    connection, so it waits for the first and is staged on its connection. No error is
    counted, nothing is lost."""
    admin = psycopg.connect(db, autocommit=True)
    grants = (
        "SELECT, INSERT, UPDATE, DELETE ON events, event_aliases",
        "SELECT ON event_writers",
        "USAGE ON SEQUENCE events_id_seq",
    )
    options = "LOGIN CONNECTION LIMIT 1"
    try:
        with temporary_role(admin, "nocturne_one_connection", *grants, options=options) as role:
            run = await PipelineRun(
                {
                    "NOCTURNE_DATABASE_URL": psycopg.conninfo.make_conninfo(db, user=role),
                    "NOCTURNE_DB_BATCH_SIZE": 5,
                    "ITEM_PIPELINES": STORE_ONLY,
                }
            ).open()
            # The first batch's insert waits on this lock (its trigger writes
            # event_writers) until a timer lets go, a second after.
            admin.execute("BEGIN")
            admin.execute("LOCK TABLE event_writers IN SHARE ROW EXCLUSIVE MODE")
            threading.Timer(1.0, admin.execute, ("ROLLBACK",)).start()
            items = [make_item() for _ in range(12)]
            await run.feed(items)
            stats = await run.close()
    finally:
        admin.close()
    assert stats.get("nocturne/db_errors", 0) == 0
    assert stats["nocturne/items_new"] == 12 and count(db) == 12
