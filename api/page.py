"""The web page: the React app built from web/ into api/static, served at `/`.

Mounted after every API route, so the API always wins. `/` and `/unsubscribe` (the link
in every digest) are the page itself; any other browser navigation that names no built
file also gets the page (the app reads the URL), while API clients get a JSON 404.
Built files under assets/ carry a content hash in their name and are cached for a year;
index.html is revalidated on every load so a new build shows at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.errors import ApiError, json_error

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_PATHS = {".", "unsubscribe"}
IMMUTABLE = "public, max-age=31536000, immutable"
# Defence in depth against scraped text that would try to run: only the app's own
# scripts, no plugins, no framing. Inline style attributes carry the map and card positions.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


# The page's first two requests, which must match web/src/api.ts exactly (EVENTS_LIMIT).
EVENTS_LIMIT = 500
CITY_ID = re.compile(r"^[a-z0-9-]+--[a-z0-9-]+$")


def _preload_links(scope: Scope) -> str:
    """Link preload headers, so the browser fetches the data while it parses the page's JS."""
    links = ["</cities>; rel=preload; as=fetch; crossorigin"]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    city = (query.get("city") or [""])[0]
    if CITY_ID.match(city):
        links.append(f"</events/{city}?limit={EVENTS_LIMIT}>; rel=preload; as=fetch; crossorigin")
    return ", ".join(links)


def _accepts_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False


class PageFiles(StaticFiles):
    """StaticFiles (which refuses paths outside its folder) plus the page's own routes."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.root = directory

    async def check_config(self) -> None:
        # A missing build is answered in get_response with a hint, not a RuntimeError.
        if self.root.exists():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise ApiError(405, "method not allowed", {"Allow": "GET, HEAD"})
        index = self.root / "index.html"
        if not index.is_file():
            if path in PAGE_PATHS:
                return json_error(503, "the web page is not built: run `make web` (needs Node 20)")
            raise ApiError(404, "not found")
        if path == ".":
            return FileResponse(index, headers={**PAGE_HEADERS, "Link": _preload_links(scope)})
        if path in PAGE_PATHS:
            return FileResponse(index, headers=PAGE_HEADERS)
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code == 404 and _accepts_html(scope):
                return FileResponse(index, headers=PAGE_HEADERS)
            raise ApiError(
                exc.status_code, "not found" if exc.status_code == 404 else "forbidden"
            ) from None
        if response.status_code == 200:
            immutable = path.startswith("assets/")
            response.headers["Cache-Control"] = IMMUTABLE if immutable else "no-cache"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response
