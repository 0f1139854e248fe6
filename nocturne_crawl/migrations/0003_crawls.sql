-- Crawls on demand and on schedule (issue 5): per-request grouping of the per-source jobs,
-- where each job runs and logs, and who asked for it (for the per-client limit).

-- One POST /scrape (or one scheduled / CLI crawl of a city) starts one job per source; they
-- share a run_id. Rows written by a plain `scrapy crawl` get a run of their own.
ALTER TABLE crawl_runs ADD COLUMN run_id text;
UPDATE crawl_runs SET run_id = job_id WHERE run_id IS NULL;
ALTER TABLE crawl_runs ALTER COLUMN run_id SET NOT NULL;

-- 'subprocess' | 'scrapyd' | 'manual' (a crawl started by hand with `scrapy crawl`).
ALTER TABLE crawl_runs ADD COLUMN backend text NOT NULL DEFAULT 'manual'
    CHECK (backend IN ('subprocess', 'scrapyd', 'manual'));
-- The process that queued the job (host:pid), so a queued job whose launcher died is swept.
ALTER TABLE crawl_runs ADD COLUMN launcher text;
ALTER TABLE crawl_runs ADD COLUMN log_path text;
-- The API client (request.client.host) that started the run; null for cron and CLI runs.
ALTER TABLE crawl_runs ADD COLUMN client text;
-- Scrapy's finish reason ('finished', 'shutdown', 'closespider_itemcount', ...).
ALTER TABLE crawl_runs ADD COLUMN finish_reason text;

-- Any spider name of the project, not only today's three sources: a test spider or a fourth
-- source records its runs without a migration. The catalog decides what the API crawls.
ALTER TABLE crawl_runs DROP CONSTRAINT IF EXISTS crawl_runs_spider_check;
ALTER TABLE crawl_runs ADD CONSTRAINT crawl_runs_spider_name
    CHECK (spider ~ '^[A-Za-z_][A-Za-z0-9_-]{0,63}$');

CREATE INDEX idx_crawl_runs_run ON crawl_runs (run_id);
CREATE INDEX idx_crawl_runs_client ON crawl_runs (client, created_at DESC) WHERE client IS NOT NULL;
