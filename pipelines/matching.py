"""When two listings on different sites are the same event (the rule in README, "Pipelines")."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from operator import itemgetter
from typing import Any

TITLE_RATIO = 0.85  # SequenceMatcher ratio of normalized titles
VENUE_RATIO = 0.8
WINDOW_SECONDS = 30 * 60
DISTANCE_METERS = 200.0
EARTH_RADIUS_METERS = 6_371_000
# Two points are at least their difference in latitude apart (along a meridian): a
# difference above this many degrees is already too far, without the haversine.
_MAX_LATITUDE_DEGREES = math.degrees(DISTANCE_METERS / EARTH_RADIUS_METERS)
# Bands of latitude twice that wide: two listings at the same place (both with coordinates)
# are in the same band or in neighbouring ones.
LATITUDE_BAND_DEGREES = 2 * _MAX_LATITUDE_DEGREES
# The fields that make one listing richer than another (counted when not empty).
RICH_FIELDS = (
    "time",
    "location",
    "description",
    "ends_at",
    "latitude",
    "longitude",
    "is_free",
    "price",
    "image_url",
    "source_id",
)


_ASCII_SEPARATORS = re.compile(r"[^a-z0-9]+")
_SEPARATORS = re.compile(r"[\W_]+")


def match_key(text: str | None) -> str:
    """Lower-case letters and digits, accents removed, words separated by one space."""
    if not text:
        return ""
    if text.isascii():  # the common case, without the Unicode round trip
        return _ASCII_SEPARATORS.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _SEPARATORS.sub(" ", bare).strip()


_rich_values = itemgetter(*RICH_FIELDS)


def richness(row: dict[str, Any]) -> int:
    try:
        values = _rich_values(row)
    except KeyError:  # a row without some of the fields: those count as empty
        values = tuple(row.get(name) for name in RICH_FIELDS)
    return len(values) - values.count(None) - values.count("")


def distance_meters(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(h)))


@dataclass(slots=True)
class Listing:
    """What matching needs to know about one stored or passing event."""

    link: str
    source: str
    city: str
    start: float  # epoch seconds
    title_text: str | None  # as listed
    venue_text: str | None  # the location as listed
    latitude: float | None
    longitude: float | None
    is_online: bool
    richness: int
    # match_key of the title and of the venue, made when first compared: most listings
    # never meet a candidate.
    _title: str | None = None
    _venue: str | None = None

    @property
    def title(self) -> str:
        if self._title is None:
            self._title = match_key(self.title_text)
        return self._title

    @property
    def venue(self) -> str:
        if self._venue is None:
            self._venue = match_key(self.venue_text)
        return self._venue

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Listing:
        """From a stored row or a validated item's fields."""
        starts_at: datetime = row["starts_at"]
        return cls(
            link=row["link"],
            source=row["source"],
            city=row["city"],
            start=starts_at.timestamp(),
            title_text=row.get("title"),
            venue_text=row.get("location"),
            latitude=row.get("latitude"),
            longitude=row.get("longitude"),
            is_online=bool(row.get("is_online")),
            richness=richness(row),
        )


def latitude_band(listing: Listing) -> int | None:
    """The listing's band of latitude, None when it lacks a coordinate."""
    if listing.latitude is None or listing.longitude is None:
        return None
    return int(listing.latitude // LATITUDE_BAND_DEGREES)


def _similar(a: str, b: str, ratio: float) -> bool:
    if a == b:
        return True
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return (
        matcher.real_quick_ratio() >= ratio
        and matcher.quick_ratio() >= ratio
        and (matcher.ratio() >= ratio)
    )


def same_place(a: Listing, b: Listing) -> bool | None:
    """True/False when both sides say where they are; None when one side does not."""
    if None not in (a.latitude, a.longitude, b.latitude, b.longitude):
        if abs(a.latitude - b.latitude) > _MAX_LATITUDE_DEGREES:  # type: ignore[operator]
            return False
        far = distance_meters(a.latitude, a.longitude, b.latitude, b.longitude)  # type: ignore[arg-type]
        return far <= DISTANCE_METERS
    if a.venue and b.venue:
        return a.venue in b.venue or b.venue in a.venue or _similar(a.venue, b.venue, VENUE_RATIO)
    if a.is_online and b.is_online:
        return True
    return None


def same_event(a: Listing, b: Listing, window: float = WINDOW_SECONDS) -> bool:
    """Two sites' listings of one event: other source, close start, same title and place."""
    if a.source == b.source or a.city != b.city or abs(a.start - b.start) > window:
        return False
    # The place first: it is cheap and rules most candidates out.
    place = same_place(a, b)
    if place is None:
        # Nothing to compare the place by: only an exact title is enough.
        return bool(a.title) and a.title == b.title
    return place and bool(a.title) and _similar(a.title, b.title, TITLE_RATIO)
