"""Step 2: one row per event, within a run and across sources and runs (real PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import psycopg

from pipelines.matching import Listing, match_key, same_event
from tests.support.pipeline_runs import make_item, run_items

START = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)


def eventbrite(**fields):
    base = dict(
        title="Warehouse Night: Techno Til Dawn",
        link="https://www.eventbrite.com/e/warehouse-night-777",
        source="eventbrite",
        starts_at=START,
        location="The Warehouse, 100 Main St, Los Angeles",
        latitude=34.0500,
        longitude=-118.2400,
        description=None,
        image_url=None,
        source_id=None,
    )
    return make_item(**{**base, **fields})


def meetup(**fields):
    base = dict(
        title="WAREHOUSE NIGHT – Techno til Dawn!",
        link="https://www.meetup.com/la-techno/events/301",
        source="meetup",
        starts_at=START + timedelta(minutes=15),
        location="The Warehouse",
        latitude=34.0508,  # ~90 m away
        longitude=-118.2405,
        description=None,
        image_url=None,
        source_id=None,
    )
    return make_item(**{**base, **fields})


def rows(db):
    with psycopg.connect(db) as conn:
        events = [r[0] for r in conn.execute("SELECT link FROM events ORDER BY id")]
        aliases = dict(conn.execute("SELECT link, event_link FROM event_aliases"))
    return events, aliases


def test_match_key_ignores_case_accents_and_punctuation():
    assert match_key("Café  Night – LIVE!") == match_key("cafe night live")


def listing(**kw):
    base = dict(
        link="https://a.com/1",
        source="eventbrite",
        city="ca--los-angeles",
        start=0.0,
        title="jazz at the lake",
        venue="lake pavilion",
        latitude=None,
        longitude=None,
        is_online=False,
        richness=3,
    )
    return Listing(**{**base, **kw})


def test_same_event_rule():
    a = listing()
    assert same_event(a, listing(link="https://b.com/1", source="luma", start=1200))
    # the same site twice is two listings, not a duplicate
    assert not same_event(a, listing(link="https://a.com/2"))
    # too far apart in time or space
    assert not same_event(a, listing(source="luma", start=3600))
    far = dict(latitude=34.0, longitude=-118.0)
    assert not same_event(listing(**far), listing(source="luma", latitude=34.05, longitude=-118.0))
    # a different title
    assert not same_event(a, listing(source="luma", title="rock at the lake"))
    # no place on one side: only an exact title counts
    assert same_event(a, listing(source="luma", venue=""))
    assert not same_event(a, listing(source="luma", venue="", title="jazz at the lakes"))


async def test_the_same_link_twice_in_a_run_is_stored_once(db):
    item = eventbrite()
    copy = eventbrite(link=item.link + "/?aff=ebdssbdestsearch")
    run, stats = await run_items([item, copy], {"NOCTURNE_DATABASE_URL": db})
    assert stats["nocturne/dropped/duplicate"] == 1
    assert rows(db)[0] == [item.link]


async def test_two_sites_in_one_run_keep_one_row_and_remember_the_other_link(db):
    first, second = eventbrite(), meetup()
    _, stats = await run_items([first, second], {"NOCTURNE_DATABASE_URL": db})
    assert stats["nocturne/dropped/cross_source_duplicate"] == 1
    assert rows(db) == ([first.link], {second.link: first.link})


async def test_the_richer_listing_wins_and_the_stored_poorer_row_goes(db):
    poor = eventbrite()
    rich = meetup(description="Bring earplugs", image_url="https://img.example/x.jpg", price="$10")
    settings = {"NOCTURNE_DATABASE_URL": db, "NOCTURNE_DB_BATCH_SIZE": 1}
    _, stats = await run_items([poor, rich], settings)
    assert stats["nocturne/dedupe/replaced"] == 1
    assert rows(db) == ([rich.link], {poor.link: rich.link})


async def test_a_later_run_of_another_source_matches_stored_events_and_aliases(db):
    settings = {"NOCTURNE_DATABASE_URL": db}
    first = eventbrite()
    await run_items([first], settings)
    _, stats = await run_items([meetup()], settings)
    assert stats["nocturne/dropped/cross_source_duplicate"] == 1
    # ...and the run after that drops the known alias without matching again
    _, stats = await run_items([meetup(title="Renamed on Meetup")], settings)
    assert stats["nocturne/dropped/cross_source_duplicate"] == 1
    events, aliases = rows(db)
    assert events == [first.link] and list(aliases) == [meetup().link]


async def test_near_misses_are_different_events(db):
    items = [
        eventbrite(),
        meetup(starts_at=START + timedelta(hours=2)),
        meetup(link="https://www.meetup.com/x/events/2", latitude=34.10, longitude=-118.24),
        meetup(link="https://www.meetup.com/x/events/3", title="Salsa on the roof"),
        eventbrite(link="https://www.eventbrite.com/e/warehouse-night-778"),  # same site
    ]
    _, stats = await run_items(items, {"NOCTURNE_DATABASE_URL": db})
    assert "nocturne/dropped/cross_source_duplicate" not in stats
    assert len(rows(db)[0]) == 5
