-- Issue 6: digest bookkeeping, subscription filters, and the index behind `q=` search.

-- A subscription's digest filters, in the same shape as GET /events/{city}'s query:
-- {"free": true, "online": "exclude", "q": "jazz"}; {} means every event.
ALTER TABLE subscriptions
    ADD COLUMN filters jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(filters) = 'object');

-- email_logs: one row per send attempt. A digest row is claimed as 'pending' before the
-- SMTP transaction and set to 'sent'/'failed' after it. A 'pending' row left by a run that
-- died is turned into 'unknown' by the next run and counted as delivered (at most once).
ALTER TABLE email_logs DROP CONSTRAINT email_logs_status_check;
ALTER TABLE email_logs
    ADD CONSTRAINT email_logs_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'unknown')),
    ADD COLUMN kind text NOT NULL DEFAULT 'digest' CHECK (kind IN ('digest', 'confirm')),
    ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN run_id text,
    -- The events the mail covers (listed or counted in "and N more"), and the instant up to which its events were chosen:
    -- the next digest starts from the latest delivered watermark.
    ADD COLUMN event_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN watermark timestamptz,
    ADD COLUMN message_id text,
    ADD COLUMN finished_at timestamptz;

-- Two runs can never both hold an in-flight mail for the same subscription.
CREATE UNIQUE INDEX idx_email_logs_one_pending
    ON email_logs (subscription_id, kind) WHERE status = 'pending';
-- "Last delivered digest" per subscription.
CREATE INDEX idx_email_logs_delivered
    ON email_logs (subscription_id, watermark DESC)
    WHERE kind = 'digest' AND status IN ('sent', 'unknown', 'pending');

-- New events per city since a watermark (the digest's candidate query).
CREATE INDEX idx_events_city_created ON events (city, created_at);

-- `q=` full-text search over title, venue and description. The 'simple' configuration
-- (lower-casing, no stemming, no stop words) suits names and places in any language;
-- queries must use exactly this expression (nocturne_crawl/event_filters.py SEARCH_DOCUMENT)
-- for the planner to pick the index.
CREATE INDEX idx_events_search ON events USING gin (
    to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(location, '') || ' ' || coalesce(description, ''))
);
