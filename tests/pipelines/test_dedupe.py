"""Step 2: one row per event, within a run and across sources and runs (real PostgreSQL)."""

from datetime import timedelta

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Spider
from scrapy.utils.test import get_crawler

from pipelines.dedupe import DedupePipeline
from pipelines.matching import (
    DISTANCE_METERS,
    Listing,
    distance_meters,
    match_key,
    same_event,
    same_place,
)
from tests.support.listings import START, eventbrite, meetup
from tests.support.pipeline_runs import run_items


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
        title_text="Jazz at the Lake",
        venue_text="Lake Pavilion",
        latitude=None,
        longitude=None,
        is_online=False,
        richness=3,
    )
    names = {"title": "title_text", "venue": "venue_text"}  # given as listed
    return Listing(**{**base, **{names.get(k, k): v for k, v in kw.items()}})


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


def test_candidates_are_found_up_to_the_window_on_either_side_of_a_slot_boundary():
    """The run's candidates are filed by slots of `window` seconds: a listing is compared
    with every other-source listing within the window, wherever the slot edges fall."""
    window = 1800.0
    dedupe = DedupePipeline(get_crawler(Spider, {}), None, window)
    for edge in (0.0, window, 7 * window):
        for start in (edge - 1, edge, edge + 1):
            for gap in (-window, -window + 1, -1, 0, 1, window - 1, window):
                dedupe.slots.clear()
                dedupe._remember(listing(source="luma", start=start + gap))
                assert dedupe._find(listing(start=start)) is not None, (start, gap)
            for gap in (-window - 1, window + 1):
                dedupe.slots.clear()
                dedupe._remember(listing(source="luma", start=start + gap))
                assert dedupe._find(listing(start=start)) is None, (start, gap)
    # the same source is never a candidate
    dedupe.slots.clear()
    dedupe._remember(listing(link="https://a.com/2"))
    assert dedupe._find(listing()) is None


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-89.9, 89.9),
    lng=st.floats(-179.9, 179.9),
    dlat=st.floats(-0.004, 0.004),
    dlng=st.floats(-0.004, 0.004),
)
def test_the_latitude_shortcut_agrees_with_the_great_circle_distance(lat, lng, dlat, dlng):
    a = listing(latitude=lat, longitude=lng)
    b = listing(source="luma", latitude=lat + dlat, longitude=lng + dlng)
    near = distance_meters(lat, lng, lat + dlat, lng + dlng) <= DISTANCE_METERS
    assert same_place(a, b) is near
