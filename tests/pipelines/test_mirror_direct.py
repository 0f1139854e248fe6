"""Step 4 over the direct transport: a second real PostgreSQL database as the shared one."""

from datetime import UTC, datetime, timedelta

import psycopg
from click.testing import CliRunner

from nocturne_crawl.cli import main
from nocturne_crawl.mirror import Mirror, PostgresTransport
from tests.support.databases import create_database, drop_database
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


def settings(db, shared, **extra):
    return {
        "NOCTURNE_DATABASE_URL": db,
        "NOCTURNE_SUPABASE_DB_URL": shared,
        "NOCTURNE_DB_BATCH_SIZE": 10,
        "NOCTURNE_SYNC_BATCH_SIZE": 7,
        "NOCTURNE_SYNC_BACKOFF_SECONDS": 0.01,
        **extra,
    }


async def test_a_crawl_mirrors_every_committed_row(db, shared_db):
    items = [make_item() for _ in range(30)]
    _, stats = await run_items(items, settings(db, shared_db))
    assert stats["nocturne/synced"] == 30
    assert pending(db) == 0
    assert content(db) == content(shared_db) and count(shared_db) == 30
    with psycopg.connect(shared_db) as conn:
        assert (
            conn.execute("SELECT count(*) FROM events WHERE synced_at IS NULL").fetchone()[0] == 0
        )


async def test_unchanged_rows_are_not_sent_again_and_changes_are(db, shared_db):
    items = [make_item() for _ in range(5)]
    await run_items(items, settings(db, shared_db))
    items[0].title = "Changed"
    _, stats = await run_items(items, settings(db, shared_db))
    assert stats["nocturne/synced"] == 1
    assert content(db) == content(shared_db)


async def test_shared_database_down_then_sync_brings_both_sides_level(db, shared_db):
    dead = psycopg.conninfo.make_conninfo(shared_db, host="127.0.0.1", port=1)
    items = [make_item() for _ in range(12)]
    _, stats = await run_items(
        items, settings(db, dead, NOCTURNE_SYNC_RETRIES=2, NOCTURNE_SYNC_TIMEOUT_SECONDS=1)
    )
    assert stats["nocturne/items_new"] == 12  # the crawl itself succeeded
    assert stats.get("nocturne/synced", 0) == 0
    assert pending(db) == 12 and count(shared_db) == 0
    result = CliRunner().invoke(
        main, ["sync", "--no-pull"], env={"DATABASE_URL": db, "SUPABASE_DB_URL": shared_db}
    )
    assert result.exit_code == 0, result.output
    assert "pushed 12 row(s), 0 still pending" in result.output
    assert pending(db) == 0 and content(db) == content(shared_db)


def test_pull_brings_other_installs_rows_once_and_skips_known_aliases(db, shared_db):
    start = datetime.now(UTC) + timedelta(days=1)
    with psycopg.connect(shared_db, autocommit=True) as conn:
        for n in range(4):
            insert_event(
                conn,
                link=f"https://luma.com/other-{n}",
                source="luma",
                starts_at=start,
                title=f"O{n}",
            )
        insert_event(conn, city="ny--new-york", tz="America/New_York", link="https://luma.com/ny")
        conn.execute("UPDATE events SET synced_at = now()")
    with psycopg.connect(db, autocommit=True) as conn:
        insert_event(conn, link="https://www.eventbrite.com/e/kept", title="Kept")
        conn.execute(
            "INSERT INTO event_aliases (link, event_link, source) "
            "VALUES ('https://luma.com/other-3', 'https://www.eventbrite.com/e/kept', 'luma')"
        )
    mirror = Mirror(db, PostgresTransport(shared_db))
    try:
        assert mirror.pull(["ca--los-angeles"]) == 3
        assert mirror.pull(["ca--los-angeles"]) == 0  # the watermark remembered
    finally:
        mirror.close()
    with psycopg.connect(db) as conn:
        links = {r[0] for r in conn.execute("SELECT link FROM events WHERE source = 'luma'")}
        state = conn.execute("SELECT count(*) FROM sync_state").fetchone()[0]
    assert links == {f"https://luma.com/other-{n}" for n in range(3)}
    assert state == 1


def test_sync_init_creates_the_schema_on_the_shared_side(pg_admin, db):
    fresh = create_database(pg_admin, prefix="nocturne_shared_init", migrated=False)
    try:
        result = CliRunner().invoke(
            main, ["sync", "--init"], env={"DATABASE_URL": db, "SUPABASE_DB_URL": fresh}
        )
        assert result.exit_code == 0, result.output
        with psycopg.connect(fresh) as remote, psycopg.connect(db) as local:
            query = "SELECT version FROM schema_migrations ORDER BY 1"
            assert remote.execute(query).fetchall() == local.execute(query).fetchall()
            assert remote.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    finally:
        drop_database(pg_admin, fresh)


def test_sync_without_a_shared_database_says_how_to_configure_it(db):
    result = CliRunner().invoke(main, ["sync"], env={"DATABASE_URL": db})
    assert result.exit_code != 0 and "SUPABASE_DB_URL" in result.output


async def test_unconfigured_mirror_is_a_no_op_that_says_so_once(db, monkeypatch, caplog):
    import pipelines.supabase

    for name in ("SUPABASE_URL", "SUPABASE_KEY", "SUPABASE_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pipelines.supabase, "_said_unconfigured", False)
    caplog.set_level("INFO", logger="pipelines.supabase")
    for _ in range(2):
        _, stats = await run_items([make_item()], {"NOCTURNE_DATABASE_URL": db})
        assert stats["nocturne/items_new"] == 1 and "nocturne/synced" not in stats
    said = [r for r in caplog.records if "not configured" in r.getMessage()]
    assert len(said) == 1
    assert pending(db) == 2


async def test_a_row_changed_between_its_key_and_its_export_goes_newer_and_stays_pending(
    db, shared_db
):
    """The direct transport reads pending keys, then exports the rows: never marks a
    version the shared side does not have."""
    items = [make_item() for _ in range(3)]
    await run_items(items, {"NOCTURNE_DATABASE_URL": db})
    with psycopg.connect(db, autocommit=True) as conn:
        keys = conn.execute("SELECT link, updated_at FROM events ORDER BY link").fetchall()
        # The first row changes after its key was read.
        conn.execute(
            "UPDATE events SET title = 'Changed', updated_at = now() + interval '1 second' "
            "WHERE link = %s",
            (keys[0][0],),
        )
    mirror = Mirror(db, PostgresTransport(shared_db), batch_size=10)
    try:
        mirror._push_keys([{"link": link, "updated_at": version} for link, version in keys])
    finally:
        mirror.close()
    with psycopg.connect(shared_db) as conn:
        titles = dict(conn.execute("SELECT link, title FROM events").fetchall())
    assert titles[keys[0][0]] == "Changed"  # the newer version went
    with psycopg.connect(db) as conn:
        still = [r[0] for r in conn.execute("SELECT link FROM events WHERE synced_at IS NULL")]
    assert still == [keys[0][0]]  # but is not marked for the version its key named
    assert content(db) == content(shared_db)


# -- Deletions -------------------------------------------------------------------------
# The cross-source dedupe deletes a stored row when a richer listing of the same event
# comes in; the shared side must lose it too.


async def test_a_pushed_row_merged_away_is_deleted_on_the_shared_side(db, shared_db):
    poor, rich = poorer_and_richer_listing()
    other = make_item()
    await run_items([poor, other], settings(db, shared_db))
    assert links(shared_db) == {poor.link, other.link}
    _, stats = await run_items([rich], settings(db, shared_db))
    assert stats["nocturne/dedupe/replaced"] == 1  # the stored poorer row was deleted here
    assert stats["nocturne/sync_deleted"] == 1
    assert links(db) == links(shared_db) == {rich.link, other.link}
    assert content(db) == content(shared_db)
    assert tombstones(db) == set()


async def test_shared_side_down_during_the_delete_keeps_it_for_sync(db, shared_db):
    poor, rich = poorer_and_richer_listing()
    await run_items([poor], settings(db, shared_db))
    dead = psycopg.conninfo.make_conninfo(shared_db, host="127.0.0.1", port=1)
    _, stats = await run_items(
        [rich], settings(db, dead, NOCTURNE_SYNC_RETRIES=2, NOCTURNE_SYNC_TIMEOUT_SECONDS=1)
    )
    assert stats["nocturne/dedupe/replaced"] == 1 and stats["nocturne/sync_deleted"] == 0
    assert tombstones(db) == {poor.link}
    assert links(shared_db) == {poor.link}  # still there: nothing got through
    result = CliRunner().invoke(
        main, ["sync", "--no-pull"], env={"DATABASE_URL": db, "SUPABASE_DB_URL": dead}
    )
    assert result.exit_code == 1, result.output
    assert "1 deletion(s) still pending" in result.output
    assert tombstones(db) == {poor.link}
    result = CliRunner().invoke(
        main, ["sync", "--no-pull"], env={"DATABASE_URL": db, "SUPABASE_DB_URL": shared_db}
    )
    assert result.exit_code == 0, result.output
    assert "pushed 1 row(s), 0 still pending" in result.output
    assert "deleted 1 link(s) on the shared side, 0 deletion(s) still pending" in result.output
    assert links(db) == links(shared_db) == {rich.link}
    assert content(db) == content(shared_db) and tombstones(db) == set()


async def test_a_link_stored_again_after_its_deletion_stays_on_the_shared_side(db, shared_db):
    items = [make_item() for _ in range(2)]
    await run_items(items, settings(db, shared_db))
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE link = %s", (items[0].link,))
    assert tombstones(db) == {items[0].link}
    # The listing comes back before the deletion was sent: the new row wins.
    items[0].title = "Back again"
    _, stats = await run_items([items[0]], settings(db, shared_db))
    assert stats["nocturne/sync_deleted"] == 0  # its tombstone was dropped, not sent
    assert links(db) == links(shared_db) == {items[0].link, items[1].link}
    assert content(db) == content(shared_db) and tombstones(db) == set()
    with psycopg.connect(shared_db) as conn:
        title = conn.execute("SELECT title FROM events WHERE link = %s", (items[0].link,))
        assert title.fetchone()[0] == "Back again"


def test_deleting_an_unsynced_row_records_it_and_sync_is_harmless(db, shared_db):
    """Every deletion is recorded (a push may be in flight); unknown links there are fine."""
    with psycopg.connect(db, autocommit=True) as conn:
        insert_event(conn, link="https://www.eventbrite.com/e/never-pushed")
        conn.execute("DELETE FROM events")
    assert tombstones(db) == {"https://www.eventbrite.com/e/never-pushed"}
    mirror = Mirror(db, PostgresTransport(shared_db))
    try:
        counts = mirror.push_pending()
    finally:
        mirror.close()
    assert counts.deleted == 1 and counts.deletes_pending == 0
    assert tombstones(db) == set() and count(shared_db) == 0
