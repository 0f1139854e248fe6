-- idx_events_city_source_starts (0002) served one statement: the vanished-events update
-- (pipelines/vanished.py), run once per city and source at the end of a complete crawl.
-- (city, starts_at, id) serves it as well: the city's upcoming events, of which the
-- source's are kept (three sources' rows read instead of one's, once per crawl). Keeping
-- the index up to date cost every stored row about 2-3 us of PostgreSQL CPU (`make bench
-- ONLY=pipeline`).
DROP INDEX IF EXISTS idx_events_city_source_starts;
