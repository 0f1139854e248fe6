"""`CitySpider`: what every source spider shares (city, base URL, browser switch, stats)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import nh3
import scrapy
from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.http import Request, Response
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from nocturne_crawl.cities import City, catalog, get_city
from nocturne_crawl.items import EventItem

# Evaluated in the rendered page: a JS-only page may keep its data in a global instead of
# writing it into the DOM, so the browser response carries both.
BROWSER_GLOBALS_SCRIPT = (
    "() => JSON.stringify({__SERVER_DATA__: window.__SERVER_DATA__ ?? null,"
    " __NEXT_DATA__: window.__NEXT_DATA__ ?? null})"
)


_SPACES_RE = re.compile(r"\s+")


def clean_title(value: Any) -> str | None:
    """A title as text: tags dropped, entities decoded, whitespace collapsed."""
    if not isinstance(value, str):
        return None
    text = html.unescape(nh3.clean(value, tags=set())) if "<" in value or "&" in value else value
    return _SPACES_RE.sub(" ", text).strip() or None


# Fields a site may or may not give: their share of the items shows when a page changed.
COVERAGE_FIELDS = (
    "starts_at",
    "ends_at",
    "location",
    "latitude",
    "description",
    "image_url",
    "price",
)


class UnknownCityError(ValueError):
    """`-a city=` names no city in the catalog."""


def city_argument(spider_name: str, city: str | None) -> City:
    """The catalog city `-a city=` names, or UnknownCityError listing the known ones."""
    found = get_city(city) if city else None
    if found is None:
        what = f"unknown city {city!r}" if city else "no city given"
        known = ", ".join(catalog())
        raise UnknownCityError(f"{spider_name}: {what}; pass -a city=<id>, one of: {known}")
    return found


class CitySpider(scrapy.Spider):
    """Base of the source spiders: `-a city=<catalog id>`, base URL from settings.

    A subclass sets `name`, `base_url_setting` and writes `start()` and its parsers. It
    gets `self.city` (catalog entry), `self.base_url`, `new_item()`, `first_sighting()`,
    `browser_retry()`, `retry_page_without_data()` and the `nocturne/...` stats helpers.
    """

    base_url_setting: ClassVar[str] = ""
    # 403 is the bot wall's usual answer: the spider sees it to try the browser once.
    handle_httpstatus_list: ClassVar[list[int]] = [403]

    def __init__(self, city: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.city: City = city_argument(self.name, city)
        self.base_url = ""
        self.render_mode = "auto"
        # Source ids already yielded this crawl: a listing can show an event more than once.
        self.seen_ids: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.base_url = str(crawler.settings.get(cls.base_url_setting) or "").rstrip("/")
        if not spider.base_url:
            raise ValueError(f"{cls.base_url_setting} setting is empty")
        spider.render_mode = str(crawler.settings.get("NOCTURNE_RENDER", "auto")).lower()
        crawler.signals.connect(spider.count_coverage, signal=signals.item_scraped)
        return spider

    # -- items and stats ------------------------------------------------------------

    def new_item(self, **fields: Any) -> EventItem:
        return EventItem(source=self.name, city=self.city.id, **fields)

    def first_sighting(self, source_id: str) -> bool:
        """Whether this crawl meets `source_id` for the first time (it is noted as seen)."""
        if source_id in self.seen_ids:
            return False
        self.seen_ids.add(source_id)
        return True

    def count(self, key: str, value: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"nocturne/{key}", value)

    def count_page(self) -> None:
        self.count("pages")

    def count_error(self, reason: str) -> None:
        self.count("source_errors")
        self.count(f"{self.name}/errors/{reason}")

    def count_coverage(self, item: Any) -> None:
        """Per-source health: how many stored items carry each optional field."""
        stats = self.crawler.stats
        if stats is None:
            return
        # Once per stored item: the stat keys are built once per spider, and an EventItem
        # is read directly (ItemAdapter for any other item type).
        keys = self.__dict__.get("_coverage_keys")
        if keys is None:
            keys = self._coverage_keys = (
                f"nocturne/{self.name}/items",
                [(field, f"nocturne/{self.name}/with/{field}") for field in COVERAGE_FIELDS],
            )
        items_key, field_keys = keys
        inc = stats.inc_value
        inc(items_key)
        get = item.__dict__.get if isinstance(item, EventItem) else ItemAdapter(item).get
        for field, key in field_keys:
            value = get(field)
            if value is not None and value != "":
                inc(key)

    def on_request_error(self, failure: Failure) -> None:
        """Errback of page requests: the request failed after its retries."""
        self.count_error(type(failure.value).__name__)
        self.logger.warning("request failed: %s (%s)", failure.request.url, failure.value)

    # -- browser rendering ----------------------------------------------------------

    def page_request(self, url: str, callback: Callable, **kwargs: Any) -> Request:
        """A GET for an HTML page; through Chromium when NOCTURNE_RENDER=browser."""
        meta = dict(kwargs.pop("meta", {}) or {})
        if self.render_mode == "browser":
            meta.update(browser_meta())
        return Request(url, callback=callback, errback=self.on_request_error, meta=meta, **kwargs)

    def browser_retry(self, response: Response, why: str) -> Request | None:
        """The same request again through Chromium, or None when that was already tried.

        Used when a plain response is a bot interstitial (a 403, or a 2xx without the data
        the page should embed) or when the page builds its data with JavaScript.
        """
        if response.meta.get("playwright") or self.render_mode == "off":
            self.count_error(why)
            self.logger.warning("%s at %s (status %s)", why, response.url, response.status)
            return None
        self.count(f"{self.name}/browser_retries")
        self.logger.info("%s at %s: rendering it in the browser", why, response.url)
        meta = {**response.request.meta, **browser_meta()}
        return response.request.replace(meta=meta, dont_filter=True)

    def retry_page_without_data(self, response: Response) -> Iterator[Request]:
        """For a page that is a 403 or lacks the data it should carry: its browser retry
        when one is left, else nothing (`browser_retry` counts the error)."""
        why = "forbidden" if response.status == 403 else "no_event_data"
        retry = self.browser_retry(response, why)
        if retry is not None:
            yield retry


def browser_meta() -> dict[str, Any]:
    """Request meta that sends a request through scrapy-playwright (page closed after)."""
    return {
        "playwright": True,
        "playwright_page_methods": [PageMethod("evaluate", BROWSER_GLOBALS_SCRIPT)],
    }


def browser_globals(response: Response) -> dict[str, Any]:
    """The page globals evaluated in Chromium (`BROWSER_GLOBALS_SCRIPT`), else {}."""
    for method in response.meta.get("playwright_page_methods") or ():
        result = getattr(method, "result", None)
        if isinstance(result, str):
            try:
                value = json.loads(result)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}
