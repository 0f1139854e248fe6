"""SMTP_URL parsing, the message format on the wire, and `nocturne digest` from the CLI."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from nocturne_crawl.cities import get_city
from nocturne_crawl.cli import main
from nocturne_crawl.config import Config
from nocturne_crawl.mail.compose import DigestEvent, digest_message, mime_alternative
from nocturne_crawl.mail.transport import (
    OutboxTransport,
    SmtpSettings,
    SmtpTransport,
    make_transport,
)
from tests.support.events import insert_event


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local", ("mail.local", 25, None, None, False, None)),
        ("smtp://mail.local:2525?starttls=0", ("mail.local", 2525, None, None, False, False)),
        (
            "smtp://me%40site.org:p%40ss%3Aw@mail.local?starttls=1",
            ("mail.local", 587, "me@site.org", "p@ss:w", False, True),
        ),
        ("smtps://u:pw@mail.local", ("mail.local", 465, "u", "pw", True, False)),
        ("smtps://u:pw@mail.local:1465", ("mail.local", 1465, "u", "pw", True, False)),
    ],
)
def test_smtp_url_forms(url, expected):
    s = SmtpSettings.from_url(url)
    assert (s.host, s.port, s.username, s.password, s.use_tls, s.start_tls) == expected
    assert "p@ss" not in repr(s) and "pw" not in s.describe()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.local", "smtp:// or smtps://"),
        ("smtp://", "needs a host"),
        ("smtp://mail.local?starttls=maybe", "starttls must be 1 or 0"),
        ("smtps://mail.local?starttls=1", "implicit TLS"),
        ("smtp://mail.local:99999", "invalid port"),
    ],
)
def test_bad_smtp_urls_are_refused_clearly(url, message):
    with pytest.raises(ValueError, match=message):
        SmtpSettings.from_url(url)


def test_transport_choice(tmp_path):
    assert isinstance(make_transport(Config(data_dir=tmp_path)), OutboxTransport)
    smtp = make_transport(Config(data_dir=tmp_path, smtp_url="smtp://u:secret@127.0.0.1:2525"))
    assert isinstance(smtp, SmtpTransport)
    assert smtp.describe() == "smtp://u@127.0.0.1:2525"


def test_wire_format_parses_back_with_the_email_package(config):
    city = get_city("ca--los-angeles")
    row = {
        "id": 1,
        "title": "Café <b>Überraschung</b> 🎷 " + "x" * 1200,
        "starts_at": datetime(2026, 7, 4, 3, 30, tzinfo=UTC),
        "time": "20:30",
        "location": "Echo Park",
        "source": "luma",
        "link": "https://lu.ma/abc",
    }
    event = DigestEvent.from_row(row, city.tz)
    mail = digest_message(
        config,
        subscription_id=7,
        email="a@example.com",
        city=city,
        events=[event],
        total=1,
        message_id="digest.1.run",
    )
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    assert b"\n" not in mail.data.replace(b"\r\n", b"")
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == mail.message_id == "<digest.1.run@nocturne.localhost>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert row["title"] in text
    assert "Café &lt;b&gt;Überraschung&lt;/b&gt; 🎷" in html
    # 03:30 UTC on 4 July is 20:30 on 3 July in Los Angeles (PDT).
    assert "Fri 03 Jul 2026, 20:30" in text


def test_header_injection_is_refused():
    with pytest.raises(ValueError, match="one line"):
        mime_alternative([("Subject", "hi\r\nBcc: victim@example.com")], "t", "h")


def test_non_ascii_subject_is_encoded():
    data = mime_alternative([("Subject", "Nuevos en São Paulo")], "t", "h")
    assert b"=?utf-8?" in data
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Nuevos en São Paulo"


def test_digest_command_dry_run_and_outbox(db, config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("NOCTURNE_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("NOCTURNE_SECRET_KEY", "cli-secret")
    monkeypatch.delenv("SMTP_URL", raising=False)
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO subscriptions (email, city) VALUES ('cli@example.com', 'ca--los-angeles')"
        )
    with psycopg.connect(db) as conn:
        insert_event(conn, title="party", starts_at=datetime.now(UTC) + timedelta(days=1))
    runner = CliRunner()
    dry = runner.invoke(main, ["digest", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "cli@example.com (ca--los-angeles): 1 new event(s), 1 listed" in dry.output
    assert not (config.data_dir / "outbox").exists()

    sent = runner.invoke(main, ["digest", "--city", "ca--los-angeles"])
    assert sent.exit_code == 0, sent.output
    assert f"writing mails to {config.data_dir / 'outbox'}" in sent.output
    assert "1 sent, 0 failed" in sent.output
    assert len(list((config.data_dir / "outbox").glob("*.eml"))) == 1

    again = runner.invoke(main, ["digest"])
    assert again.exit_code == 0 and "0 sent, 0 failed" in again.output
    assert len(list((config.data_dir / "outbox").glob("*.eml"))) == 1

    bad = runner.invoke(main, ["digest", "--city", "xx--atlantis"])
    assert bad.exit_code == 2 and "unknown city" in bad.output
