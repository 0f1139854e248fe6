"""JSON embedded in HTML pages, decoded with a real JSON decoder (never a greedy regex)."""

from __future__ import annotations

import json
import re
from typing import Any

_DECODER = json.JSONDecoder()


def decode_assignment(text: str, marker: str) -> Any | None:
    """The JSON value assigned after `marker` (e.g. 'window.__SERVER_DATA__ ='), or None.

    Decoding stops at the value's own closing brace, so whatever the same script does next
    (Eventbrite continues with `window.__REACT_QUERY_STATE__ = ...`) is never swallowed.
    """
    at = text.find(marker)
    while at != -1:
        start = at + len(marker)
        while start < len(text) and text[start] in " \t\r\n":
            start += 1
        if start < len(text) and text[start] in "{[":
            try:
                value, _ = _DECODER.raw_decode(text, start)
            except ValueError:
                return None
            return value
        at = text.find(marker, start)
    return None


def decode_script_by_id(text: str, script_id: str) -> Any | None:
    """The JSON body of `<script id="<script_id>" ...>` (Next.js `__NEXT_DATA__`), or None."""
    match = re.search(rf"<script[^>]*\bid=[\"']{re.escape(script_id)}[\"'][^>]*>", text)
    if match is None:
        return None
    start = match.end()
    while start < len(text) and text[start] in " \t\r\n":
        start += 1
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except ValueError:
        return None
    return value


def ld_json_blocks(text: str) -> list[Any]:
    """Every `<script type="application/ld+json">` body that parses as JSON."""
    blocks = []
    for match in re.finditer(
        r"<script[^>]*type=[\"']application/ld\+json[\"'][^>]*>(.*?)</script>", text, re.S
    ):
        try:
            blocks.append(json.loads(match.group(1)))
        except ValueError:
            continue
    return blocks
