"""A digest run killed mid-send (a real process exit, no cleanup): the next run sends no
duplicate. The documented bound: the mails claimed but not confirmed when the run died (at
most CLAIM_BATCH per sender) count as sent, so each of those subscribers misses at most
this one mail, and nobody gets one twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import psycopg

from nocturne_crawl.config import REPO_ROOT
from nocturne_crawl.digest import CLAIM_BATCH, run_digest
from tests.support.events import insert_event

# The child runs a real digest over SMTP with one connection, and dies with os._exit
# (like a kill -9: no finally blocks, no log update) at the chosen point of the first mail.
CHILD = textwrap.dedent(
    """
    import os, sys
    from nocturne_crawl import digest
    from nocturne_crawl.config import Config
    from nocturne_crawl.mail import transport

    where = sys.argv[1]
    if where == "after-send":
        async def die(*args, **kwargs):
            os._exit(17)
        digest.finish_attempts = die
    else:
        async def die_before(self, *args, **kwargs):
            os._exit(17)
        transport.SmtpTransport.send = die_before
    report = digest.run_digest(Config.from_env(), os.environ["DATABASE_URL"])
    print(report.summary(), file=sys.stderr)
    os._exit(0)
    """
)


def crash_a_run(db: str, mail_config, where: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "SMTP_URL": mail_config.smtp_url,
        "SMTP_CONCURRENCY": "1",
        "NOCTURNE_SECRET_KEY": mail_config.secret_key,
        "NOCTURNE_DATA_DIR": str(mail_config.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, where],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 17, done.stderr.decode()[-2000:]


ADDRESSES = ["first@example.com", "second@example.com"]


def setup(db: str) -> None:
    with psycopg.connect(db) as conn:
        for address in ADDRESSES:
            conn.execute(
                "INSERT INTO subscriptions (email, city) VALUES (%s, 'ca--los-angeles')", (address,)
            )
    with psycopg.connect(db) as conn:  # a later transaction: the event is new to them
        insert_event(conn, title="party", starts_at=datetime.now(UTC) + timedelta(days=1))


def statuses(db: str) -> list[tuple[str, str]]:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT email, status FROM email_logs ORDER BY id").fetchall()


def test_crash_after_the_server_took_the_mail_sends_no_duplicate(db, mail_config, smtp_server):
    setup(db)
    crash_a_run(db, mail_config, "after-send")
    # The server took both mails of the claimed batch; the log never heard back.
    assert sorted(r.recipients[0] for r in smtp_server.handler.received) == ADDRESSES
    assert sorted(statuses(db)) == [(a, "pending") for a in ADDRESSES]

    report = run_digest(mail_config, db)
    assert report.crashed_resolved == 2
    assert report.sent == 0
    for address in ADDRESSES:
        assert len(smtp_server.handler.to(address)) == 1  # no duplicate
    assert sorted(statuses(db)) == [(a, "unknown") for a in ADDRESSES]
    with psycopg.connect(db) as conn:
        insert_event(conn, title="later party", starts_at=datetime.now(UTC) + timedelta(days=2))
    assert run_digest(mail_config, db).sent == 2  # the subscriptions go on


def test_crash_before_the_server_took_the_mail_misses_at_most_that_mail(
    db, mail_config, smtp_server
):
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO subscriptions (email, city) VALUES ('unclaimed@example.com', %s)",
            ("ca--los-angeles",),
        )
    setup(db)
    # Nine subscribers, one sender, batches of CLAIM_BATCH (8): the run dies sending the
    # first mail, with 8 claimed and the ninth never claimed.
    assert CLAIM_BATCH == 8
    with psycopg.connect(db) as conn:
        conn.execute(
            """INSERT INTO subscriptions (email, city, created_at)
               SELECT 'more' || n || '@example.com', 'ca--los-angeles', now() - interval '1 hour'
                 FROM generate_series(1, 6) AS n"""
        )
    crash_a_run(db, mail_config, "before-send")
    assert smtp_server.handler.received == []
    stranded = statuses(db)
    assert len(stranded) == CLAIM_BATCH and {s for _, s in stranded} == {"pending"}

    report = run_digest(mail_config, db)
    assert report.crashed_resolved == CLAIM_BATCH
    assert report.sent == 1  # only the subscriber the dead run had not claimed
    missed = {address for address, _ in stranded}
    for address in missed:
        assert smtp_server.handler.to(address) == []  # the bound: this one mail, missed
    # Later events reach them again: one mail was missed, not the subscription.
    with psycopg.connect(db) as conn:
        insert_event(conn, title="later party", starts_at=datetime.now(UTC) + timedelta(days=2))
    assert run_digest(mail_config, db).sent == 9
    for address in missed:
        [later] = smtp_server.handler.to(address)
        text = later.get_body(preferencelist=("plain",)).get_content()
        assert "later party" in text and "* party" not in text
