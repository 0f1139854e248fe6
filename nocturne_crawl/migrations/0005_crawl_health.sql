-- Crawl health (issue 8): each run's item count and field coverage, and whether it looks
-- like the site changed its pages ('degraded'), judged against the source's recent runs.
ALTER TABLE crawl_runs ADD COLUMN coverage jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE crawl_runs ADD COLUMN health text CHECK (health IN ('ok', 'degraded'));
ALTER TABLE crawl_runs ADD COLUMN health_notes text;
