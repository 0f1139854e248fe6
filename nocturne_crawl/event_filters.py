"""Event filters shared by `GET /events/{city}`, the `.ics` feed and digest subscriptions.

The same three filters arrive as query parameters (`free=true&online=only&q=jazz`) or as a
subscription's stored JSON object (`{"free": true, "online": "only", "q": "jazz"}`); both
are parsed here into `EventFilters`, which renders the SQL conditions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql

ONLINE_CHOICES = ("include", "exclude", "only")
MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 8

# Must match the expression of idx_events_search (migration 0004) exactly, or PostgreSQL
# cannot use the index.
SEARCH_DOCUMENT = sql.SQL(
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(location, '') || ' ' "
    "|| coalesce(description, ''))"
)
_WORD_RE = re.compile(r"\w+", re.UNICODE)


class FilterError(ValueError):
    """A filter value that is not allowed; the message names the filter."""


@dataclass(frozen=True)
class EventFilters:
    """Which of a city's events to keep: free only, online handling, a text search."""

    free: bool | None = None
    online: str = "include"
    q: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> EventFilters:
        """Filters from query parameters (strings) or a stored JSON object; FilterError if bad."""
        return cls(
            free=_parse_free(raw.get("free")),
            online=_parse_online(raw.get("online")),
            q=_parse_q(raw.get("q")),
        )

    def is_empty(self) -> bool:
        return self.free is None and self.online == "include" and self.q is None

    def to_json(self) -> dict[str, Any]:
        """The stored form (only the filters that are set)."""
        out: dict[str, Any] = {}
        if self.free is not None:
            out["free"] = self.free
        if self.online != "include":
            out["online"] = self.online
        if self.q is not None:
            out["q"] = self.q
        return out

    def tsquery(self) -> str | None:
        """The `to_tsquery('simple', ...)` text: every word of `q`, each as a prefix, ANDed."""
        if self.q is None:
            return None
        words = _WORD_RE.findall(self.q.lower())[:MAX_QUERY_TERMS]
        # Only \w characters reach the tsquery, so its operators cannot be injected.
        return " & ".join(f"{w}:*" for w in words)

    def conditions(self) -> tuple[list[sql.Composable], list[Any]]:
        """SQL conditions on `events` and their parameters."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        if self.free is True:
            where.append(sql.SQL("is_free IS TRUE"))
        elif self.free is False:
            where.append(sql.SQL("is_free IS FALSE"))
        if self.online == "exclude":
            where.append(sql.SQL("NOT is_online"))
        elif self.online == "only":
            where.append(sql.SQL("is_online"))
        query = self.tsquery()
        if query is not None:
            where.append(sql.SQL("{doc} @@ to_tsquery('simple', %s)").format(doc=SEARCH_DOCUMENT))
            params.append(query)
        return where, params


def _parse_free(raw: Any) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes"):
        return True
    if isinstance(raw, str) and raw.lower() in ("false", "0", "no"):
        return False
    raise FilterError("free must be true or false")


def _parse_online(raw: Any) -> str:
    if raw is None or raw == "":
        return "include"
    if isinstance(raw, str) and raw.lower() in ONLINE_CHOICES:
        return raw.lower()
    raise FilterError("online must be one of include, exclude, only")


def _parse_q(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise FilterError("q must be a string")
    text = " ".join(raw.split())
    if not text:
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise FilterError(f"q must be at most {MAX_QUERY_CHARS} characters")
    if not _WORD_RE.search(text):
        raise FilterError("q must contain at least one letter or digit")
    return text
