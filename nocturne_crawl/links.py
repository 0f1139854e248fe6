"""Canonical event URLs: the dedupe key of the `events` table."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track where a click came from; the same event with or
# without them is the same link.
TRACKING_PARAMS = frozenset(
    {"aff", "ref", "ref_src", "_gl", "fbclid", "gclid", "mc_cid", "mc_eid", "_eboga", "source"}
)
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_link(url: str) -> str | None:
    """The canonical form of an http(s) event URL, or None when it is not one.

    Scheme and host lower-cased, default port and fragment dropped, tracking parameters
    removed (the rest kept in their order), and no trailing slash on the path except the
    root. Idempotent: canonical_link(canonical_link(u)) == canonical_link(u).
    """
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text or any(ch in text for ch in "\x00\r\n\t "):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    while path.endswith("/") and path != "/":
        path = path[:-1]
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, host, path, query, ""))
