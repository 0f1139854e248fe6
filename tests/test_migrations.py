import threading

import psycopg
import pytest

from nocturne_crawl.migrate import migrate, migration_files
from tests.support.databases import create_database, drop_database
from tests.support.events import insert_event


def test_migrate_twice_applies_nothing_the_second_time(database):
    assert migrate(database) == []
    with psycopg.connect(database) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _, _ in migration_files()]


def test_two_processes_migrating_at_once_apply_each_migration_once(pg_admin):
    uri = create_database(pg_admin, migrated=False)
    try:
        results, errors = [], []

        def run():
            try:
                results.append(migrate(uri))
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        applied = [name for names in results for name in names]
        assert sorted(applied) == sorted(name for _, name, _ in migration_files())
    finally:
        drop_database(pg_admin, uri)


def test_tables_and_indexes_exist(db):
    with psycopg.connect(db) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname='public'")
        }
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
            )
        }
    assert {"events", "subscriptions", "email_logs", "crawl_runs"} <= tables
    assert {
        "idx_events_city_starts",
        "idx_events_city_created",
        "idx_events_search",
        "idx_subscriptions_email",
        "idx_subscriptions_city",
    } <= indexes
    # The seed's city, city/date and last_scraped indexes: covered by those (0010).
    assert not {"idx_events_city", "idx_events_city_date", "idx_events_last_scraped"} & indexes
    # (city, source, starts_at): covered by (city, starts_at, id) for its one query (0012).
    assert "idx_events_city_source_starts" not in indexes
    seed = {
        "id",
        "title",
        "link",
        "date",
        "time",
        "location",
        "description",
        "source",
        "city",
        "synced_at",
        "last_scraped",
        "created_at",
    }
    extra = {
        "starts_at",
        "ends_at",
        "timezone",
        "latitude",
        "longitude",
        "is_online",
        "is_free",
        "price",
        "image_url",
        "source_id",
        "updated_at",
    }
    assert seed | extra <= columns


def test_unknown_source_is_refused(db):
    with psycopg.connect(db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        insert_event(conn, source="myspace")


def test_link_is_unique(db):
    with psycopg.connect(db) as conn:
        insert_event(conn, link="https://luma.com/a")
        with pytest.raises(psycopg.errors.UniqueViolation):
            insert_event(conn, link="https://luma.com/a", title="Another")


def test_non_http_link_is_refused(db):
    with psycopg.connect(db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        insert_event(conn, link="javascript:alert(1)")


def test_email_city_pair_is_unique(db):
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO subscriptions (email, city) VALUES ('a@b.co', 'ca--los-angeles')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO subscriptions (email, city) VALUES ('a@b.co', 'ca--los-angeles')"
            )


def test_email_must_be_lower_case(db):
    with psycopg.connect(db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO subscriptions (email, city) VALUES ('A@b.co', 'ca--los-angeles')")


def test_marking_a_row_mirrored_touches_no_index(db):
    """Setting `synced_at` can be a HOT update: no index reads it, pages keep room."""
    with psycopg.connect(db) as conn:
        definitions = [
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'events'"
            )
        ]
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'events'"
        ).fetchone()[0]
    assert definitions and not [d for d in definitions if "synced_at" in d]
    assert any("(arrived_at)" in d for d in definitions)
    assert "fillfactor=50" in options


def test_vanished_events_are_found_through_an_index(db):
    """The vanished-events update reads the city's upcoming events through an index of
    (city, starts_at, ...) since 0012 dropped (city, source, starts_at)."""
    import json
    from datetime import UTC, datetime

    from pipelines.vanished import VANISHED_SQL

    now = datetime.now(UTC)
    with psycopg.connect(db) as conn:
        # A year of one city's events, half of it past: the upcoming half is asked for.
        conn.execute(
            """INSERT INTO events (title, link, date, source, city, starts_at, timezone)
               SELECT 'Event ' || n, 'https://luma.com/plan-' || n, (now() + d)::date,
                      (ARRAY['eventbrite', 'meetup', 'luma'])[1 + n % 3], 'ca--los-angeles',
                      now() + d, 'America/Los_Angeles'
                 FROM generate_series(1, 3000) AS n,
                      LATERAL (SELECT (n - 1500) * interval '3 hours') AS s(d)"""
        )
        conn.execute("ANALYZE events")
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN (FORMAT JSON) " + VANISHED_SQL, ("ca--los-angeles", "luma", now, now)
        ).fetchone()[0]
        conn.rollback()
    text = json.dumps(plan)
    assert '"Index Name": "idx_events_city_starts"' in text, text
    assert "starts_at >=" in text.split('"Index Cond": ')[1].split('",')[0], text
