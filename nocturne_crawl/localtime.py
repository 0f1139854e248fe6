"""Local date and time of an instant in a time zone, and the other way round."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_date_time(instant: datetime, tz: str | ZoneInfo) -> tuple[str, str]:
    """('YYYY-MM-DD', 'HH:MM') of an aware instant as seen on the wall clock in `tz`."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = instant.astimezone(zone)
    return local.date().isoformat(), f"{local.hour:02d}:{local.minute:02d}"


def combine_local(day: str, clock: str | None, tz: str | ZoneInfo) -> datetime:
    """An aware datetime from a local wall date ('YYYY-MM-DD') and time ('HH:MM') in `tz`.

    A missing time means local midnight. Wall times that DST skips or repeats follow
    zoneinfo's fold=0 rule (the earlier offset).
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    d = date.fromisoformat(day)
    t = time.fromisoformat(clock) if clock else time(0, 0)
    return datetime.combine(d, t, tzinfo=zone)


def local_day_bounds(day: date, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at the start of `day` and of the next day."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    start = datetime.combine(day, time(0, 0), tzinfo=zone)
    end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def today_in(tz: str | ZoneInfo) -> date:
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return datetime.now(zone).date()


def zone_named(name: object) -> ZoneInfo | None:
    """The IANA time zone `name`, None when this machine does not know it (or not a name)."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def known_timezone(name: object) -> str | None:
    """`name` when it is an IANA time zone this machine knows, else None."""
    return name if zone_named(name) is not None else None  # type: ignore[return-value]
