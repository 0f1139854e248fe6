-- Pipelines (issue 4): cross-source duplicates remembered, and the shared-database pull mark.

-- A link of the same event listed on another site. The dedupe pipeline drops items with
-- these links instead of inserting them as new events; `event_link` is the row kept.
CREATE TABLE event_aliases (
    link        text PRIMARY KEY CHECK (link ~ '^https?://[^\s]+$' AND length(link) <= 2048),
    event_link  text NOT NULL REFERENCES events (link) ON UPDATE CASCADE ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('eventbrite', 'meetup', 'luma')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (link <> event_link)
);
CREATE INDEX idx_event_aliases_event_link ON event_aliases (event_link);

-- `nocturne sync`: how far this install has pulled from each shared database. On the
-- shared side `events.synced_at` is when a row arrived there, which the pull pages by.
CREATE TABLE sync_state (
    target        text PRIMARY KEY,
    pulled_until  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_events_synced_at ON events (synced_at);
-- Vanished-event marking: one city and source's upcoming events.
CREATE INDEX idx_events_city_source_starts ON events (city, source, starts_at);
