"""Headless Chromium for scrapy-playwright: which binary, how it starts, what it skips."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import Any

# Debian's package first (this is what CI installs); `playwright install` is never run.
SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PLAYWRIGHT_CACHE_GLOB = "~/.cache/ms-playwright/chromium-*/chrome-linux*/chrome"

# Rendering a listing needs the document, its scripts and the data calls those scripts
# make; pictures, fonts, styles and media only cost time.
SKIPPED_RESOURCE_TYPES = frozenset(
    {"image", "media", "font", "stylesheet", "texttrack", "eventsource", "manifest", "other"}
)


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium on this machine: the explicit one, Debian's, or Playwright's cache."""
    if explicit:
        return explicit
    for candidate in SYSTEM_CHROMIUMS:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    cached = sorted(glob.glob(str(Path(PLAYWRIGHT_CACHE_GLOB).expanduser())), reverse=True)
    return cached[0] if cached else None


def launch_options(explicit: str | None = None) -> dict[str, Any]:
    """PLAYWRIGHT_LAUNCH_OPTIONS: headless, sandbox off (containers), no background traffic."""
    options: dict[str, Any] = {
        "headless": True,
        "timeout": 20_000,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }
    executable = find_chromium(explicit)
    if executable:
        options["executable_path"] = executable
    return options


def skip_heavy_resource(request: Any) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: abort what a page does not need to show its events."""
    return request.resource_type in SKIPPED_RESOURCE_TYPES
