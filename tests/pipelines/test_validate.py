"""Step 1: what a stored row looks like, and which items are dropped (and counted) why."""

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from pipelines.validate import Invalid, normalize_event
from tests.support.pipeline_runs import make_item, run_items


def test_date_and_time_are_local_to_the_city_and_instants_utc():
    # 05:30 UTC on the 16th is the evening of the 15th in Los Angeles.
    row = normalize_event(make_item(starts_at=datetime(2026, 2, 16, 5, 30, tzinfo=UTC)))
    assert (row["date"], row["time"]) == ("2026-02-15", "21:30")
    assert row["starts_at"] == datetime(2026, 2, 16, 5, 30, tzinfo=UTC)
    assert row["starts_at"].utcoffset() == timedelta(0)


def test_an_offset_instant_and_an_iso_string_are_converted_to_utc():
    plus2 = timezone(timedelta(hours=2))
    row = normalize_event(
        make_item(
            starts_at=datetime(2026, 3, 1, 20, 0, tzinfo=plus2),
            ends_at="2026-03-01T22:00:00+02:00",
        )
    )
    assert row["starts_at"] == datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    assert row["ends_at"] == datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert row["time"] == "10:00"


def test_a_date_only_item_starts_at_local_midnight_without_a_time():
    row = normalize_event(make_item(starts_at=None, date="2026-07-04"))
    assert row["date"] == "2026-07-04" and row["time"] is None
    assert row["starts_at"] == datetime(2026, 7, 4, 7, 0, tzinfo=UTC)  # PDT is UTC-7


def test_text_fields_are_plain_and_capped_to_the_schema():
    row = normalize_event(
        make_item(
            title="  <b>Big</b>   &amp; Loud ",
            description="<p>x</p>" * 5 + "y" * 30000,
            location="<i>Hall</i>\n 1",
            price="$" + "9" * 500,
        )
    )
    assert row["title"] == "Big & Loud"
    assert len(row["description"]) == 20000
    assert row["location"] == "Hall 1"
    assert len(row["price"]) == 200


def test_link_is_canonical_and_image_must_be_http():
    row = normalize_event(
        make_item(
            link="https://WWW.eventbrite.com/e/abc-1/?aff=ebdssbdestsearch#x",
            image_url="javascript:alert(1)",
        )
    )
    assert row["link"] == "https://www.eventbrite.com/e/abc-1"
    assert row["image_url"] is None
    signed = "https://img.evbuc.com/x.jpg?w=940&s=abc"
    assert normalize_event(make_item(image_url=signed))["image_url"] == signed


def test_out_of_range_coordinates_and_an_end_before_the_start_are_dropped_fields():
    start = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    row = normalize_event(
        make_item(
            latitude=123.0, longitude=5.0, starts_at=start, ends_at=start - timedelta(hours=1)
        )
    )
    assert (row["latitude"], row["longitude"], row["ends_at"]) == (None, None, None)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": "  <p> </p>"}, "missing_title"),
        ({"link": None}, "missing_link"),
        ({"link": "javascript:alert(1)"}, "invalid_link"),
        ({"source": "myspace"}, "invalid_source"),
        ({"city": "xx--atlantis"}, "unknown_city"),
        ({"starts_at": None, "date": None}, "missing_start"),
        ({"starts_at": "next tuesday"}, "invalid_start"),
        ({"starts_at": None, "date": "2026-02-30"}, "invalid_start"),
    ],
)
def test_invalid_items_name_their_reason(fields, reason):
    with pytest.raises(Invalid) as caught:
        normalize_event(make_item(**fields))
    assert caught.value.args[0] == reason


async def test_bad_items_are_dropped_and_counted_and_the_rest_stored(db):
    good = [make_item() for _ in range(3)]
    bad = [
        make_item(title=None),
        make_item(link="ftp://x.org/e"),
        make_item(city="zz--nowhere"),
        make_item(starts_at=object()),
    ]
    run, stats = await run_items(good + bad, {"NOCTURNE_DATABASE_URL": db})
    assert stats["nocturne/dropped/missing_title"] == 1
    assert stats["nocturne/dropped/invalid_link"] == 1
    assert stats["nocturne/dropped/unknown_city"] == 1
    assert stats["nocturne/dropped/invalid_start"] == 1
    assert stats["nocturne/items_new"] == 3
    assert len(run.dropped) == 4
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3


async def test_hostile_but_valid_items_pass_the_schema_checks(db):
    """Whatever validation lets through, the CHECKs of migration 0001 accept."""
    items = [
        make_item(title="x" * 5000, description="\x00<script>x</script>" + "é" * 30000),
        make_item(link="https://luma.com/" + "a" * 1990, location="L" * 9000, price="p" * 999),
        make_item(link="https://bücher.de/Ü?utm_source=x", latitude=float("nan")),
        make_item(image_url="https://" + "i" * 3000, source_id="\x00" * 5),
        make_item(starts_at=datetime(2026, 1, 1), ends_at=datetime(2025, 1, 1)),
    ]
    run, stats = await run_items(items, {"NOCTURNE_DATABASE_URL": db})
    assert stats.get("nocturne/db_errors", 0) == 0
    assert stats["nocturne/items_new"] == 5
    with psycopg.connect(db) as conn:
        lengths = conn.execute(
            "SELECT max(length(title)), max(length(description)), max(length(location)) FROM events"
        ).fetchone()
    assert lengths == (1000, 20000, 2000)
