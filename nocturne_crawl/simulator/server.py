"""The simulator: one Starlette app serving Eventbrite, Meetup and Luma paths.

`Simulator` owns the generated events (lazily, per source and city), the fault board
and the request counters; `app()` is its HTTP face; `start_simulator()` runs it on a
free loopback port in a background thread for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nocturne_crawl.cities import catalog
from nocturne_crawl.localtime import today_in
from nocturne_crawl.simulator import eventbrite, luma, meetup
from nocturne_crawl.simulator.faults import FaultBoard, FaultRule
from nocturne_crawl.simulator.generate import (
    DEFAULT_DAYS,
    SOURCES,
    GenerationParams,
    Place,
    SimEvent,
    generate_events,
    place_of,
    truth_record,
)

DEFAULT_EVENTS = 60
DEFAULT_GQL_CAP = 380
NEAR_KM = 100.0
INTERSTITIAL = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    "<h1>Please verify you are a human</h1><p>Access to this page has been denied because "
    "we believe you are using automation tools to browse the website.</p>"
    '<div id="px-captcha"></div></body></html>'
)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _html(text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(text.encode(), status, headers=headers, media_type="text/html; charset=utf-8")


def _distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def source_of(path: str) -> str | None:
    if path.startswith(("/d/", "/api/v3/", "/e/")):
        return "eventbrite"
    if path.startswith(("/find", "/gql2")):
        return "meetup"
    if path.startswith(("/discover/", "/event/get")):
        return "luma"
    return None


@dataclass
class _Request:
    method: str
    target: str
    body: bytes


class Simulator:
    """Generated events for the three sites, their truth, faults and counters."""

    def __init__(
        self,
        *,
        seed: int = 0,
        events_per_city: int | Mapping[str, int] = DEFAULT_EVENTS,
        cities: Iterable[str] | None = None,
        anchor: date | None = None,
        days: int = DEFAULT_DAYS,
        gql_cap: int = DEFAULT_GQL_CAP,
        latency_ms: int = 0,
        faults: Iterable[dict] | None = None,
        record_requests: bool = False,
    ):
        known = catalog()
        self.city_ids = tuple(cities) if cities is not None else tuple(known)
        unknown = [c for c in self.city_ids if c not in known]
        if unknown:
            raise ValueError(f"unknown city id(s): {', '.join(unknown)}")
        if isinstance(events_per_city, int):
            counts = dict.fromkeys(SOURCES, events_per_city)
        else:
            counts = {s: int(events_per_city.get(s, DEFAULT_EVENTS)) for s in SOURCES}
        self.params = GenerationParams(seed=seed, counts=counts, days=days)
        self.seed = seed
        self.anchor = anchor
        self.gql_cap = gql_cap
        self.faults = FaultBoard(seed)
        if faults:
            self.faults.configure(list(faults))
        if latency_ms:
            self.faults.latency_ms = latency_ms
        self.url: str | None = None
        self._lock = threading.RLock()
        self._events: dict[tuple[str, str], list[SimEvent]] = {}
        self._anchors: dict[str, date] = {}
        self._cache: dict[tuple, Any] = {}
        self._luma_index: dict[str, tuple[SimEvent, str]] = {}
        self._counts: Counter[str] = Counter()
        self._record = record_requests
        self.requests: list[_Request] = []
        self._csrf = secrets.token_hex(16)
        self.stopping = threading.Event()

    # -- events and truth ----------------------------------------------------------------

    def anchor_for(self, city_id: str) -> date:
        """The anchor date of a city: fixed, or its local today when first asked."""
        with self._lock:
            if city_id not in self._anchors:
                self._anchors[city_id] = self.anchor or today_in(place_of(city_id).tz)
            return self._anchors[city_id]

    def events(self, source: str, city_id: str) -> list[SimEvent]:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        if city_id not in self.city_ids:
            raise ValueError(f"city {city_id!r} is not served by this simulator")
        key = (source, city_id)
        with self._lock:
            if key not in self._events:
                generated = generate_events(self.params, source, city_id, self.anchor_for(city_id))
                self._events[key] = generated
                if source == "luma":
                    for event in generated:
                        self._luma_index[event.source_id] = (event, city_id)
            return self._events[key]

    def truth(self, source: str, city: str) -> list[dict]:
        """The events `source` serves for `city`, as a correct spider reports them."""
        return [
            dict(r)
            for r in self._cached(("truth", source, city), lambda: self._truth(source, city))
        ]

    def _truth(self, source: str, city: str) -> list[dict]:
        records = []
        for event in self.events(source, city):
            twin = None
            if event.twin_key:
                for other in SOURCES:
                    if other == source:
                        continue
                    for candidate in self.events(other, city):
                        if candidate.twin_key == event.twin_key:
                            twin = {"source": other, "link": candidate.link}
            records.append(truth_record(event, twin))
        return records

    def set_faults(self, *rules: dict, latency_ms: int | None = None) -> None:
        """Add fault rules (same JSON as POST /_sim/faults) and/or set the global latency."""
        body: dict = {"faults": list(rules)}
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        self.faults.configure(body)

    def clear_faults(self) -> None:
        self.faults.clear()

    def stats(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
        return {
            "requests": {k[5:]: v for k, v in counts.items() if k.startswith("path:")},
            "sources": {k[7:]: v for k, v in counts.items() if k.startswith("source:")},
            "faults": {k[6:]: v for k, v in counts.items() if k.startswith("fault:")},
            "total": counts.get("total", 0),
        }

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self.requests.clear()

    # -- city lookups ------------------------------------------------------------------

    def city_for_eventbrite(self, slug: str) -> str | None:
        for city_id in self.city_ids:
            if catalog()[city_id].eventbrite["slug"] == slug:
                return city_id
        return None

    def city_for_meetup(self, location: str) -> str | None:
        wanted = meetup.location_key(location)
        for city_id in self.city_ids:
            if meetup.location_key(catalog()[city_id].meetup["location"]) == wanted:
                return city_id
        return None

    def city_for_luma_place(self, place_id: str) -> str | None:
        for city_id in self.city_ids:
            city = catalog()[city_id]
            if (
                city.luma.get("place") == place_id
                or f"discplace-sim{place_of(city_id).index}" == place_id
            ):
                return city_id
        return None

    def city_near(self, lat: float, lng: float) -> str | None:
        best, best_km = None, NEAR_KM
        for city_id in self.city_ids:
            city = catalog()[city_id]
            km = _distance_km(lat, lng, city.lat, city.lng)
            if km < best_km:
                best, best_km = city_id, km
        return best

    # -- cached renderings ------------------------------------------------------------

    def _cached(self, key: tuple, build):
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def eventbrite_layout(self, city_id: str) -> eventbrite.SearchPages:
        return self._cached(
            ("eb-layout", city_id),
            lambda: eventbrite.paginate(self.events("eventbrite", city_id), self.seed, city_id),
        )

    def meetup_feed(self, city_id: str) -> list[SimEvent]:
        return self._cached(
            ("mu-feed", city_id),
            lambda: meetup.relevance_order(self.events("meetup", city_id), self.seed, city_id),
        )

    def luma_sorted(self, city_id: str) -> list[SimEvent]:
        return self._cached(
            ("luma-sorted", city_id),
            lambda: sorted(self.events("luma", city_id), key=luma.sort_key),
        )

    # -- HTTP ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/d/{slug}/all-events/", self._eb_search),
                Route("/d/{slug}/all-events", self._eb_search),
                Route("/d/{slug}/events/", self._eb_landing),
                Route("/d/{slug}/events", self._eb_landing),
                Route("/api/v3/destination/search/", self._eb_api, methods=["POST"]),
                Route("/find/", self._mu_find),
                Route("/find", self._mu_find),
                Route("/gql2", self._mu_gql, methods=["POST"]),
                Route("/discover/get-paginated-events", self._luma_discover),
                Route("/event/get", self._luma_event),
                Route("/_sim/truth", self._sim_truth),
                Route("/_sim/faults", self._sim_faults, methods=["GET", "POST", "DELETE"]),
                Route("/_sim/stats", self._sim_stats, methods=["GET", "DELETE"]),
                Route("/_sim/health", self._sim_health),
            ]
        )

    async def _serve(self, request: Request, render) -> Response:
        """Count, delay, maybe fail, else render; the one path every site request takes."""
        path = request.url.path
        source = source_of(path) or "other"
        body = await request.body() if request.method == "POST" else b""
        with self._lock:
            self._counts["total"] += 1
            self._counts[f"path:{path}"] += 1
            self._counts[f"source:{source}"] += 1
            if self._record:
                target = path + (f"?{request.url.query}" if request.url.query else "")
                self.requests.append(_Request(request.method, target, body))
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        rule = self.faults.pick(source, path)
        if rule is not None:
            with self._lock:
                self._counts[f"fault:{rule.kind}"] += 1
            early = await self._early_fault(rule, source)
            if early is not None:
                return early
        response = render(request, body, rule.kind if rule else None)
        if rule is not None and rule.kind in ("truncated", "malformed"):
            response = self._damage(response, rule.kind)
        return response

    async def _early_fault(self, rule: FaultRule, source: str) -> Response | None:
        kind = rule.kind
        if kind == "429":
            headers = {"Retry-After": str(rule.retry_after)}
            if source == "eventbrite":
                return _html("<html><body>Too Many Requests</body></html>", 429, headers)
            return _json({"message": "Too many requests, please slow down."}, 429, headers)
        if kind == "500":
            return _html("<html><body><h1>Internal Server Error</h1></body></html>", 500)
        if kind == "403":
            return _html(INTERSTITIAL, 403)
        if kind == "interstitial":
            return _html(INTERSTITIAL, 200)
        if kind == "timeout":
            # Hang in short naps so that stopping the server ends the hang at once.
            deadline = time.monotonic() + rule.delay_seconds()
            while time.monotonic() < deadline and not self.stopping.is_set():
                await asyncio.sleep(0.05)
            return _html("<html><body>Gateway Timeout</body></html>", 504)
        if kind == "slow":
            await asyncio.sleep(rule.delay_seconds())
        return None

    @staticmethod
    def _damage(response: Response, kind: str) -> Response:
        raw = bytes(response.body)
        if kind == "truncated":
            damaged = raw[: len(raw) // 2]
        else:
            cut = raw.find(b'":', len(raw) * 2 // 5)
            damaged = raw if cut < 0 else raw[: cut + 1] + raw[cut + 2 :]
        return Response(damaged, response.status_code, media_type=response.media_type)

    # Eventbrite

    async def _eb_search(self, request: Request) -> Response:
        return await self._serve(request, self._render_eb_search)

    def _render_eb_search(self, request: Request, body: bytes, fault: str | None) -> Response:
        city_id = self.city_for_eventbrite(request.path_params["slug"])
        if city_id is None:
            return _html("<html><body><h1>Page not found</h1></body></html>", 404)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        place = place_of(city_id)
        layout = self.eventbrite_layout(city_id)
        if fault == "js_only":
            text = eventbrite.js_only_search_page(place, layout, page)
        else:
            text = self._cached(
                ("eb-page", city_id, page), lambda: eventbrite.search_page(place, layout, page)
            )
        return _html(text, headers={"Set-Cookie": f"csrftoken={self._csrf}; Path=/; SameSite=Lax"})

    async def _eb_landing(self, request: Request) -> Response:
        return await self._serve(request, self._render_eb_landing)

    def _render_eb_landing(self, request: Request, body: bytes, fault: str | None) -> Response:
        city_id = self.city_for_eventbrite(request.path_params["slug"])
        if city_id is None:
            return _html("<html><body><h1>Page not found</h1></body></html>", 404)
        text = self._cached(
            ("eb-landing", city_id),
            lambda: eventbrite.landing_page(place_of(city_id), self.events("eventbrite", city_id)),
        )
        return _html(text, headers={"Set-Cookie": f"csrftoken={self._csrf}; Path=/; SameSite=Lax"})

    async def _eb_api(self, request: Request) -> Response:
        return await self._serve(request, self._render_eb_api)

    def _render_eb_api(self, request: Request, body: bytes, fault: str | None) -> Response:
        token = request.headers.get("x-csrftoken")
        if not token or token != request.cookies.get("csrftoken"):
            return _json(
                {
                    "status_code": 403,
                    "error": "CSRF_FAILURE",
                    "error_description": "CSRF token missing or incorrect.",
                },
                403,
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(
                {
                    "status_code": 400,
                    "error": "BAD_REQUEST",
                    "error_description": "Body is not JSON.",
                },
                400,
            )
        search = payload.get("event_search") if isinstance(payload, dict) else None
        if not isinstance(search, dict):
            return _json(
                {
                    "status_code": 400,
                    "error": "ARGUMENTS_ERROR",
                    "error_description": "event_search is required",
                },
                400,
            )
        places = search.get("places") or []
        city_id = None
        for city in self.city_ids:
            if eventbrite.place_id(place_of(city)) in places:
                city_id = city
        if city_id is None and isinstance(search.get("bbox"), str):
            try:
                west, south, east, north = (float(v) for v in search["bbox"].split(","))
            except ValueError:
                return _json(
                    {
                        "status_code": 400,
                        "error": "ARGUMENTS_ERROR",
                        "error_description": "bad bbox",
                    },
                    400,
                )
            city_id = self.city_near((south + north) / 2, (west + east) / 2)
        if city_id is None:
            empty = {
                "pagination": {
                    "object_count": 0,
                    "page_count": 0,
                    "page_number": 1,
                    "page_size": 20,
                },
                "results": [],
            }
            return _json({"events": empty, "event_search": search})
        expand = payload.get("expand.destination_event") or []
        result = eventbrite.destination_search(
            place_of(city_id), self.events("eventbrite", city_id), search, expand
        )
        return _json(result)

    # Meetup

    async def _mu_find(self, request: Request) -> Response:
        return await self._serve(request, self._render_mu_find)

    def _render_mu_find(self, request: Request, body: bytes, fault: str | None) -> Response:
        location = request.query_params.get("location", "")
        city_id = self.city_for_meetup(location)
        if city_id is None:
            return _html("<html><body><h1>We couldn't find that location</h1></body></html>", 404)
        place = place_of(city_id)
        text = self._cached(
            ("mu-find", city_id, location),
            lambda: meetup.find_page(place, self.meetup_feed(city_id), location, self._now(place)),
        )
        return _html(text)

    def _now(self, place: Place) -> datetime:
        anchor = self.anchor_for(place.city.id)
        if anchor == today_in(place.tz):
            return datetime.now(place.tz).replace(microsecond=0)
        return datetime.combine(anchor, clock(0, 0), tzinfo=place.tz)

    async def _mu_gql(self, request: Request) -> Response:
        return await self._serve(request, self._render_mu_gql)

    def _render_mu_gql(self, request: Request, body: bytes, fault: str | None) -> Response:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json({"errors": [{"message": "Invalid JSON body"}]}, 400)

        def feed_for(lat: float, lon: float) -> list[SimEvent]:
            city_id = self.city_near(lat, lon)
            return self.meetup_feed(city_id) if city_id else []

        try:
            return _json(meetup.gql_request(payload, feed_for, self.gql_cap))
        except meetup.GqlError as exc:
            return _json(
                {
                    "errors": [
                        {"message": str(exc), "extensions": {"classification": "ValidationError"}}
                    ]
                }
            )

    # Luma

    async def _luma_discover(self, request: Request) -> Response:
        return await self._serve(request, self._render_luma_discover)

    def _render_luma_discover(self, request: Request, body: bytes, fault: str | None) -> Response:
        params = request.query_params
        place_id = params.get("discover_place_api_id")
        city_id = None
        if place_id:
            city_id = self.city_for_luma_place(place_id)
        else:
            try:
                city_id = self.city_near(float(params["latitude"]), float(params["longitude"]))
            except (KeyError, ValueError):
                return _json(
                    {"message": "discover_place_api_id or latitude and longitude are required"}, 400
                )
        if city_id is None:
            return _json({"entries": [], "has_more": False, "next_cursor": None})
        try:
            limit = int(params.get("pagination_limit", "20"))
        except ValueError:
            return _json({"message": "pagination_limit must be an integer"}, 400)
        # Only pagination_cursor pages; `cursor` is ignored, like the real API.
        cursor = params.get("pagination_cursor")
        try:
            body = self._cached(
                ("luma-page", city_id, limit, cursor),
                lambda: orjson.dumps(
                    luma.discover_page(place_of(city_id), self.luma_sorted(city_id), limit, cursor)
                ),
            )
        except luma.CursorError as exc:
            return _json({"message": str(exc)}, 400)
        return Response(body, media_type="application/json")

    async def _luma_event(self, request: Request) -> Response:
        return await self._serve(request, self._render_luma_event)

    def _render_luma_event(self, request: Request, body: bytes, fault: str | None) -> Response:
        api_id = request.query_params.get("event_api_id", "")
        with self._lock:
            found = self._luma_index.get(api_id)
        if found is None:
            return _json({"message": "Event not found"}, 404)
        event, city_id = found
        return _json(luma.event_details(event, place_of(city_id)))

    # Control endpoints (never faulted or counted)

    async def _sim_truth(self, request: Request) -> Response:
        source = request.query_params.get("source", "")
        city = request.query_params.get("city", "")
        if source not in SOURCES or city not in self.city_ids:
            return _json(
                {"error": "source must be eventbrite, meetup or luma and city a served city id"},
                400,
            )
        events = self.truth(source, city)
        return _json(
            {
                "source": source,
                "city": city,
                "anchor": self.anchor_for(city).isoformat(),
                "count": len(events),
                "events": events,
            }
        )

    async def _sim_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.faults.configure(orjson.loads(await request.body()))
            except (orjson.JSONDecodeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            self.faults.clear()
        return _json(self.faults.snapshot())

    async def _sim_stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.reset_stats()
        return _json(self.stats())

    async def _sim_health(self, request: Request) -> Response:
        return _json({"ok": True, "cities": len(self.city_ids), "seed": self.seed})


class SimulatorServer:
    """Runs a Simulator's app with uvicorn in a background thread."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.simulator = simulator
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            simulator.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="nocturne-simulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            import uvloop

            uvloop.run(self.server.serve(sockets=[self.socket]))
        except ImportError:
            asyncio.run(self.server.serve(sockets=[self.socket]))

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        self.simulator.url = self.url

    def stop(self, timeout: float = 5.0) -> None:
        self.simulator.stopping.set()
        self.server.should_exit = True
        self.thread.join(timeout)
        self.socket.close()


@contextmanager
def start_simulator(
    *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[Simulator]:
    """A running simulator on a free loopback port; yields it with `.url` set.

    Options are Simulator's: seed, events_per_city, cities, anchor, days, gql_cap,
    latency_ms, faults, record_requests.
    """
    simulator = Simulator(**options)
    server = SimulatorServer(simulator, host, port)
    server.start()
    try:
        yield simulator
    finally:
        server.stop()
        simulator.url = None
