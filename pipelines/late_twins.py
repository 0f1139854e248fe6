"""Cross-source duplicates that two crawls running at the same time both inserted.

The dedupe step compares an item with the events stored when it loaded that day, so when
a city's sources are crawled at once (the launcher starts them together) an event listed
on two sites is inserted by both runs: neither had committed when the other looked.
After each committed batch the store looks again, for the rows it has just inserted. Of
two concurrent runs at least the later committer sees the other's row, so every such
pair is merged by one of them, with the dedupe step's own rule (`same_event`; the richer
listing kept, on a tie the older row) and its bookkeeping (`event_aliases`).
"""

from __future__ import annotations

import math
from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nocturne_crawl.items import EVENT_COLUMNS
from pipelines.matching import (
    DISTANCE_METERS,
    EARTH_RADIUS_METERS,
    WINDOW_SECONDS,
    Listing,
    same_event,
)

_COLUMNS = (*EVENT_COLUMNS, "created_at")
NEW_ROWS_SQL = sql.SQL(
    "SELECT {cols} FROM events WHERE link = ANY(%s) AND status = 'active'"
).format(cols=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
# Two listings of one event are at most DISTANCE_METERS apart when both have coordinates,
# so their latitudes differ by at most that arc (a great circle is never shorter than its
# north-south part): a bound the database can check before Python applies the whole rule.
_LATITUDE_SLACK = math.degrees(DISTANCE_METERS / EARTH_RADIUS_METERS) * 1.01
# Other sources' active events of the same city starting within the window of a new row,
# each found through an index (OFFSET 0 keeps the subqueries per-row index scans: joined as
# a whole, the planner hashes every row of the table, then of the city).
NEIGHBOURS_SQL = sql.SQL(
    """SELECT n.link AS new_link, {cols}
         FROM unnest(%(links)s::text[]) AS l(link)
         CROSS JOIN LATERAL (
              SELECT * FROM events n WHERE n.link = l.link AND n.status = 'active' OFFSET 0
         ) AS n
         CROSS JOIN LATERAL (
              SELECT * FROM events o
               WHERE o.city = n.city
                 AND o.starts_at BETWEEN n.starts_at - %(window)s AND n.starts_at + %(window)s
                 AND o.source <> n.source AND o.status = 'active'
                 AND (n.latitude IS NULL OR n.longitude IS NULL OR o.latitude IS NULL
                      OR o.longitude IS NULL
                      OR abs(o.latitude - n.latitude) <= %(slack)s)
              OFFSET 0) AS o"""
).format(cols=sql.SQL(", ").join(sql.Identifier("o", c) for c in _COLUMNS))
# Did a writer other than `writer` insert events of these cities in a transaction that
# the snapshot (taken when the run opened) does not see? (migration 0009)
OTHER_WRITERS_SQL = """
    SELECT EXISTS (
        SELECT 1 FROM event_writers
         WHERE city = ANY(%s) AND writer <> %s
           AND NOT pg_visible_in_snapshot(xid, %s::pg_snapshot))"""
# The loser becomes an alias of the winner; aliases pointing at the loser follow it.
ALIAS_SQL = """
    INSERT INTO event_aliases (link, event_link, source) VALUES (%(loser)s, %(winner)s, %(source)s)
    ON CONFLICT (link) DO UPDATE SET event_link = EXCLUDED.event_link"""
REPOINT_SQL = """
    UPDATE event_aliases SET event_link = %(winner)s
     WHERE event_link = %(loser)s AND link <> %(winner)s"""
DELETE_SQL = "DELETE FROM events WHERE link = %(loser)s"


def others_inserted_since(
    conn: psycopg.Connection, cities: list[str], writer: str, snapshot: str
) -> bool:
    """Whether another writer inserted events of `cities` that `snapshot` does not see.

    When none did, every event of those cities stored by others was committed before the
    run opened, so its dedupe step saw them all: there is no late twin to look for. Of two
    runs writing at once, the later committer always sees the other's insert here.
    """
    row = conn.execute(OTHER_WRITERS_SQL, (cities, writer, snapshot)).fetchone()
    return bool(row and row[0])


def merge_late_twins(
    conn: psycopg.Connection, links: list[str], window: float = WINDOW_SECONDS
) -> list[tuple[str, str]]:
    """Merge rows among `links` that another source stored too; (removed, kept) pairs."""
    if not links:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        # Neighbours first: most new rows have none, and only those that do are read.
        neighbours = cur.execute(
            NEIGHBOURS_SQL,
            {"window": timedelta(seconds=window), "links": links, "slack": _LATITUDE_SLACK},
        ).fetchall()
        if not neighbours:
            return []
        wanted = list(dict.fromkeys(other["new_link"] for other in neighbours))
        new = {r["link"]: r for r in cur.execute(NEW_ROWS_SQL, (wanted,)).fetchall()}
    merged: list[tuple[str, str]] = []
    gone: set[str] = set()
    for other in neighbours:
        mine = new.get(other["new_link"])
        if mine is None:  # merged away by another run meanwhile
            continue
        if mine["link"] in gone or other["link"] in gone:
            continue
        a, b = Listing.from_row(mine), Listing.from_row(other)
        if not same_event(a, b, window):
            continue
        # Both runs may judge the same pair at once: the rule must pick the same winner in
        # each (richer, then older, then the smaller link), and only the run whose DELETE
        # removed the row counts the merge, so a run's new rows are not netted out twice.
        keep_mine = (-a.richness, mine["created_at"], mine["link"]) < (
            -b.richness,
            other["created_at"],
            other["link"],
        )
        winner, loser = (mine, other) if keep_mine else (other, mine)
        params = {"loser": loser["link"], "winner": winner["link"], "source": loser["source"]}
        gone.add(loser["link"])
        with conn.transaction():
            conn.execute(ALIAS_SQL, params)
            conn.execute(REPOINT_SQL, params)
            if conn.execute(DELETE_SQL, params).rowcount == 0:
                raise psycopg.Rollback()  # the other run merged this pair first
            conn.execute("SELECT pg_notify('events_changed', %s)", (winner["city"],))
            merged.append((loser["link"], winner["link"]))
    return merged
