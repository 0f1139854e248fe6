"""Events a complete crawl no longer lists: marked `cancelled`, un-marked if they return."""

from __future__ import annotations

from datetime import datetime

import psycopg

# Upcoming events of one city and source that the run did not touch (the upsert stamps
# last_scraped on every row it sees, and sets status back to 'active').
VANISHED_SQL = """
    UPDATE events SET status = 'cancelled', updated_at = now(), synced_at = NULL
     WHERE city = %s AND source = %s AND status = 'active'
       AND starts_at >= %s AND last_scraped < %s
    RETURNING link"""


def mark_vanished(
    conn: psycopg.Connection, city: str, source: str, run_started: datetime
) -> list[str]:
    """Cancel `city`'s upcoming `source` events not seen since `run_started`; their links.

    Only call this after a complete crawl of that city and source: a partial one would
    cancel everything it did not reach.
    """
    with conn.transaction():
        rows = conn.execute(VANISHED_SQL, (city, source, run_started, run_started)).fetchall()
        if rows:
            conn.execute("SELECT pg_notify('events_changed', %s)", (city,))
    return [r[0] for r in rows]
