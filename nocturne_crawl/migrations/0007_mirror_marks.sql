-- Marking a row mirrored (the local `synced_at`) without rewriting its index entries.
--
-- An UPDATE that changes no indexed column and finds room on the row's page is a HOT
-- update: none of the row's index entries (a dozen, the full-text one recomputing its
-- document) is touched. Setting `synced_at` for 10,000 confirmed rows cost ~100 us of
-- PostgreSQL CPU per row before; as a HOT update it costs a fraction of that. So:
-- * `synced_at` is in no index any more. Pending rows (synced_at null) are found by
--   walking the primary key (the push pages by id), one pass per push of the backlog.
-- * The pull pages the shared database by `arrived_at`, the instant the row's current
--   version arrived there (the shared upsert sets it), not by `synced_at`. Rows already
--   there take this migration's instant: the next pull reads them once more, which the
--   pull's newer-wins upsert makes harmless.
-- * Pages are filled to half (fillfactor 50), so that the new version of every row on a
--   page fits beside the old one: the mirror marks rows a thousand at a time, in one
--   statement, and the old versions cannot be pruned before it commits. At fillfactor
--   90 only about one row in ten found room (measured: 10,000 rows mirrored in 1.6 s,
--   2.2 s of PostgreSQL CPU; at 50: 1.1 s, 1.2 s of CPU). The price is disk: the heap
--   of `events` takes about twice the space (indexes unchanged).
ALTER TABLE events ADD COLUMN arrived_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX idx_events_arrived_at ON events (arrived_at);
DROP INDEX idx_events_synced_at;
DROP INDEX idx_events_unsynced;
ALTER TABLE events SET (fillfactor = 50);
