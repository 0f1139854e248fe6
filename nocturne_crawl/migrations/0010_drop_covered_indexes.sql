-- Three of the first schema's indexes (the seed's) are covered by later ones and only
-- cost every insert (about 3 us of PostgreSQL CPU per stored row, `make bench
-- ONLY=pipeline`):
--   idx_events_city          every query by city also filters or sorts by a column of
--                            (city, starts_at, id), (city, source, starts_at) or
--                            (city, created_at), whose leading column serves it as well;
--   idx_events_city_date     date ranges are asked as starts_at ranges (the city's local
--                            day bounds, api/events.py) on (city, starts_at, id);
--   idx_events_last_scraped  no query asks by last_scraped alone; vanished events are
--                            found by (city, source, starts_at).
DROP INDEX IF EXISTS idx_events_city;
DROP INDEX IF EXISTS idx_events_city_date;
DROP INDEX IF EXISTS idx_events_last_scraped;
