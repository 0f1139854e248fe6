"""Scrapy settings for Nocturne (`scrapy.cfg` points here). Values come from `Config`."""

from nocturne_crawl.config import Config

_config = Config.from_env()

BOT_NAME = "nocturne"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

USER_AGENT = "Nocturne/0.1 (+https://github.com/nocturne-events/nocturne; city events aggregator)"
ROBOTSTXT_OBEY = False
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"

EVENTBRITE_BASE_URL = _config.eventbrite_base_url
MEETUP_BASE_URL = _config.meetup_base_url
LUMA_API_BASE_URL = _config.luma_api_base_url
LUMA_BASE_URL = _config.luma_base_url

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
