"""The city catalog: a data file (`cities.json`), validated when it is loaded.

Adding a city is one entry in the file. A bad entry fails loudly, naming the entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CATALOG_PATH = Path(__file__).with_name("cities.json")
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*--[a-z0-9]+(?:-[a-z0-9]+)*$")
_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SOURCES = ("eventbrite", "meetup", "luma")


class CatalogError(ValueError):
    """The city catalog file has a bad entry."""


@dataclass(frozen=True)
class City:
    id: str
    name: str
    slug: str
    lat: float
    lng: float
    timezone: str
    eventbrite: dict[str, Any]
    meetup: dict[str, Any]
    luma: dict[str, Any]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def public(self) -> dict[str, Any]:
        """The seed's `/cities` shape."""
        return {
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "coordinates": {"lat": self.lat, "lng": self.lng},
            "timezone": self.timezone,
        }


def _parse_entry(index: int, raw: Any) -> City:
    label = f"entry {index}"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        label = f"entry {index} ({raw['id']!r})"

    def fail(problem: str) -> CatalogError:
        return CatalogError(f"city catalog {label}: {problem}")

    if not isinstance(raw, dict):
        raise fail("must be an object")
    city_id = raw.get("id")
    if not isinstance(city_id, str) or not _ID_RE.match(city_id):
        raise fail("id must look like 'region--city' (lowercase, hyphens)")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.upper():
        raise fail("name must be a non-empty uppercase display name")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not _SLUG_RE.match(slug):
        raise fail("slug must be lowercase words joined by hyphens")
    coords = raw.get("coordinates")
    if not isinstance(coords, dict):
        raise fail("coordinates must be an object with lat and lng")
    lat, lng = coords.get("lat"), coords.get("lng")
    if not isinstance(lat, int | float) or isinstance(lat, bool) or not -90 <= lat <= 90:
        raise fail("coordinates.lat must be a number in -90..90")
    if not isinstance(lng, int | float) or isinstance(lng, bool) or not -180 <= lng <= 180:
        raise fail("coordinates.lng must be a number in -180..180")
    tz = raw.get("timezone")
    try:
        if not isinstance(tz, str):
            raise ZoneInfoNotFoundError
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"timezone {tz!r} is not an IANA time zone") from None
    sources = raw.get("sources")
    if not isinstance(sources, dict):
        raise fail("sources must be an object with eventbrite, meetup and luma keys")
    for source in SOURCES:
        if not isinstance(sources.get(source), dict):
            raise fail(f"sources.{source} must be an object")
    if not isinstance(sources["eventbrite"].get("slug"), str):
        raise fail("sources.eventbrite.slug is required")
    if not isinstance(sources["meetup"].get("location"), str):
        raise fail("sources.meetup.location is required")
    luma = sources["luma"]
    if not isinstance(luma.get("place"), str) and not (
        isinstance(luma.get("latitude"), int | float)
        and isinstance(luma.get("longitude"), int | float)
    ):
        raise fail("sources.luma needs a place id or latitude and longitude")
    return City(
        id=city_id,
        name=name,
        slug=slug,
        lat=float(lat),
        lng=float(lng),
        timezone=tz,
        eventbrite=dict(sources["eventbrite"]),
        meetup=dict(sources["meetup"]),
        luma=dict(luma),
    )


def _catalog_text(path: Path | None) -> str:
    if path is not None:
        return Path(path).read_text(encoding="utf-8")
    # Through importlib.resources: Scrapyd runs the project from a zipped egg, where
    # `CATALOG_PATH` is not a file on disk.
    return resources.files(__package__).joinpath(CATALOG_PATH.name).read_text(encoding="utf-8")


def load_catalog(path: Path | None = None) -> dict[str, City]:
    """Load and validate a catalog file (default: the packaged one); keys keep its order."""
    path_label = path or CATALOG_PATH
    try:
        data = json.loads(_catalog_text(path))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"city catalog {path_label} is not valid JSON: {exc}") from exc
    entries = data.get("cities") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"city catalog {path_label} must hold a non-empty 'cities' list")
    catalog: dict[str, City] = {}
    for index, raw in enumerate(entries):
        city = _parse_entry(index, raw)
        if city.id in catalog:
            raise CatalogError(f"city catalog entry {index} ({city.id!r}): duplicate id")
        catalog[city.id] = city
    return catalog


@lru_cache(maxsize=1)
def catalog() -> dict[str, City]:
    """The packaged catalog, loaded once."""
    return load_catalog()


def get_city(city_id: str) -> City | None:
    return catalog().get(city_id)
