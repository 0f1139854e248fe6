-- Deletions for the mirror: a tombstone per deleted event link.
--
-- The cross-source dedupe deletes a row when a richer listing of the same event wins
-- (its link becomes an alias). If that row had reached the shared database, the mirror
-- must delete it there too, and a deleted row leaves nothing in `events` to say so.
-- Every deletion is recorded, not only of rows with `synced_at` set: a row deleted while
-- its push is in flight has not been marked yet. Deletions are rare and this is one
-- statement-level insert per DELETE. The mirror sends these links to the shared database
-- after its pushes and removes a tombstone once the shared side confirmed; a link that
-- exists here again (inserted anew) is not deleted there, its tombstone is dropped.
CREATE TABLE events_deleted (
    link text PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION remember_deleted_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events_deleted (link)
    SELECT link FROM deleted_rows
    ON CONFLICT (link) DO UPDATE SET deleted_at = now();
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_deleted_remember
AFTER DELETE ON events
REFERENCING OLD TABLE AS deleted_rows
FOR EACH STATEMENT EXECUTE FUNCTION remember_deleted_events();
