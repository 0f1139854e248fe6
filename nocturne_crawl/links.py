"""Canonical event URLs: the dedupe key of the `events` table."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Query parameters that only track where a click came from; the same event with or
# without them is the same link.
TRACKING_PARAMS = frozenset(
    {"aff", "ref", "ref_src", "_gl", "fbclid", "gclid", "mc_cid", "mc_eid", "_eboga", "source"}
)
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}
# What RFC 3986 allows in a path besides unreserved characters; '%' is kept so that
# existing escapes stay as they are (and quoting twice changes nothing).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
# Whitespace and control characters never belong in a link; lone surrogates cannot even
# be encoded.
_UNSAFE_RE = re.compile("[\\s\x00-\x1f\x7f\ud800-\udfff]")
_HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
# The common shape, already nearly canonical: lower-case http(s) scheme, a lower-case
# ASCII host that _HOST_RE accepts (no user info, port or trailing dot), a path of only
# characters that quote(safe=_PATH_SAFE) keeps and no '%', a query without '%', '+' or
# ';', and any printable fragment. For it the result is built from the groups directly
# (`_canonical_link_by_splitting` gives the same); anything else goes the slow way.
_SIMPLE_LINK_RE = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)"
    r"((?:/[A-Za-z0-9_.~/:@!$&'()*+,;=-]*)?)"
    r"(?:\?([A-Za-z0-9._~=&-]*))?"
    r"(?:#[!-~]*)?"
)
MAX_LINK_LENGTH = 2048


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _ascii_host(hostname: str) -> str | None:
    host = hostname.lower().rstrip(".")
    if ":" in host:  # an IPv6 literal, already validated by urlsplit
        return f"[{host}]"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST_RE.match(host) else None


def canonical_link(url: str) -> str | None:
    """The canonical form of an http(s) event URL, or None when it is not one.

    Scheme and host lower-cased (international hosts in punycode), user info, default
    port and fragment dropped, tracking parameters removed (the rest kept in their
    order), path and query percent-encoded to plain ASCII, and no trailing slash on the
    path except the root. Idempotent: canonical_link(canonical_link(u)) == canonical_link(u).
    """
    match = _SIMPLE_LINK_RE.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        return _canonical_link_by_splitting(url)
    scheme, host, path, query = match.groups()
    # As the slow path: no path is the root, and trailing slashes go except the root's.
    path = path.rstrip("/") or "/"
    if query:
        query = _kept_query(query)
    link = f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"
    return link if len(link) <= MAX_LINK_LENGTH else None


def _kept_query(query: str) -> str:
    """parse_qsl(keep_blank_values=True) + urlencode without the tracking pairs, for a
    query of only [A-Za-z0-9._~=&-] (nothing to unquote; urlencode escapes only '=')."""
    kept = []
    for piece in query.split("&"):
        if not piece:
            continue  # parse_qsl skips empty pieces ("a&&b")
        name, _, value = piece.partition("=")  # "x" is ("x", ""); "x=1=2" is ("x", "1=2")
        if not _is_tracking(name):
            kept.append(f"{name}={value.replace('=', '%3D')}")
    return "&".join(kept)


def _canonical_link_by_splitting(url: str) -> str | None:
    """canonical_link for any input, with urlsplit: the rule the fast path must agree with."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text or _UNSAFE_RE.search(text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not hostname:
        return None
    host = _ascii_host(hostname)
    if not host:
        return None
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    while path.endswith("/") and path != "/":
        path = path[:-1]
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if not _is_tracking(k)])
    except (ValueError, UnicodeError):
        return None
    link = urlunsplit((scheme, host, path, query, ""))
    return link if len(link) <= MAX_LINK_LENGTH else None
