"""Crawl settings: browser wiring, render modes, Chromium discovery."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from scrapy.utils.project import get_project_settings

from nocturne_crawl.browser import find_chromium, launch_options, skip_heavy_resource
from nocturne_crawl.config import Config


def test_playwright_handles_http_and_https_and_retries_back_off():
    settings = get_project_settings()
    handler = "nocturne_crawl.playwright_handler.LazyPlaywrightDownloadHandler"
    assert settings.getdict("DOWNLOAD_HANDLERS") == {"http": handler, "https": handler}
    assert settings["TWISTED_REACTOR"].endswith("AsyncioSelectorReactor")
    middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
    assert middlewares["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert middlewares["nocturne_crawl.retry.BackoffRetryMiddleware"] == 550
    assert {429, 500, 503}.issubset(set(settings.getlist("RETRY_HTTP_CODES")))
    assert settings.getbool("AUTOTHROTTLE_ENABLED")
    assert "Nocturne" in settings["USER_AGENT"]


def test_launch_options_headless_without_sandbox():
    options = launch_options("/opt/chromium/chrome")
    assert options["executable_path"] == "/opt/chromium/chrome"
    assert options["headless"] is True
    assert {"--no-sandbox", "--disable-gpu", "--disable-background-networking"} <= set(
        options["args"]
    )


def test_find_chromium_prefers_the_explicit_path_then_debian():
    assert find_chromium("/somewhere/chrome") == "/somewhere/chrome"
    if os.access("/usr/bin/chromium", os.X_OK):
        assert find_chromium() == "/usr/bin/chromium"


@pytest.mark.parametrize(
    ("resource_type", "aborted"),
    [("document", False), ("script", False), ("xhr", False), ("fetch", False),
     ("image", True), ("font", True), ("stylesheet", True), ("media", True)],
)  # fmt: skip
def test_heavy_resources_are_aborted(resource_type, aborted):
    assert skip_heavy_resource(SimpleNamespace(resource_type=resource_type)) is aborted


def test_render_mode_and_robots_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NOCTURNE_RENDER", "Browser")
    monkeypatch.setenv("ROBOTSTXT_OBEY", "true")
    config = Config.from_env(tmp_path / "none.env")
    assert (config.render_mode, config.robotstxt_obey) == ("browser", True)
    monkeypatch.setenv("NOCTURNE_RENDER", "sometimes")
    with pytest.raises(ValueError, match="NOCTURNE_RENDER must be one of auto, browser, off"):
        Config.from_env(tmp_path / "none.env")
