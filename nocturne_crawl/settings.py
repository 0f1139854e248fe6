"""Scrapy settings for Nocturne (`scrapy.cfg` points here). Values come from `Config`."""

from nocturne_crawl.browser import launch_options
from nocturne_crawl.config import Config
from nocturne_crawl.public_suffixes import use_bundled_public_suffixes

# Before any crawl sets a cookie: no download of the Public Suffix List (see the module).
use_bundled_public_suffixes()

_config = Config.from_env()

BOT_NAME = "nocturne"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
# `crawl` checks `-a city=` before starting (nocturne_crawl/commands/crawl.py).
COMMANDS_MODULE = "nocturne_crawl.commands"

USER_AGENT = "Nocturne/0.1 (+https://github.com/nocturne-events/nocturne; city events aggregator)"
ROBOTSTXT_OBEY = _config.robotstxt_obey
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
# Per-request and per-item DEBUG lines (whole items) cost CPU in every crawl; `-s
# LOG_LEVEL=DEBUG` brings them back for one crawl.
LOG_LEVEL = "INFO"
# No telnet console in crawl processes (nobody attaches to it; one port per process).
TELNETCONSOLE_ENABLED = False
# Items of one response handled at once. The pipelines are synchronous, so more buys
# nothing, and Scrapy starts this many tasks per callback (Luma: one per detail page).
CONCURRENT_ITEMS = 8

EVENTBRITE_BASE_URL = _config.eventbrite_base_url
MEETUP_BASE_URL = _config.meetup_base_url
LUMA_API_BASE_URL = _config.luma_api_base_url
# The public Luma host: event links are built on it (`{LUMA_BASE_URL}/<slug>`); it is
# never fetched, so a crawl against the simulator leaves it at https://luma.com.
LUMA_BASE_URL = _config.luma_base_url

# Politeness: the sites are undocumented surfaces that throttle by IP (SOURCES.md §4).
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

# Retries: exponential backoff (RETRY_BACKOFF_BASE * 2**n, at most RETRY_BACKOFF_MAX)
# or the server's Retry-After, on throttling, server errors and timeouts.
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 120.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "nocturne_crawl.retry.BackoffRetryMiddleware": 550,
}

# Spider knobs (see README "Spiders").
NOCTURNE_RENDER = _config.render_mode
CRAWL_HORIZON_DAYS = _config.crawl_horizon_days
EVENTBRITE_MAX_PAGES = 100  # a safety net: page_count and the first empty page end a listing
MEETUP_QUERY_CAP = _config.meetup_query_cap
MEETUP_PAGE_SIZE = 50
MEETUP_MAX_PAGES_PER_WINDOW = 10
LUMA_PAGE_SIZE = 50
LUMA_MAX_PAGES = 100
LUMA_FETCH_DESCRIPTIONS = True
LUMA_DETAILS_DELAY = _config.luma_details_delay
LUMA_DETAILS_CONCURRENCY = 2

# scrapy-playwright: only requests with meta playwright=True go through Chromium; the
# others fall through to Scrapy's own HTTP handler. NOCTURNE_RENDER=off leaves the
# handler out entirely (no Playwright driver process at all).
if NOCTURNE_RENDER != "off":
    DOWNLOAD_HANDLERS = {
        "http": "nocturne_crawl.playwright_handler.LazyPlaywrightDownloadHandler",
        "https": "nocturne_crawl.playwright_handler.LazyPlaywrightDownloadHandler",
    }
else:
    DOWNLOAD_HANDLERS = {
        "http": "nocturne_crawl.keepalive.KeepAliveDownloadHandler",
        "https": "nocturne_crawl.keepalive.KeepAliveDownloadHandler",
    }
# Idle keep-alive connections kept per host (Scrapy keeps CONCURRENT_REQUESTS_PER_DOMAIN,
# too few: see nocturne_crawl/keepalive.py). Not a concurrency: requests at once per
# site stay bounded by CONCURRENT_REQUESTS_PER_DOMAIN and the download slots.
NOCTURNE_KEEPALIVE_PER_HOST = 16
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = launch_options(_config.chromium_executable)
PLAYWRIGHT_ABORT_REQUEST = "nocturne_crawl.browser.skip_heavy_resource"
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 20_000
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4

# validate -> dedupe -> store -> mirror (README, "Pipelines").
ITEM_PIPELINES: dict[str, int] = {
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.postgres.PostgresPipeline": 300,
    "pipelines.supabase.SupabaseMirrorPipeline": 400,
}
NOCTURNE_DB_BATCH_SIZE = _config.db_batch_size
NOCTURNE_DB_FLUSH_SECONDS = _config.db_flush_seconds
NOCTURNE_SYNC_BATCH_SIZE = _config.sync_batch_size
NOCTURNE_SYNC_CONCURRENCY = _config.sync_concurrency
NOCTURNE_SYNC_RETRIES = _config.sync_retries

# Every crawl records itself in crawl_runs (nocturne_crawl/recorder.py), wherever it runs.
EXTENSIONS = {
    "nocturne_crawl.gc_tuning.CollectorTuning": 100,  # the collector set for a crawl
    "nocturne_crawl.recorder.CrawlRunRecorder": 500,
}
NOCTURNE_GC_THRESHOLD = 50_000
NOCTURNE_HEARTBEAT_SECONDS = _config.crawl_heartbeat_seconds
