"""The read API and subscriptions over real PostgreSQL, through the ASGI app."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from nocturne_crawl.localtime import combine_local, today_in
from nocturne_crawl.tokens import make_token
from tests.support.events import insert_event


def test_cities_has_the_seed_shape(client):
    body = client.get("/cities").json()
    la = body["cities"][0]
    assert la["id"] == "ca--los-angeles"
    assert la["name"] == "LOS ANGELES"
    assert la["slug"] == "los-angeles"
    assert la["coordinates"] == {"lat": 34.0522, "lng": -118.2437}
    assert len(body["cities"]) >= 20


def test_events_have_the_seed_fields_and_local_date_time(client, db):
    starts = combine_local(
        str(today_in("America/Los_Angeles") + timedelta(days=3)), "22:00", "America/Los_Angeles"
    )
    with psycopg.connect(db) as conn:
        event_id = insert_event(conn, starts_at=starts, link="https://www.eventbrite.com/e/rave-1")
    [event] = client.get("/events/ca--los-angeles").json()
    seed = {"id", "title", "link", "date", "time", "location", "description", "source", "city"}
    assert seed <= set(event)
    assert event["id"] == event_id
    assert event["time"] == "22:00"
    assert event["date"] == str(starts.date())
    assert event["link"] == "https://www.eventbrite.com/e/rave-1"
    assert event["source"] == "eventbrite"
    assert event["city"] == "ca--los-angeles"
    assert event["status"] == "active"


def test_events_default_to_upcoming_in_city_time_ordered_by_start(client, db):
    now = datetime.now(UTC)
    with psycopg.connect(db) as conn:
        insert_event(conn, title="last week", starts_at=now - timedelta(days=7))
        later = insert_event(conn, title="in two days", starts_at=now + timedelta(days=2))
        sooner = insert_event(conn, title="tomorrow", starts_at=now + timedelta(days=1))
        insert_event(conn, title="other city", city="ny--new-york", tz="America/New_York")
        insert_event(conn, title="cancelled", starts_at=now + timedelta(days=1), status="cancelled")
    events = client.get("/events/ca--los-angeles").json()
    assert [e["id"] for e in events] == [sooner, later]
    with_cancelled = client.get("/events/ca--los-angeles?include_cancelled=true").json()
    assert len(with_cancelled) == 3


def test_date_range_is_inclusive_in_local_days(client, db):
    tz = "America/Los_Angeles"
    with psycopg.connect(db) as conn:
        late = insert_event(
            conn, title="late on the 5th", starts_at=combine_local("2026-02-05", "23:30", tz)
        )
        insert_event(conn, title="on the 4th", starts_at=combine_local("2026-02-04", "23:59", tz))
        insert_event(conn, title="on the 13th", starts_at=combine_local("2026-02-13", "00:00", tz))
        mid = insert_event(
            conn, title="on the 12th", starts_at=combine_local("2026-02-12", "21:00", tz)
        )
    events = client.get("/events/ca--los-angeles?start_date=2026-02-05&end_date=2026-02-12").json()
    assert [e["id"] for e in events] == [late, mid]
    assert events[0]["date"] == "2026-02-05"


def test_limit_caps_the_list(client, db):
    with psycopg.connect(db) as conn:
        for i in range(5):
            insert_event(conn, title=f"e{i}", starts_at=datetime.now(UTC) + timedelta(hours=i + 1))
    assert len(client.get("/events/ca--los-angeles?limit=3").json()) == 3


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/events/xx--atlantis", 404, "unknown city"),
        ("/events/ca--los-angeles?start_date=2026-13-01", 400, "start_date"),
        ("/events/ca--los-angeles?end_date=tomorrow", 400, "end_date"),
        ("/events/ca--los-angeles?start_date=2026-02-12&end_date=2026-02-05", 400, "before"),
        ("/events/ca--los-angeles?limit=0", 400, "limit"),
        ("/events/ca--los-angeles?limit=501", 400, "limit"),
        ("/events/ca--los-angeles?limit=ten", 400, "limit"),
        ("/events/ca--los-angeles?limit=1%27%20OR%201=1", 400, "limit"),
        ("/events/ca--los-angeles%27%3B%20DROP%20TABLE%20events%3B--", 404, "unknown city"),
        ("/nowhere", 404, "not found"),
    ],
)
def test_bad_read_input_is_a_4xx_json_error(client, url, status, message):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


def test_subscribe_returns_the_seed_shape_and_is_idempotent(client, db):
    first = client.post("/subscribe", json={"email": "User@Example.com", "city": "ca--los-angeles"})
    assert first.status_code == 201
    body = first.json()
    # The seed's five fields, plus whether a double opt-in confirmation is awaited.
    assert set(body) == {"id", "email", "city", "is_active", "created_at", "confirmation_pending"}
    assert body["confirmation_pending"] is False
    assert body["email"] == "user@example.com"
    assert body["is_active"] is True
    again = client.post(
        "/subscribe", json={"email": "user@example.com ", "city": "ca--los-angeles"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 1


def test_unsubscribe_with_the_signed_token_then_resubscribe(client, db, config):
    sub = client.post("/subscribe", json={"email": "a@example.com", "city": "ny--new-york"}).json()
    token = make_token(config, "unsubscribe", sub["id"], sub["email"])
    out = client.post("/unsubscribe", json={"token": token})
    assert out.status_code == 200
    assert out.json()["is_active"] is False
    with psycopg.connect(db) as conn:
        active, gone = conn.execute(
            "SELECT is_active, unsubscribed_at FROM subscriptions"
        ).fetchone()
    assert active is False and gone is not None
    back = client.post("/subscribe", json={"email": "a@example.com", "city": "ny--new-york"})
    assert back.status_code == 200
    assert back.json()["is_active"] is True
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT unsubscribed_at FROM subscriptions").fetchone()[0] is None


def test_tampered_unsubscribe_token_changes_nothing(client, db, config):
    sub = client.post("/subscribe", json={"email": "a@example.com", "city": "ny--new-york"}).json()
    token = make_token(config, "unsubscribe", sub["id"], sub["email"])
    response = client.post("/unsubscribe", json={"token": token[:-2] + "xx"})
    assert response.status_code == 400
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT is_active FROM subscriptions").fetchone()[0] is True


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"email": "not-an-email", "city": "ca--los-angeles"}, 400, "invalid email"),
        ({"email": "a@example.com"}, 400, "city is required"),
        ({"city": "ca--los-angeles"}, 400, "email is required"),
        ({"email": "a@example.com", "city": "xx--atlantis"}, 404, "unknown city"),
        ({"email": ["a@example.com"], "city": "ca--los-angeles"}, 400, "email is required"),
    ],
)
def test_bad_subscribe_input(client, body, status, message):
    response = client.post("/subscribe", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_malformed_and_oversized_bodies(client, config):
    bad = client.post(
        "/subscribe", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]
    array = client.post("/subscribe", json=["a@example.com"])
    assert array.status_code == 400
    huge = client.post(
        "/subscribe",
        content=b"{" + b" " * (config.max_body_bytes + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413


def test_health_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/cities", "/events/{city}", "/subscribe", "/unsubscribe", "/health"):
        assert path in spec["paths"], path


def test_database_down_is_a_503_without_secrets(db, config):
    from psycopg_pool import AsyncConnectionPool
    from starlette.testclient import TestClient

    from api.app import create_app

    dead = "postgresql://nocturne:hunter2@127.0.0.1:1/nowhere?connect_timeout=1"
    with TestClient(create_app(config, conninfo=db)) as c:
        # Swap the pool for one aimed at a server that is not there.
        async def swap():
            await c.app.state.pool.close()
            pool = AsyncConnectionPool(dead, min_size=0, max_size=1, timeout=1, open=False)
            await pool.open(wait=False)
            c.app.state.pool = pool

        c.portal.call(swap)
        response = c.get("/events/ca--los-angeles")
        assert response.status_code == 503
        assert "hunter2" not in response.text
        assert response.json()["error"].startswith("database unavailable")


def _wait_until(predicate, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_cached_answers_are_dropped_when_events_change(client, db):
    cache = client.app.state.events_cache
    assert _wait_until(lambda: cache.listening), "the cache listener never connected"
    generation = cache.generation
    with psycopg.connect(db) as conn:
        first = insert_event(conn, title="first")
    # Let the insert's own notification arrive first, so it cannot empty the cache below.
    assert _wait_until(lambda: cache.generation > generation)
    assert [e["id"] for e in client.get("/events/ca--los-angeles").json()] == [first]
    assert len(cache._entries) == 1  # the answer is cached...
    with psycopg.connect(db) as conn:
        second = insert_event(conn, title="second", starts_at=datetime.now(UTC) + timedelta(days=2))
    # ...and a write anywhere (here: plain SQL) empties it through NOTIFY.
    assert _wait_until(lambda: len(cache._entries) == 0)
    assert [e["id"] for e in client.get("/events/ca--los-angeles").json()] == [first, second]


def test_a_cached_upcoming_list_moves_on_at_the_citys_midnight(client, db, monkeypatch):
    """A hit skips parsing the query, so the key must carry the city's date itself."""
    import api.events

    cache = client.app.state.events_cache
    assert _wait_until(lambda: cache.listening)
    today = today_in("America/Los_Angeles")
    tonight = combine_local(str(today), "23:00", "America/Los_Angeles")
    generation = cache.generation
    with psycopg.connect(db) as conn:
        insert_event(conn, title="tonight", starts_at=tonight)
    # Let the insert's own notification arrive first, so it cannot empty the cache below.
    assert _wait_until(lambda: cache.generation > generation)
    assert [e["title"] for e in client.get("/events/ca--los-angeles").json()] == ["tonight"]
    assert len(cache._entries) == 1
    # A bad query is answered 400 every time and never stored.
    for _ in range(2):
        assert client.get("/events/ca--los-angeles?limit=0").status_code == 400
    assert len(cache._entries) == 1

    tomorrow = today + timedelta(days=1)
    monkeypatch.setattr(api.events, "today_in", lambda tz: tomorrow)
    assert client.get("/events/ca--los-angeles").json() == []  # tonight is past now
    assert len(cache._entries) == 2


def test_etag_gives_304_until_the_list_changes(client, db):
    with psycopg.connect(db) as conn:
        insert_event(conn)
    response = client.get("/events/ca--los-angeles")
    etag = response.headers["etag"]
    again = client.get("/events/ca--los-angeles", headers={"If-None-Match": etag})
    assert again.status_code == 304
    with psycopg.connect(db) as conn:
        insert_event(conn, title="another", starts_at=datetime.now(UTC) + timedelta(days=3))
    assert _wait_until(
        lambda: (
            client.get("/events/ca--los-angeles", headers={"If-None-Match": etag}).status_code
            == 200
        )
    )


def test_cached_answers_are_served_gzipped_to_clients_that_ask(client, db):
    import gzip

    cache = client.app.state.events_cache
    assert _wait_until(lambda: cache.listening)
    with psycopg.connect(db) as conn:
        for i in range(20):
            insert_event(
                conn, title=f"night {i}", starts_at=datetime.now(UTC) + timedelta(hours=i + 1)
            )
    assert _wait_until(lambda: cache.generation > 0)
    plain = client.get("/events/ca--los-angeles", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = client.get("/events/ca--los-angeles", headers={"Accept-Encoding": "gzip"}, extensions={})
    assert raw.headers.get("content-encoding") == "gzip"
    assert raw.json() == plain.json()  # httpx decodes gzip: same events either way
    assert len(gzip.compress(plain.content)) < len(plain.content)
