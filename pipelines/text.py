"""Plain text from whatever a site puts in a field: HTML, entities, stray control characters."""

from __future__ import annotations

import html
import re

import nh3

# Tags that separate lines or paragraphs: kept through the sanitizer (without attributes)
# only to be turned into line breaks, so "a<br>b" does not become "ab".
_BREAK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "hr"}
    | {f"h{level}" for level in range(1, 7)}
)
_SANITIZER = nh3.Cleaner(tags=set(_BREAK_TAGS), attributes={}, strip_comments=True)
# Matches only the sanitizer's own output: break tags serialized without attributes.
_BREAK_MARKUP_RE = re.compile("</?(?:" + "|".join(sorted(_BREAK_TAGS)) + ")>")
# C0/C1 control characters other than whitespace, and lone surrogates (PostgreSQL refuses
# NUL; surrogates cannot be encoded at all).
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
# Only text with a tag or an entity in it needs the sanitizer ("a & b" does not).
_MARKUP_RE = re.compile(r"<|&[#A-Za-z]")
# Each pass only removes or shortens; the bound is a guard, not a limit met in practice.
_MAX_PASSES = 64


def _strip_markup(text: str) -> str:
    cleaned = _SANITIZER.clean(text)
    if "<" in cleaned:
        cleaned = _BREAK_MARKUP_RE.sub("\n", cleaned)
    return html.unescape(cleaned)


def _normalize_space(text: str, multiline: bool) -> str:
    if not multiline:
        return " ".join(text.split())
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def _without_controls(text: str) -> str:
    # Printable text holds no control character or surrogate: no regex pass needed.
    return text if text.isprintable() else _CONTROL_RE.sub("", text)


def _clean_once(text: str, multiline: bool) -> str:
    text = _without_controls(text)
    if ("<" in text or "&" in text) and _MARKUP_RE.search(text):
        text = _without_controls(_strip_markup(text))
    return _normalize_space(text, multiline)


def _clean(text: str, multiline: bool) -> str:
    # Entities are decoded once per pass. Text that still reads as markup after that
    # (HTML escaped twice, which listings do carry) gets another pass, so what is stored
    # holds no tags or entities and cleaning it again changes nothing.
    for _ in range(_MAX_PASSES):
        cleaned = _clean_once(text, multiline)
        if cleaned == text:
            break
        if ("<" not in cleaned and "&" not in cleaned) or not _MARKUP_RE.search(cleaned):
            # Nothing reads as markup any more ("a & b" does not): another pass would
            # only repeat the control-character and whitespace steps, which change
            # nothing the second time. `cleaned` is final.
            return cleaned
        text = cleaned
    return text


def plain_text(value: object, max_length: int | None = None, multiline: bool = False) -> str | None:
    """Sanitized plain text of `value` (HTML allowed), or None when nothing is left.

    Tags and comments removed (script/style with their content), entities decoded,
    control characters dropped, whitespace collapsed (line breaks kept when `multiline`),
    then cut to `max_length` characters. Idempotent.
    """
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if not multiline and "<" not in text and "&" not in text and text.isprintable():
        # The common field (a title, a venue): no markup, no control character or line
        # break. `_clean` would only fold its whitespace, and so does this.
        text = " ".join(text.split())
    else:
        text = _clean(text, multiline)
    if max_length is not None and len(text) > max_length:
        text = _clean(text[:max_length], multiline)
    return text or None
