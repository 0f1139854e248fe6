"""Deterministic generated events for the site simulator.

Everything follows from a seed: the same seed, city, source, count and anchor date give
the same events, ids and links, so a test can compare a crawl with `truth()` exactly.
Events fall on the local days [anchor + 1, anchor + days) (never on the anchor day
itself, so they are still upcoming when the anchor is today; a spider crawling a
`days`-day horizon from today sees them all), in the city's zone, with the
edge cases the real sites have: late-night events that cross midnight in UTC, online
events hosted from other zones, Eventbrite resellers listing in another zone, Luma
obfuscated addresses and online events filed as offline, HTML entities in text.
"""

from __future__ import annotations

import html
import random
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from nocturne_crawl.cities import City, catalog
from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import local_date_time
from nocturne_crawl.simulator import words

SOURCES = ("eventbrite", "meetup", "luma")
DEFAULT_DAYS = 30
_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits
# Hour slots (start hour range, weight): evenings dominate, as on the real sites, and
# 00:00-02:59 are the late-night events that belong to the next local day.
_HOUR_SLOTS = ((9, 12, 14), (12, 17, 20), (17, 21, 40), (21, 24, 18), (0, 3, 8))
# Zones a reseller may list a venue's event in (Eventbrite pitfall in SOURCES.md).
_RESELLER_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")


@dataclass(frozen=True)
class Place:
    """What the catalog says about a city, spelled the way the sites spell it."""

    city: City
    index: int  # position in the catalog: keeps numeric ids unique across cities
    name: str  # "Los Angeles"
    region: str  # "CA" ("" outside the US)
    country: str  # "US"

    @property
    def tz(self) -> ZoneInfo:
        return self.city.tz


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    address_1: str
    city: str
    region: str
    postal_code: str
    country: str
    lat: float
    lng: float
    neighborhood: str

    def street_line(self) -> str:
        """'123 Main St, Los Angeles, CA 90012' (the sites' one-line address)."""
        tail = f"{self.region} {self.postal_code}".strip()
        return f"{self.address_1}, {self.city}, {tail}"


@dataclass(frozen=True)
class Group:
    """A Meetup group (organizer)."""

    id: str
    name: str
    urlname: str
    timezone: str
    city: str
    region: str
    country: str


@dataclass
class SimEvent:
    """One generated event, source-agnostic; the site renderers shape it."""

    source: str
    city_id: str
    index: int
    source_id: str
    title: str
    start: datetime  # aware, in `timezone`
    end: datetime
    timezone: str  # the event's own IANA zone
    venue: Venue | None
    is_online: bool
    is_free: bool
    price_cents: int | None
    currency: str
    description: str  # raw, as the site serves it (plain, markdown or HTML-ish)
    description_text: str  # what it reads as once entities and tags are gone
    url: str  # the URL (or Luma slug) exactly as served
    host: str
    group: Group | None = None
    luma_mode: str = "shown"  # Luma geo_address_info.mode: shown | obfuscated | manual-online
    quirks: tuple[str, ...] = ()
    twin_key: str | None = None
    image_id: str = ""
    link: str = ""  # the canonical link a spider should store (set by `public_link`)

    def coordinate(self) -> tuple[float, float] | None:
        """(lat, lng) as the site serves it: Luma blurs obfuscated venues to ~1 km."""
        if self.venue is None or self.luma_mode == "manual-online":
            return None
        if self.luma_mode == "obfuscated":
            return round(self.venue.lat, 2), round(self.venue.lng, 2)
        return self.venue.lat, self.venue.lng

    def location_text(self) -> str | None:
        """Expected human location: venue name and address, or city only when obfuscated."""
        if self.venue is None:
            return None
        if self.source == "luma" and self.luma_mode == "obfuscated":
            return f"{self.venue.neighborhood}, {self.venue.city}, {self.venue.region}".strip(", ")
        if self.source == "luma" and self.luma_mode == "manual-online":
            return "Online"
        return f"{self.venue.name}, {self.venue.street_line()}"


def public_link(source: str, url: str) -> str:
    """The canonical public link of an event served with `url` (a Luma slug for Luma)."""
    return canonical_link(f"https://luma.com/{url}" if source == "luma" else url) or ""


@dataclass(frozen=True)
class PairSpec:
    """The same real-world event listed on two sources (a cross-source duplicate)."""

    key: str
    sources: tuple[str, str]
    title: str
    day: int
    clock: time
    minutes: int
    venue_index: int
    is_free: bool


@dataclass
class GenerationParams:
    seed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 60))
    days: int = DEFAULT_DAYS


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by hyphens, the way the sites build URL slugs."""
    folded = text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-") or "event"


def strip_markup(text: str) -> str:
    """Plain text of a served description: tags dropped, entities decoded, spaces folded."""
    no_tags = re.sub(r"<[^>]+>", " ", text)
    unescaped = html.unescape(no_tags).replace("**", "")
    lines = [" ".join(line.split()) for line in unescaped.splitlines()]
    return "\n".join(line for line in lines if line)


@lru_cache(maxsize=64)
def place_of(city_id: str) -> Place:
    cities = catalog()
    city = cities[city_id]
    index = list(cities).index(city_id)
    parts = city.meetup["location"].split("--")
    country = parts[0].upper()
    region = parts[1].upper() if len(parts) == 3 else ""
    name = parts[-1].replace("-", " ")
    return Place(city=city, index=index, name=name, region=region, country=country)


def _postal_code(rng: random.Random, country: str) -> str:
    if country in ("GB", "CA"):
        letters = string.ascii_uppercase
        return (
            f"{rng.choice(letters)}{rng.randint(1, 9)}{rng.choice(letters)} "
            f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
        )
    return f"{rng.randint(10000, 99999)}"


@lru_cache(maxsize=64)
def venues_of(seed: int, city_id: str, size: int = 30) -> tuple[Venue, ...]:
    """A city's venue pool, shared by the three sources (twins share venues)."""
    place = place_of(city_id)
    rng = random.Random(f"{seed}|venues|{city_id}")
    pool = []
    for i in range(size):
        pattern = rng.choice(words.VENUE_PATTERNS)
        name = pattern.format(
            noun=rng.choice(words.VENUE_NOUNS),
            adj=rng.choice(words.VENUE_ADJS),
            surname=rng.choice(words.SURNAMES),
            n=rng.randint(2, 99),
        )
        pool.append(
            Venue(
                id=str(200_000_000 + place.index * 1_000 + i),
                name=name,
                address_1=f"{rng.randint(1, 9899)} {rng.choice(words.STREETS)}",
                city=place.name,
                region=place.region,
                postal_code=_postal_code(rng, place.country),
                country=place.country,
                lat=round(place.city.lat + rng.uniform(-0.06, 0.06), 6),
                lng=round(place.city.lng + rng.uniform(-0.06, 0.06), 6),
                neighborhood=rng.choice(words.NEIGHBORHOODS),
            )
        )
    return tuple(pool)


@lru_cache(maxsize=64)
def groups_of(seed: int, city_id: str) -> tuple[Group, ...]:
    """Meetup groups: local ones in the city's zone, plus two online-only remote ones."""
    place = place_of(city_id)
    rng = random.Random(f"{seed}|groups|{city_id}")
    groups = []
    themes = list(words.GROUP_THEMES)
    rng.shuffle(themes)
    for i, theme in enumerate(themes):
        name = f"{place.name} {theme}"
        groups.append(
            Group(
                id=str(37_000_000 + place.index * 100 + i),
                name=name,
                urlname=slugify(name),
                timezone=place.city.timezone,
                city=place.name,
                region=place.region,
                country=place.country.lower(),
            )
        )
    for j, zone in enumerate(z for z in words.REMOTE_ZONES if z != place.city.timezone):
        if j == 2:
            break
        name = f"Global Online {themes[j]} {place.index}-{j}"
        groups.append(
            Group(
                id=str(38_000_000 + place.index * 100 + j),
                name=name,
                urlname=slugify(name),
                timezone=zone,
                city="",
                region="",
                country="",
            )
        )
    return tuple(groups)


def _title(rng: random.Random) -> str:
    base = (
        f"{rng.choice(words.TITLE_OPENERS)} {rng.choice(words.TITLE_TOPICS)} "
        f"{rng.choice(words.TITLE_FORMATS)}"
    )
    return base + rng.choice(words.TITLE_SUFFIXES).format(n=rng.randint(2, 40))


def _clock(rng: random.Random) -> time:
    slot = rng.choices(_HOUR_SLOTS, weights=[w for _, _, w in _HOUR_SLOTS])[0]
    return time(rng.randrange(slot[0], slot[1]), rng.choice((0, 15, 30, 45)))


def pairs_of(params: GenerationParams, city_id: str) -> tuple[PairSpec, ...]:
    """Cross-source twins for a city: about one event in thirty, rotating source pairs."""
    smallest = min(params.counts.get(s, 0) for s in SOURCES)
    if smallest < 10:
        return ()
    rng = random.Random(f"{params.seed}|pairs|{city_id}")
    combos = (("eventbrite", "meetup"), ("eventbrite", "luma"), ("meetup", "luma"))
    venues = venues_of(params.seed, city_id)
    specs = []
    for k in range(max(1, smallest // 30)):
        clock = time(rng.randrange(17, 22), rng.choice((0, 30)))
        specs.append(
            PairSpec(
                key=f"twin-{city_id}-{k}",
                sources=combos[k % 3],
                title=_title(rng),
                day=rng.randrange(1, params.days),
                clock=clock,
                minutes=rng.choice((90, 120, 180)),
                venue_index=rng.randrange(len(venues)),
                is_free=rng.random() < 0.5,
            )
        )
    return tuple(specs)


class _Builder:
    """Builds one (source, city) event list; one instance per generation."""

    def __init__(self, params: GenerationParams, source: str, city_id: str, anchor: date):
        self.params = params
        self.source = source
        self.place = place_of(city_id)
        self.city_id = city_id
        self.anchor = anchor
        self.rng = random.Random(f"{params.seed}|{source}|{city_id}|{anchor.isoformat()}")
        self.venues = venues_of(params.seed, city_id)
        self.groups = groups_of(params.seed, city_id)

    def build(self) -> list[SimEvent]:
        count = self.params.counts.get(self.source, 0)
        events: list[SimEvent] = []
        for spec in pairs_of(self.params, self.city_id):
            if self.source in spec.sources and len(events) < count:
                events.append(self._twin(len(events), spec))
        forced = len(events)
        while len(events) < count:
            events.append(self._random(len(events), len(events) - forced))
        return events

    # -- pieces -------------------------------------------------------------------

    def _ids(self, index: int) -> tuple[str, str, str]:
        """(source_id, url or slug, image id), unique across cities for numeric ids."""
        rng, place = self.rng, self.place
        if self.source == "eventbrite":
            eid = 1_200_000_000_000 + place.index * 1_000_000_000 + index * 100_003
            eid += rng.randrange(100_000)
            return str(eid), "", str(900_000_000 + place.index * 100_000 + index)
        if self.source == "meetup":
            mid = 310_000_000 + place.index * 100_000 + index * 37 + rng.randrange(37)
            return str(mid), "", str(530_000_000 + place.index * 100_000 + index)
        api_id = "evt-" + "".join(rng.choice(_ALNUM) for _ in range(15))
        slug = "".join(rng.choice(_LOWER_ALNUM) for _ in range(8))
        return api_id, slug, ""

    def _when(self, day: int, clock: time, zone: str, minutes: int) -> tuple[datetime, datetime]:
        """Start at `clock` on the city's wall clock, expressed in the event's own zone
        (so the city-local date stays inside the window whatever zone the host uses)."""
        city_start = datetime.combine(
            self.anchor + timedelta(days=day), clock, tzinfo=self.place.tz
        )
        start = city_start.astimezone(ZoneInfo(zone))
        # Wall clock arithmetic would be wrong across a DST change: add in UTC.
        end = (start.astimezone(ZoneInfo("UTC")) + timedelta(minutes=minutes)).astimezone(
            start.tzinfo
        )
        return start, end

    def _description(self, title: str, venue: Venue | None, entities: bool) -> str:
        rng = self.rng
        lines = rng.sample(words.DESCRIPTION_LINES, 2)
        where = f" at {venue.name}" if venue else " online"
        if self.source == "eventbrite":
            text = f"{title}{where}. {lines[0]}"
            return html.escape(text, quote=False) if entities else text
        if self.source == "meetup":
            body = f"**{title}**\n{lines[0]}\n{lines[1]}"
            if entities:
                body += "<br>Tickets &amp; info: ask the host &mdash; we&#39;re friendly."
            return body
        return f"{title}{where}.\n{lines[0]}\n{lines[1]}"

    def _finish(
        self,
        index: int,
        title: str,
        start: datetime,
        end: datetime,
        venue: Venue | None,
        *,
        is_online: bool,
        is_free: bool,
        quirks: list[str],
        twin_key: str | None = None,
        group: Group | None = None,
        luma_mode: str = "shown",
        tracking: bool = False,
    ) -> SimEvent:
        rng = self.rng
        source_id, slug, image_id = self._ids(index)
        # Luma descriptions are ProseMirror docs: no entities to decode there.
        entities = self.source != "luma" and rng.random() < 0.2
        description = self._description(title, venue, entities)
        if entities:
            quirks.append("entities")
        price = None if is_free else rng.choice((500, 1000, 1500, 2000, 2500, 4000))
        if self.source == "eventbrite":
            url = f"https://www.eventbrite.com/e/{slugify(title)}-tickets-{source_id}"
            if tracking:
                url += "?aff=ebdssbdestsearch"
                quirks.append("tracking_params")
            host = f"{rng.choice(words.SURNAMES)} Presents"
        elif self.source == "meetup":
            group = group or rng.choice([g for g in self.groups if g.city])
            url = f"https://www.meetup.com/{group.urlname}/events/{source_id}/"
            host = group.name
        else:
            url = slug
            host = f"{rng.choice(words.VENUE_NOUNS)} Collective"
        if start.astimezone(ZoneInfo("UTC")).date() != start.date():
            quirks.append("crosses_utc_midnight")
        return SimEvent(
            source=self.source,
            city_id=self.city_id,
            index=index,
            source_id=source_id,
            title=title,
            start=start,
            end=end,
            timezone=str(start.tzinfo),
            venue=venue,
            is_online=is_online,
            is_free=is_free,
            price_cents=price,
            currency="usd" if self.place.country == "US" else "eur",
            description=description,
            description_text=strip_markup(description),
            url=url,
            host=host,
            group=group,
            luma_mode=luma_mode,
            quirks=tuple(quirks),
            twin_key=twin_key,
            image_id=image_id,
            link=public_link(self.source, url),
        )

    def _twin(self, index: int, spec: PairSpec) -> SimEvent:
        venue = self.venues[spec.venue_index]
        # The same event, typed differently (upper case) by its host on the second site.
        title = spec.title.upper() if self.source == spec.sources[1] else spec.title
        start, end = self._when(spec.day, spec.clock, self.place.city.timezone, spec.minutes)
        return self._finish(
            index,
            title,
            start,
            end,
            venue,
            is_online=False,
            is_free=spec.is_free,
            quirks=["twin"],
            twin_key=spec.key,
        )

    def _random(self, index: int, ordinal: int) -> SimEvent:
        rng, zone = self.rng, self.place.city.timezone
        # The first few events force one of each edge case, so even a small city
        # exercises them; the rest draw them at realistic rates.
        online = ordinal == 0 or (ordinal > 4 and rng.random() < 0.08)
        late = ordinal == 1 or ordinal == 2
        quirks: list[str] = []
        day = rng.randrange(1, self.params.days)
        clock = time(rng.choice((0, 1)), rng.choice((0, 30))) if late else _clock(rng)
        if ordinal == 2:
            clock = time(23, 30)  # starts before local midnight, ends after it
        minutes = rng.choice((60, 90, 120, 150, 180, 240))
        if late:
            quirks.append("late_night")
        venue: Venue | None = None if online else rng.choice(self.venues)
        group = None
        luma_mode = "shown"
        if online:
            quirks.append("online")
            if ordinal == 0 or rng.random() < 0.5:
                zone = next(z for z in words.REMOTE_ZONES if z != zone)
                quirks.append("remote_zone")
            if self.source == "meetup":
                remote = [g for g in self.groups if g.timezone == zone]
                group = remote[0] if remote else None
        elif self.source == "eventbrite" and (ordinal == 3 or rng.random() < 0.03):
            zone = next(z for z in _RESELLER_ZONES if z != zone)
            quirks.append("reseller_zone")
        elif self.source == "luma":
            if ordinal == 3 or rng.random() < 0.02:
                luma_mode = "manual-online"
                quirks.append("online_filed_as_offline")
            elif ordinal == 4 or rng.random() < 0.4:
                luma_mode = "obfuscated"
                quirks.append("obfuscated")
        start, end = self._when(day, clock, zone, minutes)
        return self._finish(
            index,
            _title(rng),
            start,
            end,
            venue,
            is_online=online or luma_mode == "manual-online",
            is_free=rng.random() < 0.5,
            quirks=quirks,
            group=group,
            luma_mode=luma_mode,
            tracking=self.source == "eventbrite" and rng.random() < 0.3,
        )


def generate_events(
    params: GenerationParams, source: str, city_id: str, anchor: date
) -> list[SimEvent]:
    """The events `source` lists for `city_id`, sorted by start instant."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    events = _Builder(params, source, city_id, anchor).build()
    events.sort(key=lambda e: (e.start.astimezone(ZoneInfo("UTC")), e.source_id))
    return events


def truth_record(event: SimEvent, twin_link: str | None = None) -> dict:
    """What a correct spider must report for `event` (dates in the CITY's zone)."""
    city_tz = place_of(event.city_id).tz
    local_day, local_clock = local_date_time(event.start, city_tz)
    venue = event.venue
    coordinate = event.coordinate()
    shown = venue is not None and event.luma_mode == "shown"
    return {
        "source": event.source,
        "city": event.city_id,
        "source_id": event.source_id,
        "link": event.link,
        "url": event.url if event.source != "luma" else f"https://luma.com/{event.url}",
        "title": event.title,
        "starts_at": event.start.isoformat(),
        "ends_at": event.end.isoformat(),
        "timezone": event.timezone,
        "date": local_day,
        "time": local_clock,
        "location": event.location_text(),
        "venue": None
        if venue is None or event.luma_mode == "manual-online"
        else {
            "name": venue.name if shown else None,
            "address": venue.address_1 if shown else None,
            "city": venue.city,
            "region": venue.region,
            "postal_code": venue.postal_code if shown else None,
            "country": venue.country,
        },
        "latitude": coordinate[0] if coordinate else None,
        "longitude": coordinate[1] if coordinate else None,
        "is_online": event.is_online,
        "is_free": event.is_free,
        "price_cents": event.price_cents,
        "description": event.description_text,
        "quirks": list(event.quirks),
        "twin": twin_link,
    }
