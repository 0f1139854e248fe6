-- Nocturne's first schema: the seed's tables, kept field for field, plus what correctness needs.

CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    title         text NOT NULL CHECK (length(btrim(title)) > 0 AND length(title) <= 1000),
    link          text NOT NULL UNIQUE CHECK (link ~ '^https?://[^\s]+$' AND length(link) <= 2048),
    date          date NOT NULL,
    time          time,
    location      text CHECK (length(location) <= 2000),
    description   text CHECK (length(description) <= 20000),
    source        text NOT NULL CHECK (source IN ('eventbrite', 'meetup', 'luma')),
    city          text NOT NULL CHECK (city ~ '^[a-z0-9-]+--[a-z0-9-]+$'),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz CHECK (ends_at IS NULL OR ends_at >= starts_at),
    timezone      text NOT NULL,
    latitude      double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude     double precision CHECK (longitude BETWEEN -180 AND 180),
    is_online     boolean NOT NULL DEFAULT false,
    is_free       boolean,
    price         text CHECK (length(price) <= 200),
    image_url     text CHECK (image_url ~ '^https?://' AND length(image_url) <= 2048),
    source_id     text,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    synced_at     timestamptz,
    last_scraped  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_events_city ON events (city);
CREATE INDEX idx_events_city_date ON events (city, date);
CREATE INDEX idx_events_last_scraped ON events (last_scraped);
-- The API's hot path: one city's events from an instant on, in start order.
CREATE INDEX idx_events_city_starts ON events (city, starts_at, id);
-- Rows still to mirror to the shared database.
CREATE INDEX idx_events_unsynced ON events (id) WHERE synced_at IS NULL;

CREATE TABLE subscriptions (
    id               bigserial PRIMARY KEY,
    email            text NOT NULL CHECK (email = lower(email) AND email LIKE '_%@_%' AND length(email) <= 320),
    city             text NOT NULL CHECK (city ~ '^[a-z0-9-]+--[a-z0-9-]+$'),
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    unsubscribed_at  timestamptz,
    confirmed_at     timestamptz,
    UNIQUE (email, city)
);
CREATE INDEX idx_subscriptions_email ON subscriptions (email);
CREATE INDEX idx_subscriptions_city ON subscriptions (city);

CREATE TABLE email_logs (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint REFERENCES subscriptions (id) ON DELETE SET NULL,
    email            text NOT NULL,
    subject          text NOT NULL,
    event_count      integer NOT NULL DEFAULT 0 CHECK (event_count >= 0),
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_email_logs_subscription ON email_logs (subscription_id, created_at);

CREATE TABLE crawl_runs (
    id             bigserial PRIMARY KEY,
    job_id         text NOT NULL UNIQUE,
    city           text NOT NULL,
    spider         text NOT NULL CHECK (spider IN ('eventbrite', 'meetup', 'luma')),
    trigger        text NOT NULL DEFAULT 'cli' CHECK (trigger IN ('api', 'cron', 'cli')),
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'finished', 'failed')),
    pid            integer,
    host           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    heartbeat_at   timestamptz,
    pages          integer NOT NULL DEFAULT 0,
    items_scraped  integer NOT NULL DEFAULT 0,
    items_new      integer NOT NULL DEFAULT 0,
    items_updated  integer NOT NULL DEFAULT 0,
    items_dropped  integer NOT NULL DEFAULT 0,
    error          text,
    stats          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX idx_crawl_runs_city_created ON crawl_runs (city, created_at DESC);
CREATE INDEX idx_crawl_runs_status ON crawl_runs (status) WHERE status IN ('queued', 'running');
