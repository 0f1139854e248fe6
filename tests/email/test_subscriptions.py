"""Subscription hygiene: per-client rate limit, filters, double opt-in, one-click unsubscribe."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from nocturne_crawl.digest import run_digest
from nocturne_crawl.tokens import make_token
from tests.support.events import insert_event

LA = "ca--los-angeles"


@pytest.fixture
def app_client(db, mail_config):
    """The app with a given config (tests replace fields before entering it)."""

    def make(**changes) -> TestClient:
        return TestClient(create_app(dataclasses.replace(mail_config, **changes), conninfo=db))

    return make


def test_subscribe_is_rate_limited_per_client(app_client):
    with app_client(subscribe_client_limit=3) as client:
        for n in range(3):
            response = client.post("/subscribe", json={"email": f"u{n}@example.com", "city": LA})
            assert response.status_code == 201
        refused = client.post("/subscribe", json={"email": "u9@example.com", "city": LA})
        assert refused.status_code == 429
        body = refused.json()
        assert "too many subscribe requests" in body["error"]
        assert 1 <= body["retry_after"] <= 3600
        assert refused.headers["retry-after"] == str(body["retry_after"])
        # The limit counts requests, bad ones included, so it cannot be probed for free.
        assert client.post("/subscribe", json={"email": "x"}).status_code == 429


def test_subscribe_stores_filters_and_replaces_them(app_client, db):
    with app_client() as client:
        first = client.post(
            "/subscribe",
            json={"email": "a@example.com", "city": LA, "filters": {"free": True, "q": "jazz"}},
        )
        assert first.status_code == 201
        client.post(
            "/subscribe", json={"email": "a@example.com", "city": LA, "filters": {"online": "only"}}
        )
        client.post("/subscribe", json={"email": "a@example.com", "city": LA})  # keeps them
    with psycopg.connect(db) as conn:
        [(filters,)] = conn.execute("SELECT filters FROM subscriptions").fetchall()
    assert filters == {"online": "only"}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"free": "perhaps"}, "free must be true or false"),
        ({"online": "sometimes"}, "online must be one of"),
        ({"q": 42}, "q must be a string"),
        ({"colour": "red"}, "unknown filter(s): colour"),
        (["free"], "filters must be an object"),
    ],
)
def test_bad_subscription_filters_are_400(app_client, db, filters, message):
    with app_client() as client:
        response = client.post(
            "/subscribe", json={"email": "a@example.com", "city": LA, "filters": filters}
        )
    assert response.status_code == 400
    assert message in response.json()["error"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


def test_double_opt_in_mails_a_link_and_holds_digests_until_confirmed(
    app_client, db, mail_config, smtp_server
):
    confirming = dataclasses.replace(mail_config, confirm_subscriptions=True)
    with app_client(confirm_subscriptions=True) as client:
        response = client.post("/subscribe", json={"email": "New@Example.com", "city": LA})
        assert response.status_code == 201
        assert response.json()["confirmation_pending"] is True
        [mail] = smtp_server.handler.to("new@example.com")
        assert mail["Subject"] == "Confirm your Nocturne digest for Los Angeles"
        text = mail.get_body(preferencelist=("plain",)).get_content()
        link = next(w for w in text.split() if "/confirm?token=" in w)
        assert link in mail.get_body(preferencelist=("html",)).get_content()

        # Asking again within the hour sends no second mail.
        assert (
            client.post("/subscribe", json={"email": "new@example.com", "city": LA}).status_code
            == 200
        )
        assert len(smtp_server.handler.to("new@example.com")) == 1

        with psycopg.connect(db) as conn:
            insert_event(conn, title="party", starts_at=datetime.now(UTC) + timedelta(days=1))
        assert run_digest(confirming, db).sent == 0  # not confirmed yet

        parts = urlsplit(link)
        tampered = client.get(f"{parts.path}?token={parts.query[6:-3]}abc")
        assert tampered.status_code == 400
        assert "That link did not work" in tampered.text
        page = client.get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200
        assert "Subscription confirmed" in page.text
        # Following the link twice is harmless.
        assert client.post(f"{parts.path}?{parts.query}").json()["email"] == "new@example.com"
        again = client.post("/subscribe", json={"email": "new@example.com", "city": LA})
        assert again.json()["confirmation_pending"] is False

    assert run_digest(confirming, db).sent == 1
    with psycopg.connect(db) as conn:
        statuses = conn.execute("SELECT kind, status FROM email_logs ORDER BY id").fetchall()
    assert statuses == [("confirm", "sent"), ("digest", "sent")]


def test_confirmation_failure_is_logged_not_raised(app_client, db, smtp_server):
    smtp_server.handler.refuse["bounce@example.com"] = "550 5.1.1 unknown user"
    with app_client(confirm_subscriptions=True) as client:
        response = client.post("/subscribe", json={"email": "bounce@example.com", "city": LA})
    assert response.status_code == 201
    with psycopg.connect(db) as conn:
        status, error = conn.execute("SELECT status, error FROM email_logs").fetchone()
    assert status == "failed" and "550" in error


def test_without_double_opt_in_no_confirmation_mail(app_client, smtp_server):
    with app_client() as client:
        response = client.post("/subscribe", json={"email": "a@example.com", "city": LA})
    assert response.status_code == 201
    assert response.json()["confirmation_pending"] is False
    assert smtp_server.handler.received == []


def test_one_click_post_with_a_foreign_token_changes_nothing(app_client, db, mail_config):
    with app_client() as client:
        sub = client.post("/subscribe", json={"email": "a@example.com", "city": LA}).json()
        other_install = dataclasses.replace(mail_config, secret_key="another-install")
        foreign = make_token(other_install, "unsubscribe", sub["id"], sub["email"])
        confirm_token = make_token(mail_config, "confirm", sub["id"], sub["email"])
        for token in (foreign, confirm_token):
            response = client.post(
                f"/unsubscribe?token={token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 400
            assert "token" in response.json()["error"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT is_active FROM subscriptions").fetchone()[0] is True
