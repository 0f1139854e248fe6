-- The tombstone trigger of 0008 runs as its owner, like 0009's writers trigger: a role
-- that may delete events (a REST role on the shared side, say) needs no rights on
-- events_deleted, and the function's search path is fixed, as such a function's must be.
ALTER FUNCTION remember_deleted_events() SECURITY DEFINER SET search_path = public, pg_temp;
