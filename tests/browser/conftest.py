"""Real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the
real app on a loopback port with a real PostgreSQL database.

Without a browser these tests skip on a laptop but FAIL under CI=true: CI must prove them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.page import STATIC_DIR
from nocturne_crawl.config import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


# Module scope, not session: a running sync Playwright holds an event loop in the main
# thread, which would stop pytest-asyncio from running the async tests of later modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (STATIC_DIR / "index.html").is_file():
        _unavailable("the web page is not built (run `make web`)")
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
            )
        except Exception as exc:  # any launch failure means: no browser
            _unavailable(f"Chromium did not start: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session", autouse=True)
def _fresh_failure_screenshots() -> None:
    """Failure screenshots describe this run only."""
    for old in ARTIFACTS.glob("FAILED-*.png"):
        old.unlink()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def save_if_failed(request: pytest.FixtureRequest, page) -> None:
    """A screenshot of the page as it was when the test failed, beside the others."""
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # The page may be gone with the failure; the report stands either way.
        with contextlib.suppress(Exception):
            page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png", full_page=True)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
