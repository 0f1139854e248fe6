-- Tell listeners (the API's response cache) when events change, whoever wrote them:
-- the crawl pipelines, a Supabase pull, or a hand-written UPDATE. One notification per
-- statement, delivered at commit; PostgreSQL folds duplicates within a transaction.
CREATE FUNCTION notify_events_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION notify_events_changed();
