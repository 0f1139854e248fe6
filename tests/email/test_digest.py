"""The digest job end to end: real PostgreSQL, a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from nocturne_crawl.digest import LATE_COMMIT_WINDOW, run_digest
from nocturne_crawl.localtime import combine_local, today_in
from tests.support.events import insert_event

LA = "ca--los-angeles"
LA_TZ = "America/Los_Angeles"


def subscribe(db: str, email: str, city: str = LA, filters: dict | None = None) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "INSERT INTO subscriptions (email, city, filters) VALUES (%s, %s, %s) RETURNING id",
            (email, city, Jsonb(filters or {})),
        ).fetchone()[0]


def add_events(db: str, *titles: str, days: int = 2, **extra) -> list[int]:
    start = datetime.now(UTC) + timedelta(days=days)
    with psycopg.connect(db) as conn:
        return [
            insert_event(conn, title=t, starts_at=start + timedelta(hours=i), **extra)
            for i, t in enumerate(titles)
        ]


def logs(db: str) -> list[dict]:
    with psycopg.connect(db) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM email_logs ORDER BY id")
        return cur.fetchall()


def body(message, subtype: str) -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


def test_digest_content_escaping_and_one_click_headers(db, mail_config, smtp_server, client):
    sub_id = subscribe(db, "fan@example.com")
    day = str(today_in(LA_TZ) + timedelta(days=3))
    with psycopg.connect(db) as conn:
        insert_event(
            conn,
            title="<script>alert('x')</script> & Friends",
            starts_at=combine_local(day, "22:30", LA_TZ),
            location="The Echo, 1822 Sunset Blvd",
            link="https://www.eventbrite.com/e/script-night-1",
        )
    report = run_digest(mail_config, db)
    assert report.sent == 1 and report.failed == 0
    [message] = smtp_server.handler.to("fan@example.com")
    assert message["Subject"] == "1 new event in Los Angeles"
    html, text = body(message, "html"), body(message, "plain")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Friends" in html
    assert "<script>alert('x')</script> & Friends" in text
    local_day = datetime.fromisoformat(day).strftime("%a %d %b %Y")
    for part in (html, text):
        assert f"{local_day}, 22:30" in part
        assert "The Echo, 1822 Sunset Blvd" in part
        assert "Eventbrite" in part
        assert "https://www.eventbrite.com/e/script-night-1" in part
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://127.0.0.1:8000/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = unsubscribe.strip("<>")
    assert url in html and url in text

    # RFC 8058: the mail client POSTs the form body to the URL from the header.
    parts = urlsplit(url)
    response = client.post(
        f"{parts.path}?{parts.query}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    with psycopg.connect(db) as conn:
        active, gone = conn.execute(
            "SELECT is_active, unsubscribed_at FROM subscriptions WHERE id = %s", (sub_id,)
        ).fetchone()
    assert active is False and gone is not None
    add_events(db, "after unsubscribing")
    assert run_digest(mail_config, db).sent == 0
    assert len(smtp_server.handler.to("fan@example.com")) == 1


def test_run_twice_sends_nothing_new_then_only_the_new_events(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    subscribe(db, "b@example.com")
    add_events(db, "first", "second")
    assert run_digest(mail_config, db).sent == 2
    again = run_digest(mail_config, db)
    assert again.sent == 0 and again.planned == []
    assert len(smtp_server.handler.received) == 2
    add_events(db, "third")
    assert run_digest(mail_config, db).sent == 2
    latest = smtp_server.handler.to("a@example.com")[-1]
    text = body(latest, "plain")
    assert "third" in text and "first" not in text and "second" not in text
    rows = logs(db)
    assert [r["status"] for r in rows] == ["sent"] * 4
    assert {r["event_count"] for r in rows} == {2, 1}


def test_only_upcoming_events_of_the_city_ordered_and_capped(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    now = datetime.now(UTC)
    with psycopg.connect(db) as conn:
        ids = [
            insert_event(conn, title=f"event {n}", starts_at=now + timedelta(days=5 - n))
            for n in range(5)
        ]
        insert_event(conn, title="already over", starts_at=now - timedelta(hours=2))
        insert_event(conn, title="cancelled", status="cancelled")
        insert_event(conn, title="elsewhere", city="ny--new-york", tz="America/New_York")
    capped = dataclasses.replace(mail_config, digest_max_events=3)
    run_digest(capped, db)
    [message] = smtp_server.handler.to("a@example.com")
    text = body(message, "plain")
    assert message["Subject"] == "5 new events in Los Angeles"
    positions = [text.index(f"event {n}") for n in (4, 3, 2)]
    assert positions == sorted(positions)
    assert "event 1" not in text and "event 0" not in text
    assert "and 2 more" in text and "and 2 more" in body(message, "html")
    for absent in ("already over", "cancelled", "elsewhere"):
        assert absent not in text
    [row] = logs(db)
    assert row["event_count"] == 5
    assert sorted(row["event_ids"]) == sorted(ids)


def test_events_from_before_the_subscription_are_not_sent(db, mail_config, smtp_server):
    add_events(db, "old news")
    subscribe(db, "late@example.com")
    assert run_digest(mail_config, db).sent == 0
    add_events(db, "fresh")
    run_digest(mail_config, db)
    [message] = smtp_server.handler.to("late@example.com")
    assert "fresh" in body(message, "plain") and "old news" not in body(message, "plain")


def test_late_committed_events_are_caught_without_repeating_others(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    add_events(db, "on time")
    run_digest(mail_config, db)
    [row] = logs(db)
    # A crawl batch that began before the run but committed after it: created_at is
    # earlier than the watermark the run recorded.
    late_created = row["watermark"] - LATE_COMMIT_WINDOW / 2
    add_events(db, "late commit", created_at=late_created)
    run_digest(mail_config, db)
    messages = smtp_server.handler.to("a@example.com")
    assert len(messages) == 2
    text = body(messages[1], "plain")
    assert "late commit" in text and "on time" not in text


def test_subscription_filters_shape_each_digest(db, mail_config, smtp_server):
    subscribe(db, "free@example.com", filters={"free": True})
    subscribe(db, "jazz@example.com", filters={"q": "jazz"})
    subscribe(db, "irl@example.com", filters={"online": "exclude"})
    add_events(db, "Free Jazz Picnic", is_free=True)
    add_events(db, "Paid Techno", is_free=False, days=3)
    add_events(db, "Webinar on saxophones", is_online=True, description="jazz history", days=4)
    run_digest(mail_config, db)

    def titles(address: str) -> set[str]:
        [message] = smtp_server.handler.to(address)
        text = body(message, "plain")
        return {
            t for t in ("Free Jazz Picnic", "Paid Techno", "Webinar on saxophones") if t in text
        }

    assert titles("free@example.com") == {"Free Jazz Picnic"}
    assert titles("jazz@example.com") == {"Free Jazz Picnic", "Webinar on saxophones"}
    assert titles("irl@example.com") == {"Free Jazz Picnic", "Paid Techno"}


def test_refused_recipient_fails_without_retry_and_is_retried_next_run(
    db, mail_config, smtp_server
):
    subscribe(db, "ok@example.com")
    subscribe(db, "gone@example.com")
    add_events(db, "party")
    smtp_server.handler.refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    report = run_digest(mail_config, db)
    assert (report.sent, report.failed) == (1, 1)
    failed = [r for r in logs(db) if r["email"] == "gone@example.com"]
    assert len(failed) == 1  # 5xx: one attempt, no retry
    assert failed[0]["status"] == "failed"
    assert "550" in failed[0]["error"] and "permanent" in failed[0]["error"]
    # The failed mail was not counted as delivered: the next run sends it, and only it.
    smtp_server.handler.refuse.clear()
    report = run_digest(mail_config, db)
    assert (report.sent, report.failed) == (1, 0)
    assert len(smtp_server.handler.to("gone@example.com")) == 1
    assert len(smtp_server.handler.to("ok@example.com")) == 1


def test_421_then_recovery_is_retried_once_without_duplicates(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    add_events(db, "party")
    smtp_server.handler.defer_data = 1
    report = run_digest(mail_config, db)
    assert (report.sent, report.failed, report.attempts) == (1, 0, 2)
    assert len(smtp_server.handler.to("a@example.com")) == 1
    first, second = logs(db)
    assert (first["status"], first["attempt"]) == ("failed", 1)
    assert "421" in first["error"] and "will retry" in first["error"]
    assert (second["status"], second["attempt"]) == ("sent", 2)
    assert run_digest(mail_config, db).sent == 0


def test_dropped_connection_is_retried_on_a_new_one(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    subscribe(db, "b@example.com")
    add_events(db, "party")
    smtp_server.handler.drop_data = 1
    report = run_digest(mail_config, db)
    assert (report.sent, report.failed) == (2, 0)
    assert len(smtp_server.handler.to("a@example.com")) == 1
    assert len(smtp_server.handler.to("b@example.com")) == 1
    statuses = sorted(r["status"] for r in logs(db))
    assert statuses == ["failed", "sent", "sent"]
    [dropped] = [r for r in logs(db) if r["status"] == "failed"]
    assert "connection lost" in dropped["error"]


def test_transient_errors_past_the_retry_budget_wait_for_the_next_run(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    add_events(db, "party")
    smtp_server.handler.defer_data = 3
    report = run_digest(mail_config, db)
    assert (report.sent, report.failed, report.attempts) == (0, 1, 3)
    rows = logs(db)
    assert [(r["status"], r["attempt"]) for r in rows] == [
        ("failed", 1),
        ("failed", 2),
        ("failed", 3),
    ]
    assert "giving up until the next run" in rows[-1]["error"]
    assert run_digest(mail_config, db).sent == 1
    assert len(smtp_server.handler.to("a@example.com")) == 1


def test_concurrency_is_bounded_and_connections_are_reused(db, mail_config, smtp_server):
    for n in range(20):
        subscribe(db, f"user{n}@example.com")
    add_events(db, "party")
    limited = dataclasses.replace(mail_config, smtp_concurrency=3)
    assert run_digest(limited, db).sent == 20
    sessions = {r.session for r in smtp_server.handler.received}
    assert 1 <= len(sessions) <= 3
    assert len({r.recipients[0] for r in smtp_server.handler.received}) == 20


def test_dry_run_plans_without_sending_or_logging(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    add_events(db, "one", "two")
    report = run_digest(mail_config, db, dry_run=True)
    [plan] = report.planned
    assert plan.subscriber.email == "a@example.com" and plan.total == 2
    assert smtp_server.handler.received == [] and logs(db) == []
    assert run_digest(mail_config, db).sent == 1


def test_city_option_limits_the_run(db, mail_config, smtp_server):
    subscribe(db, "la@example.com")
    subscribe(db, "ny@example.com", city="ny--new-york")
    add_events(db, "la party")
    add_events(db, "ny party", city="ny--new-york", tz="America/New_York")
    report = run_digest(mail_config, db, cities=["ny--new-york"])
    assert report.sent == 1
    assert smtp_server.handler.to("la@example.com") == []
    assert len(smtp_server.handler.to("ny@example.com")) == 1


def test_a_second_run_never_works_a_city_another_run_holds(db, mail_config, smtp_server):
    subscribe(db, "a@example.com")
    add_events(db, "party")
    with psycopg.connect(db, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(7345006, hashtext(%s))", (LA,))
        report = run_digest(mail_config, db, lock_wait=0.3)
    assert report.busy_cities == [LA] and report.sent == 0
    assert smtp_server.handler.received == []
    # A holder that lets go within the wait (a run just finishing, or just dead) is waited for.
    other = psycopg.connect(db, autocommit=True)
    other.execute("SELECT pg_advisory_lock(7345006, hashtext(%s))", (LA,))
    release = threading.Timer(0.5, other.close)
    release.start()
    try:
        assert run_digest(mail_config, db, lock_wait=10).sent == 1
    finally:
        release.join()


def test_outbox_without_smtp_url(db, config):
    subscribe(db, "a@example.com")
    add_events(db, "party <b>bold</b>")
    report = run_digest(config, db)
    assert report.sent == 1
    assert report.transport == f"outbox {config.outbox_dir}"
    [path] = list(config.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "a@example.com"
    assert "party &lt;b&gt;bold&lt;/b&gt;" in body(message, "html")
    assert [r["status"] for r in logs(db)] == ["sent"]
