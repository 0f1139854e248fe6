"""The digest job registered with the scheduler on DIGEST_CRON, run the way APScheduler runs it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import psycopg

from nocturne_crawl.scheduler import build_scheduler
from tests.support.events import insert_event


def test_digest_job_is_scheduled_on_digest_cron_and_sends(db, mail_config, smtp_server):
    config = dataclasses.replace(mail_config, digest_cron="15 7 * * 1")
    scheduler = build_scheduler(config, db, None)
    try:
        job = scheduler.scheduler.get_job("digest")
        assert job is not None
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["minute"], fields["hour"], fields["day_of_week"]) == ("15", "7", "1")
        assert str(job.trigger.timezone) == "UTC"
        with psycopg.connect(db) as conn:
            conn.execute(
                "INSERT INTO subscriptions (email, city) VALUES ('cron@example.com', 'ca--los-angeles')"
            )
        with psycopg.connect(db) as conn:
            insert_event(conn, title="party", starts_at=datetime.now(UTC) + timedelta(days=1))
        job.func()  # what APScheduler calls on the trigger (in its worker thread)
        assert len(smtp_server.handler.to("cron@example.com")) == 1
        job.func()  # a second firing finds nothing new
        assert len(smtp_server.handler.to("cron@example.com")) == 1
    finally:
        scheduler.shutdown()
