"""Scrapy responses built from saved files, as a spider callback would receive them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scrapy.http import HtmlResponse, Request, TextResponse


def response_from_text(
    body: str | bytes,
    url: str,
    *,
    status: int = 200,
    request: Request | None = None,
    meta: dict[str, Any] | None = None,
) -> TextResponse:
    """An HtmlResponse (or a JSON TextResponse when the body starts with { or [)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    request = request or Request(url, meta=meta or {})
    if raw.lstrip()[:1] in (b"{", b"["):
        return TextResponse(
            url=url,
            body=raw,
            status=status,
            encoding="utf-8",
            headers={"Content-Type": "application/json"},
            request=request,
        )
    return HtmlResponse(url=url, body=raw, status=status, encoding="utf-8", request=request)


def response_from_file(path: Path, url: str, **kwargs: Any) -> TextResponse:
    """The response a spider would get for `url` if the site had served `path`."""
    return response_from_text(Path(path).read_bytes(), url, **kwargs)


def json_response(payload: Any, url: str, **kwargs: Any) -> TextResponse:
    return response_from_text(json.dumps(payload), url, **kwargs)
