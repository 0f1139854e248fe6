-- Who wrote events of a city, and in which transaction: the late-twin check's gate.
--
-- After each batch the store looks for cross-source duplicates that a concurrent run
-- stored too (pipelines/late_twins.py): one index probe per new row. That is only needed
-- when another writer inserted events of the city after this run's dedupe step could
-- have seen them (the check looks at inserted rows only, so updates do not count). Every
-- INSERT into `events` records here, per city, the writing session's name
-- (`nocturne.writer`, set by the store; else the backend's pid) and its transaction id.
-- A run compares those ids with the snapshot it took when it opened
-- (`pg_visible_in_snapshot`): no other writer committed since means no probe.
CREATE TABLE event_writers (
    city text NOT NULL,
    writer text NOT NULL,
    xid xid8 NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, writer)
);
-- What no running crawl's snapshot can miss any more goes (below): the table stays small
-- on both sides (the shared database gets this migration too, and nothing reads it there).
CREATE INDEX idx_event_writers_written_at ON event_writers (written_at);

-- SECURITY DEFINER: whoever may insert events (a REST role on the shared side, say) needs
-- no rights on this table; the search path is fixed, as such a function's must be.
CREATE FUNCTION remember_event_writers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Cities in one order, so two writers never wait on each other's rows crosswise.
    INSERT INTO event_writers AS w (city, writer, xid)
    SELECT c.city,
           coalesce(nullif(current_setting('nocturne.writer', true), ''),
                    'backend-' || pg_backend_pid()),
           pg_current_xact_id()
      FROM (SELECT DISTINCT city FROM changed_rows ORDER BY city) AS c
    ON CONFLICT (city, writer) DO UPDATE SET xid = EXCLUDED.xid, written_at = now();
    DELETE FROM event_writers WHERE written_at < now() - interval '7 days';
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_writers_remember
AFTER INSERT ON events
REFERENCING NEW TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION remember_event_writers();
