"""Configuration from the environment (and an optional `.env`), read in one place.

Every setting has a default that works on a laptop. Secrets are kept out of `repr()` so
that a logged config never shows a password or a key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import load_dotenv

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


RENDER_MODES = ("auto", "browser", "off")


def _render_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in RENDER_MODES:
        raise ValueError(f"NOCTURNE_RENDER must be one of {', '.join(RENDER_MODES)}, got {raw!r}")
    return mode


def _secret() -> object:
    return field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    """All of Nocturne's settings. Build it with `Config.from_env()`."""

    # Storage
    database_url: str | None = field(default=None, repr=False)
    data_dir: Path = REPO_ROOT / ".nocturne"
    db_pool_min: int = 2
    db_pool_max: int = 10

    # HTTP server
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 1024
    events_cache_entries: int = 2048
    events_cache_ttl: float = 60.0
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = field(default=None, repr=False)

    # Shared database (Supabase)
    supabase_url: str | None = None
    supabase_key: str | None = field(default=None, repr=False)
    supabase_db_url: str | None = field(default=None, repr=False)
    sync_batch_size: int = 500
    sync_concurrency: int = 4
    sync_retries: int = 4
    sync_timeout_seconds: float = 10.0
    db_batch_size: int = 1000
    db_flush_seconds: float = 1.0

    # Crawling
    crawl_backend: str = "subprocess"
    scrapyd_url: str = "http://127.0.0.1:6800"
    crawl_concurrency: int = 3
    crawl_prefork: bool = True
    crawl_cron: str = "0 */6 * * *"
    crawl_stagger_seconds: int = 60
    scheduler_enabled: bool = True
    scrape_cooldown_seconds: int = 300
    scrape_client_limit: int = 5
    scrape_client_window_seconds: int = 3600
    crawl_heartbeat_seconds: float = 5.0
    crawl_stale_seconds: int = 90
    crawl_queue_timeout_seconds: int = 3600
    eventbrite_base_url: str = "https://www.eventbrite.com"
    meetup_base_url: str = "https://www.meetup.com"
    luma_api_base_url: str = "https://api.lu.ma"
    luma_base_url: str = "https://luma.com"
    render_mode: str = "auto"  # auto | browser | off (NOCTURNE_RENDER)
    robotstxt_obey: bool = False
    chromium_executable: str | None = None
    crawl_horizon_days: int = 30
    meetup_query_cap: int = 380
    luma_details_delay: float = 0.5

    # Email
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "Nocturne <digest@nocturne.localhost>"
    digest_cron: str = "0 8 * * *"
    digest_max_events: int = 25
    confirm_subscriptions: bool = False
    subscribe_client_limit: int = 20
    subscribe_client_window_seconds: int = 3600
    smtp_concurrency: int = 16
    smtp_timeout_seconds: float = 30.0
    mail_attempts: int = 3
    mail_retry_backoff_seconds: float = 2.0

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @classmethod
    def from_env(cls, env_file: Path | None = None) -> Config:
        """Read the environment, after loading `.env` (values already set win)."""
        load_dotenv(env_file or REPO_ROOT / ".env", override=False)
        cors = _env("CORS_ORIGINS", "") or ""
        host = _env("HOST", cls.host)
        port = _env_int("PORT", cls.port)
        return cls(
            database_url=_env("DATABASE_URL"),
            data_dir=Path(_env("NOCTURNE_DATA_DIR", str(REPO_ROOT / ".nocturne"))).resolve(),
            db_pool_min=_env_int("DB_POOL_MIN", cls.db_pool_min),
            db_pool_max=_env_int("DB_POOL_MAX", cls.db_pool_max),
            host=host,
            port=port,
            workers=_env_int("WEB_WORKERS", cls.workers),
            cors_origins=tuple(o.strip() for o in cors.split(",") if o.strip()),
            max_body_bytes=_env_int("MAX_BODY_BYTES", cls.max_body_bytes),
            events_cache_entries=_env_int("EVENTS_CACHE_ENTRIES", cls.events_cache_entries),
            events_cache_ttl=_env_float("EVENTS_CACHE_TTL", cls.events_cache_ttl),
            public_url=_env("PUBLIC_URL", f"http://{host}:{port}"),
            secret_key=_env("NOCTURNE_SECRET_KEY"),
            supabase_url=_env("SUPABASE_URL"),
            supabase_key=_env("SUPABASE_KEY"),
            supabase_db_url=_env("SUPABASE_DB_URL"),
            sync_batch_size=_env_int("SYNC_BATCH_SIZE", cls.sync_batch_size),
            sync_concurrency=_env_int("SYNC_CONCURRENCY", cls.sync_concurrency),
            sync_retries=_env_int("SYNC_RETRIES", cls.sync_retries),
            sync_timeout_seconds=_env_float("SYNC_TIMEOUT_SECONDS", cls.sync_timeout_seconds),
            db_batch_size=_env_int("DB_BATCH_SIZE", cls.db_batch_size),
            db_flush_seconds=_env_float("DB_FLUSH_SECONDS", cls.db_flush_seconds),
            crawl_backend=_env("CRAWL_BACKEND", cls.crawl_backend),
            scrapyd_url=_env("SCRAPYD_URL", cls.scrapyd_url),
            crawl_concurrency=_env_int("CRAWL_CONCURRENCY", cls.crawl_concurrency),
            crawl_prefork=_env_bool("CRAWL_PREFORK", cls.crawl_prefork),
            crawl_cron=_env("CRAWL_CRON", cls.crawl_cron),
            crawl_stagger_seconds=_env_int("CRAWL_STAGGER_SECONDS", cls.crawl_stagger_seconds),
            scheduler_enabled=_env_bool("NOCTURNE_SCHEDULER", cls.scheduler_enabled),
            scrape_cooldown_seconds=_env_int(
                "SCRAPE_COOLDOWN_SECONDS", cls.scrape_cooldown_seconds
            ),
            scrape_client_limit=_env_int("SCRAPE_CLIENT_LIMIT", cls.scrape_client_limit),
            scrape_client_window_seconds=_env_int(
                "SCRAPE_CLIENT_WINDOW_SECONDS", cls.scrape_client_window_seconds
            ),
            crawl_heartbeat_seconds=_env_float(
                "CRAWL_HEARTBEAT_SECONDS", cls.crawl_heartbeat_seconds
            ),
            crawl_stale_seconds=_env_int("CRAWL_STALE_SECONDS", cls.crawl_stale_seconds),
            crawl_queue_timeout_seconds=_env_int(
                "CRAWL_QUEUE_TIMEOUT_SECONDS", cls.crawl_queue_timeout_seconds
            ),
            eventbrite_base_url=_env("EVENTBRITE_BASE_URL", cls.eventbrite_base_url),
            meetup_base_url=_env("MEETUP_BASE_URL", cls.meetup_base_url),
            luma_api_base_url=_env("LUMA_API_BASE_URL", cls.luma_api_base_url),
            luma_base_url=_env("LUMA_BASE_URL", cls.luma_base_url),
            render_mode=_render_mode(_env("NOCTURNE_RENDER", cls.render_mode)),
            robotstxt_obey=_env_bool("ROBOTSTXT_OBEY", cls.robotstxt_obey),
            chromium_executable=_env("PLAYWRIGHT_CHROMIUM_EXECUTABLE"),
            crawl_horizon_days=_env_int("CRAWL_HORIZON_DAYS", cls.crawl_horizon_days),
            meetup_query_cap=_env_int("MEETUP_QUERY_CAP", cls.meetup_query_cap),
            luma_details_delay=_env_float("LUMA_DETAILS_DELAY", cls.luma_details_delay),
            smtp_url=_env("SMTP_URL"),
            mail_from=_env("MAIL_FROM", cls.mail_from),
            digest_cron=_env("DIGEST_CRON", cls.digest_cron),
            digest_max_events=_env_int("DIGEST_MAX_EVENTS", cls.digest_max_events),
            confirm_subscriptions=_env_bool("NOCTURNE_CONFIRM_SUBSCRIPTIONS", False),
            subscribe_client_limit=_env_int("SUBSCRIBE_CLIENT_LIMIT", cls.subscribe_client_limit),
            subscribe_client_window_seconds=_env_int(
                "SUBSCRIBE_CLIENT_WINDOW_SECONDS", cls.subscribe_client_window_seconds
            ),
            smtp_concurrency=_env_int("SMTP_CONCURRENCY", cls.smtp_concurrency),
            smtp_timeout_seconds=_env_float("SMTP_TIMEOUT_SECONDS", cls.smtp_timeout_seconds),
            mail_attempts=_env_int("MAIL_ATTEMPTS", cls.mail_attempts),
            mail_retry_backoff_seconds=_env_float(
                "MAIL_RETRY_BACKOFF_SECONDS", cls.mail_retry_backoff_seconds
            ),
        )

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or error bodies."""
        found = []
        for f in fields(self):
            if not f.repr:
                value = getattr(self, f.name)
                if isinstance(value, str) and value:
                    found.append(value)
        return found
