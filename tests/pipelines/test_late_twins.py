"""Two sources' crawls of one city at the same time, each inserting the event both list."""

import threading

import psycopg
from psycopg import sql

from pipelines.late_twins import merge_late_twins
from pipelines.postgres import COLUMNS, row_of
from pipelines.validate import ValidatePipeline
from tests.support.databases import temporary_role
from tests.support.pipeline_runs import PipelineRun, make_item

LATER_LINK = "https://www.eventbrite.com/e/another-night-2"


def twin(item, source: str, link: str, **fields):
    """The same event as `item`, listed on `source` at `link` (`fields` override)."""
    same = {
        "title": item.title,
        "starts_at": item.starts_at,
        "location": item.location,
        "latitude": item.latitude,
        "longitude": item.longitude,
    }
    return make_item(source=source, link=link, **{**same, **fields})


def meetup_twin(item, event_id: str):
    """The same event as `item`, listed on Meetup."""
    link = f"https://www.meetup.com/la-night-owls/events/{event_id}"
    return twin(item, "meetup", link, source_id=f"mu-{event_id}")


def store_rows(db: str, items) -> None:
    """`items` validated and inserted as rows, as two runs' committed batches would be."""
    validate = ValidatePipeline.from_crawler(PipelineRun({}).crawler)
    statement = sql.SQL("INSERT INTO events ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
    )
    with psycopg.connect(db) as conn:
        conn.cursor().executemany(statement, [row_of(validate.process_item(i)) for i in items])


async def test_concurrent_runs_of_two_sources_keep_a_shared_event_once(db):
    settings = {"NOCTURNE_DATABASE_URL": db}
    eventbrite = make_item(source_id="eb-1")
    meetup = meetup_twin(eventbrite, "310000001")
    # Both dedupe steps look at the stored events before either run has committed.
    first = await PipelineRun(settings).open()
    second = await PipelineRun(settings).open()
    await first.feed([eventbrite])
    await second.feed([meetup])
    assert first.dropped == second.dropped == []
    first_stats = await first.close()
    second_stats = await second.close()

    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT link FROM events").fetchall()
        aliases = conn.execute("SELECT link, event_link, source FROM event_aliases").fetchall()
    # Equally rich listings: the row stored first stays, the other becomes its alias.
    assert rows == [(eventbrite.link,)]
    assert aliases == [(meetup.link, eventbrite.link, "meetup")]
    assert first_stats.get("nocturne/dedupe/late_merged", 0) == 0
    assert second_stats["nocturne/dedupe/late_merged"] == 1
    # Only the later committer looked: the first saw no other writer's insert.
    assert "nocturne/dedupe/late_checks" not in first_stats
    assert second_stats["nocturne/dedupe/late_checks"] == 1


async def test_a_run_no_other_writer_overlapped_does_not_look_for_late_twins(db):
    settings = {"NOCTURNE_DATABASE_URL": db}
    eventbrite = make_item(source_id="eb-1")
    # Stored before the run opened: its dedupe step sees it and drops the twin itself.
    store_rows(db, [eventbrite])
    other_city = make_item(link="https://www.eventbrite.com/e/elsewhere-1", city="ny--new-york")
    run = await PipelineRun(settings).open()
    await run.feed([meetup_twin(eventbrite, "310000009"), make_item(link=LATER_LINK)])
    store_rows(db, [other_city])  # another writer, but of another city
    stats = await run.close()
    assert stats["nocturne/dropped/cross_source_duplicate"] == 1
    assert stats["nocturne/items_new"] == 1
    assert "nocturne/dedupe/late_checks" not in stats


async def test_another_writers_insert_after_the_run_opened_is_looked_at(db):
    """A plain session inserting the twin between the dedupe step's look and the batch's
    commit: the run sees that writer's transaction and merges the pair."""
    settings = {"NOCTURNE_DATABASE_URL": db}
    eventbrite = make_item(source_id="eb-1")
    run = await PipelineRun(settings).open()
    await run.feed([eventbrite])  # the dedupe step looked: nothing stored yet
    store_rows(db, [meetup_twin(eventbrite, "310000010")])
    stats = await run.close()
    assert stats["nocturne/dedupe/late_checks"] == 1
    assert stats["nocturne/dedupe/late_merged"] == 1
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1


async def test_the_richer_late_twin_wins_and_takes_over_the_aliases(db):
    settings = {"NOCTURNE_DATABASE_URL": db}
    poor = make_item(source="luma", link="https://luma.com/poor1", description=None, price=None)
    poor.image_url = None
    rich = make_item(
        title=poor.title,
        starts_at=poor.starts_at,
        location=poor.location,
        latitude=poor.latitude,
        longitude=poor.longitude,
        price="$10",
        image_url="https://img.example/1.jpg",
    )
    first = await PipelineRun(settings).open()
    second = await PipelineRun(settings).open()
    await first.feed([poor])
    await second.feed([rich])
    with psycopg.connect(db, autocommit=True) as conn:
        await first.close()
        conn.execute(
            "INSERT INTO event_aliases (link, event_link, source) VALUES (%s, %s, 'meetup')",
            ("https://www.meetup.com/x/events/1", poor.link),
        )
        await second.close()
        rows = conn.execute("SELECT link FROM events").fetchall()
        aliases = dict(conn.execute("SELECT link, event_link FROM event_aliases").fetchall())
    assert rows == [(rich.link,)]
    assert aliases == {poor.link: rich.link, "https://www.meetup.com/x/events/1": rich.link}


def test_a_pair_both_runs_merge_at_once_is_counted_by_one(db):
    """Both runs read the pair; the other run's DELETE commits while ours waits on the row.

    Ours then removes nothing, so it must not count a merge: the run's "new events"
    figure subtracts merges, and a pair counted by both runs would be netted out twice.
    """
    eventbrite = make_item(source_id="eb-1")
    meetup = meetup_twin(eventbrite, "310000002")
    store_rows(db, (eventbrite, meetup))
    with psycopg.connect(db) as other:  # the other run, mid-transaction
        other.execute("DELETE FROM events WHERE link = %s", (meetup.link,))
        result: list = []
        with psycopg.connect(db, autocommit=True) as mine:
            worker = threading.Thread(
                target=lambda: result.append(merge_late_twins(mine, [meetup.link]))
            )
            worker.start()
            worker.join(timeout=1.0)
            assert worker.is_alive(), "our DELETE should wait for the other run's"
            other.commit()
            worker.join(timeout=10)
    assert result == [[]]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT link FROM events").fetchall() == [(eventbrite.link,)]


def test_the_database_prefilter_keeps_every_pair_the_rule_merges(db):
    """The neighbour query skips rows too far north or south before Python judges them.

    Twins 190 m apart north-south (within the 200 m rule), twins without coordinates on
    one side (venue names decide) are merged; a listing 300 m away is not even compared.
    """
    base = make_item(latitude=34.0, longitude=-118.24, location="The Echo")
    near = twin(
        base, "meetup", "https://www.meetup.com/echo/events/1", latitude=34.0 + 190 / 111_195
    )
    no_coordinates = make_item(location="Lodge Room", latitude=None, longitude=None)
    its_twin = twin(
        no_coordinates, "luma", "https://luma.com/lodge-1", latitude=34.2, longitude=-118.2
    )
    far = make_item(latitude=34.5, longitude=-118.24, location="Zebulon")
    far_other = twin(far, "luma", "https://luma.com/zebulon-1", latitude=34.5 + 300 / 111_195)
    store_rows(db, (base, near, no_coordinates, its_twin, far, far_other))
    with psycopg.connect(db, autocommit=True) as conn:
        merged = merge_late_twins(conn, [near.link, its_twin.link, far_other.link])
        left = {r[0] for r in conn.execute("SELECT link FROM events").fetchall()}
    assert len(merged) == 2
    assert {loser for loser, _ in merged} | {winner for _, winner in merged} == {
        base.link,
        near.link,
        no_coordinates.link,
        its_twin.link,
    }
    assert far.link in left and far_other.link in left
    assert len(left) == 4


def test_writers_older_than_a_week_are_forgotten_by_the_next_insert(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO event_writers (city, writer, xid, written_at) VALUES
               ('ca--los-angeles', 'old', '1', now() - interval '8 days'),
               ('ca--los-angeles', 'recent', '1', now() - interval '6 days')"""
        )
    store_rows(db, [make_item()])
    with psycopg.connect(db) as conn:
        writers = {r[0] for r in conn.execute("SELECT writer FROM event_writers")}
    assert "old" not in writers
    assert "recent" in writers
    assert len(writers) == 2  # and the session that inserted the event


def test_a_role_with_rights_on_events_only_can_insert_and_delete_them(db):
    """As a REST role on the shared side: it may write events, nothing else; the triggers
    keeping event_writers (0009) and events_deleted (0008) run as their owner."""
    grants = ("INSERT, SELECT, DELETE ON events", "USAGE ON SEQUENCE events_id_seq")
    with (
        psycopg.connect(db, autocommit=True) as conn,
        temporary_role(conn, "nocturne_events_only", *grants) as role,
    ):
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {role}")
            conn.execute(
                "INSERT INTO events (title, link, source, city, date, starts_at, timezone)"
                " VALUES ('t', 'https://a.example/1', 'luma', 'ca--los-angeles',"
                " '2026-12-01', '2026-12-01T20:00:00Z', 'America/Los_Angeles')"
            )
            conn.execute("DELETE FROM events WHERE link = 'https://a.example/1'")
        writers = conn.execute("SELECT count(*) FROM event_writers").fetchone()[0]
        tombstones = conn.execute("SELECT link FROM events_deleted").fetchall()
    assert writers == 1
    assert tombstones == [("https://a.example/1",)]
