"""`GET /events/{city}.ics` and the `free`/`online`/`q` filters, through the app."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import psycopg
import pytest

from api.calendar_feed import event_uid
from nocturne_crawl.localtime import combine_local, today_in
from tests.support.events import insert_event

LA = "ca--los-angeles"
LA_TZ = "America/Los_Angeles"


def day(offset: int) -> str:
    return str(today_in(LA_TZ) + timedelta(days=offset))


@pytest.fixture
def events(db):
    """A small city: free/paid, online/in person, one cancelled, one date-only."""
    with psycopg.connect(db) as conn:
        ids = {
            "jazz": insert_event(
                conn,
                title="Free Jazz Picnic",
                starts_at=combine_local(day(2), "18:00", LA_TZ),
                ends_at=combine_local(day(2), "21:30", LA_TZ),
                location="Grand Park, 200 N Grand Ave; Los Angeles",
                description="Bring a blanket, snacks; dogs welcome.\nSecond line: \\ backslash",
                is_free=True,
                latitude=34.0561,
                longitude=-118.2468,
                link="https://www.eventbrite.com/e/free-jazz-picnic-1",
            ),
            "techno": insert_event(
                conn,
                title="Warehouse Techno",
                starts_at=combine_local(day(3), "23:00", LA_TZ),
                is_free=False,
                price="$25",
                description="All night long",
                link="https://www.eventbrite.com/e/warehouse-techno-2",
            ),
            "webinar": insert_event(
                conn,
                title="Saxophone webinar",
                starts_at=combine_local(day(4), "10:00", LA_TZ),
                is_online=True,
                is_free=True,
                description="The history of jazz saxophone",
                source="meetup",
                link="https://www.meetup.com/la-sax/events/3",
            ),
            "cancelled": insert_event(
                conn,
                title="Cancelled rooftop",
                starts_at=combine_local(day(5), "20:00", LA_TZ),
                status="cancelled",
                link="https://lu.ma/cancelled-rooftop",
                source="luma",
            ),
        }
        # A date-only listing: stored at local midnight with no time.
        ids["allday"] = insert_event(
            conn,
            title="Night market",
            starts_at=combine_local(day(6), None, LA_TZ),
            link="https://www.eventbrite.com/e/night-market-5",
        )
        conn.execute("UPDATE events SET time = NULL WHERE id = %s", (ids["allday"],))
    return ids


def parse(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def vevents(cal: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["url"]): e for e in cal.walk("VEVENT")}


def test_feed_round_trips_every_field(client, db, events):
    cal = parse(client.get(f"/events/{LA}.ics"))
    assert str(cal["version"]) == "2.0"
    assert str(cal["prodid"]).startswith("-//Nocturne//")
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["tzid"]) == LA_TZ
    assert {c.name for c in tz.subcomponents} == {"STANDARD", "DAYLIGHT"}
    found = vevents(cal)
    with psycopg.connect(db) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM events ORDER BY starts_at")
        rows = cur.fetchall()
    assert set(found) == {r["link"] for r in rows}
    zone = ZoneInfo(LA_TZ)
    for row in rows:
        event = found[row["link"]]
        assert str(event["uid"]) == event_uid(row["link"])
        assert str(event["summary"]) == row["title"]
        start = event.decoded("dtstart")
        if row["time"] is None:
            assert start == row["starts_at"].astimezone(zone).date()
            assert event["dtstart"].params.get("VALUE") == "DATE"
        else:
            assert start == row["starts_at"]
            assert event["dtstart"].params["TZID"] == LA_TZ
            assert start.tzinfo is not None
        if row["ends_at"] is not None:
            assert event.decoded("dtend") == row["ends_at"]
            assert event["dtend"].params["TZID"] == LA_TZ
        assert str(event.get("location", "")) == (row["location"] or "")
        assert str(event.get("description", "")) == (row["description"] or "")
        expected_status = "CANCELLED" if row["status"] == "cancelled" else "CONFIRMED"
        assert str(event["status"]) == expected_status
        assert event.decoded("last-modified") == row["updated_at"].replace(microsecond=0)
    jazz = found["https://www.eventbrite.com/e/free-jazz-picnic-1"]
    assert (jazz["geo"].latitude, jazz["geo"].longitude) == (34.0561, -118.2468)
    # RFC 5545 escaping on the wire, undone by the parser above.
    raw = client.get(f"/events/{LA}.ics").text.replace("\r\n ", "")  # unfold lines
    assert "Grand Park\\, 200 N Grand Ave\\; Los Angeles" in raw
    assert "\\n" in raw and "\\\\ backslash" in raw


def test_uids_are_stable_across_requests_and_updates(client, db, events):
    first = {
        str(e["url"]): str(e["uid"]) for e in parse(client.get(f"/events/{LA}.ics")).walk("VEVENT")
    }
    with psycopg.connect(db) as conn:
        conn.execute(
            "UPDATE events SET title = 'Renamed', updated_at = now() WHERE id = %s",
            (events["jazz"],),
        )
    second = {
        str(e["url"]): str(e["uid"]) for e in parse(client.get(f"/events/{LA}.ics")).walk("VEVENT")
    }
    assert first == second
    assert len(set(first.values())) == len(first)


def test_etag_and_last_modified_give_304(client, db, events):
    response = client.get(f"/events/{LA}.ics")
    etag, modified = response.headers["etag"], response.headers["last-modified"]
    assert response.headers["cache-control"] == "max-age=300"
    same = client.get(f"/events/{LA}.ics", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    assert (
        client.get(f"/events/{LA}.ics", headers={"If-Modified-Since": modified}).status_code == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(f"/events/{LA}.ics", headers={"If-Modified-Since": old}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    mixed = client.get(
        f"/events/{LA}.ics", headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
    )
    assert mixed.status_code == 200
    with psycopg.connect(db) as conn:
        conn.execute(
            "UPDATE events SET title = 'Changed', updated_at = now() + interval '2 seconds' WHERE id = %s",
            (events["techno"],),
        )
    changed = client.get(f"/events/{LA}.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert (
        client.get(f"/events/{LA}.ics", headers={"If-Modified-Since": modified}).status_code == 200
    )


def test_ics_route_and_json_route_are_distinct(client, events):
    assert client.get(f"/events/{LA}").headers["content-type"] == "application/json"
    assert client.get(f"/events/{LA}.ics").headers["content-type"].startswith("text/calendar")
    missing = client.get("/events/xx--atlantis.ics")
    assert missing.status_code == 404
    assert "unknown city" in missing.json()["error"]


def test_empty_city_still_has_its_timezone(client):
    cal = parse(client.get("/events/ny--new-york.ics"))
    assert [str(t["tzid"]) for t in cal.walk("VTIMEZONE")] == ["America/New_York"]
    assert cal.walk("VEVENT") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"jazz", "techno", "webinar", "allday"}),
        ("free=true", {"jazz", "webinar"}),
        ("free=false", {"techno"}),
        ("online=only", {"webinar"}),
        ("online=exclude", {"jazz", "techno", "allday"}),
        ("q=jazz", {"jazz", "webinar"}),
        ("q=JAZ", {"jazz", "webinar"}),
        ("q=grand%20park", {"jazz"}),
        ("q=saxophone&online=exclude", set()),
        ("free=true&online=exclude&q=blanket", {"jazz"}),
        ("include_cancelled=true&q=rooftop", {"cancelled"}),
    ],
)
def test_filters_select_the_same_events_in_json_and_ics(client, events, query, expected):
    names = {v: k for k, v in events.items()}
    json_ids = {names[e["id"]] for e in client.get(f"/events/{LA}?{query}").json()}
    assert json_ids == expected
    # The feed includes cancelled events unless told otherwise; compare like with like.
    ics_query = query if "include_cancelled" in query else f"{query}&include_cancelled=false"
    links = set(vevents(parse(client.get(f"/events/{LA}.ics?{ics_query}"))))
    json_links = {e["link"] for e in client.get(f"/events/{LA}?{query}").json()}
    assert links == json_links


def test_feed_carries_cancellations_by_default(client, events):
    found = vevents(parse(client.get(f"/events/{LA}.ics")))
    assert str(found["https://lu.ma/cancelled-rooftop"]["status"]) == "CANCELLED"


@pytest.mark.parametrize("suffix", ["", ".ics"])
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("free=maybe", "free must be true or false"),
        ("online=sometimes", "online must be one of"),
        ("q=" + "a" * 201, "at most 200"),
        ("q=%26%21%3A%2A", "at least one letter"),
        ("limit=0", "limit"),
    ],
)
def test_bad_filter_values_are_400(client, suffix, query, message):
    response = client.get(f"/events/{LA}{suffix}?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_tsquery_operators_in_q_are_plain_words(client, events):
    response = client.get(f"/events/{LA}?q=jazz%20%7C%20techno%20%21")
    assert response.status_code == 200
    assert response.json() == []  # "jazz" AND "techno": no event has both


def test_text_search_uses_the_index(db):
    from nocturne_crawl.event_filters import EventFilters

    where, params = EventFilters(q="jazz night").conditions()
    with psycopg.connect(db) as conn:
        conn.execute("SET enable_seqscan = off")
        query = psycopg.sql.SQL("EXPLAIN SELECT id FROM events WHERE {}").format(where[0])
        plan = "\n".join(r[0] for r in conn.execute(query, params))
    assert "idx_events_search" in plan


def test_date_only_event_is_an_all_day_entry(client, events):
    found = vevents(parse(client.get(f"/events/{LA}.ics")))
    allday = found["https://www.eventbrite.com/e/night-market-5"]
    assert isinstance(allday.decoded("dtstart"), date)
    assert not isinstance(allday.decoded("dtstart"), datetime)
    assert "dtend" not in allday


def test_now_is_not_in_the_feed_body(client, events):
    # DTSTAMP comes from the data, so two requests a moment apart are byte-identical.
    first = client.get(f"/events/{LA}.ics")
    second = client.get(f"/events/{LA}.ics")
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
