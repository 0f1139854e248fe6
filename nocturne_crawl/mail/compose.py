"""Digest and confirmation emails from templates: an HTML part (autoescaped) and a text part."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from nocturne_crawl.cities import City
from nocturne_crawl.config import Config
from nocturne_crawl.tokens import make_token

SOURCE_NAMES = {"eventbrite": "Eventbrite", "meetup": "Meetup", "luma": "Luma"}


@lru_cache(maxsize=1)
def templates() -> Environment:
    # Only .html templates are escaped: the text part must show a title like "<b>" as is.
    return Environment(
        loader=PackageLoader("nocturne_crawl", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the package; no stat() per mail
    )


@dataclass(frozen=True)
class DigestEvent:
    """One event as a digest shows it: local wall-clock date and time in the city."""

    id: int
    title: str
    when: str
    venue: str | None
    source: str
    link: str

    @classmethod
    def from_row(cls, row: dict[str, Any], zone: ZoneInfo) -> DigestEvent:
        local = row["starts_at"].astimezone(zone)
        when = local.strftime("%a %d %b %Y")
        if row["time"] is not None:
            when += local.strftime(", %H:%M")
        return cls(
            id=row["id"],
            title=row["title"],
            when=when,
            venue=row["location"] or None,
            source=SOURCE_NAMES.get(row["source"], row["source"]),
            link=row["link"],
        )


@lru_cache(maxsize=8)
def _parsed_from(mail_from: str) -> tuple[str, str, str]:
    # (From header, envelope address, domain): parsed once, not once per mail.
    name, address = parseaddr(mail_from)
    header = formataddr((name, address), charset="utf-8")
    return header, address, address.rpartition("@")[2] or "nocturne.localhost"


def sender_address(config: Config) -> str:
    """The bare address of MAIL_FROM, for the SMTP envelope."""
    return _parsed_from(config.mail_from)[1]


def mail_domain(config: Config) -> str:
    return _parsed_from(config.mail_from)[2]


def unsubscribe_url(config: Config, subscription_id: int, email: str) -> str:
    token = make_token(config, "unsubscribe", subscription_id, email)
    return f"{config.public_url.rstrip('/')}/unsubscribe?token={quote(token, safe='')}"


def confirm_url(config: Config, subscription_id: int, email: str) -> str:
    token = make_token(config, "confirm", subscription_id, email)
    return f"{config.public_url.rstrip('/')}/confirm?token={quote(token, safe='')}"


def city_url(config: Config, city: City) -> str:
    return f"{config.public_url.rstrip('/')}/?city={quote(city.id)}"


def digest_subject(city: City, total: int) -> str:
    noun = "event" if total == 1 else "events"
    return f"{total} new {noun} in {city.name.title()}"


@lru_cache(maxsize=256)
def _event_list(events: tuple[DigestEvent, ...], more: int, more_url: str) -> tuple[Markup, str]:
    # Subscribers of a city mostly get the same list: render it once, not once per mail.
    env = templates()
    context = {"events": events, "more": more, "more_url": more_url}
    html = Markup(env.get_template("digest_events.html").render(context))
    return html, env.get_template("digest_events.txt").render(context)


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for the wire: envelope addresses and the RFC 5322 bytes."""

    message_id: str  # "<...@domain>", also the outbox file name
    sender: str
    recipient: str
    subject: str
    data: bytes


def _header(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} header must be one line")  # no header injection, ever
    if not value.isascii():
        value = Header(value, "utf-8").encode()  # RFC 2047
    return f"{name}: {value}\r\n".encode("ascii")


def _base64_part(body: str, subtype: str) -> bytes:
    # UTF-8 in base64: safe for any line length a scraped title can have. One C call, then
    # RFC 2045's 76-character lines (base64.encodebytes loops in Python per 57 bytes).
    flat = base64.b64encode(body.encode())
    encoded = b"\r\n".join(flat[i : i + 76] for i in range(0, len(flat), 76)) + b"\r\n"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded


def mime_alternative(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    """A multipart/alternative message (RFC 2045/2046): text part first, HTML preferred.

    Written directly rather than through the email package's generator, which spends
    several milliseconds of CPU per digest re-folding headers and re-encoding bodies line
    by line (measured in bench/bench_digest.py); the shape here is fixed and small, and the
    tests read every message back with the email package's parser.
    """
    boundary = f"=_nocturne_{secrets.token_hex(12)}"
    head = b"".join(_header(name, value) for name, value in headers)
    head += _header("MIME-Version", "1.0")
    head += _header("Content-Type", f'multipart/alternative; boundary="{boundary}"')
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return b"".join(
        (
            head,
            b"\r\nThis is a message in MIME format.",
            delimiter,
            _base64_part(text, "plain"),
            delimiter,
            _base64_part(html, "html"),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def _mail(
    config: Config,
    to: str,
    subject: str,
    message_id: str,
    text: str,
    html: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> OutgoingMail:
    header_from, sender, domain = _parsed_from(config.mail_from)
    full_id = f"<{message_id}@{domain}>"
    headers = [
        ("From", header_from),
        ("To", to),
        ("Subject", subject),
        ("Date", formatdate(localtime=True)),
        ("Message-ID", full_id),
        ("Auto-Submitted", "auto-generated"),
        *extra,
    ]
    data = mime_alternative(headers, text, html)
    return OutgoingMail(full_id, sender, to, subject, data)


def digest_message(
    config: Config,
    *,
    subscription_id: int,
    email: str,
    city: City,
    events: list[DigestEvent],
    total: int,
    message_id: str,
) -> OutgoingMail:
    """The digest for one subscriber, with RFC 8058 one-click unsubscribe headers."""
    more = max(0, total - len(events))
    events_html, events_text = _event_list(tuple(events), more, city_url(config, city))
    unsubscribe = unsubscribe_url(config, subscription_id, email)
    context = {
        "city": city,
        "total": total,
        "events_html": events_html,
        "events_text": events_text,
        "unsubscribe_url": unsubscribe,
        "city_url": city_url(config, city),
        "email": email,
    }
    env = templates()
    domain = mail_domain(config)
    return _mail(
        config,
        email,
        digest_subject(city, total),
        message_id,
        env.get_template("digest.txt").render(context),
        env.get_template("digest.html").render(context),
        extra=(
            ("List-Id", f"Nocturne {city.name.title()} <{city.id}.digest.{domain}>"),
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def confirmation_message(
    config: Config, *, subscription_id: int, email: str, city: City, message_id: str
) -> OutgoingMail:
    """The double opt-in mail: one link that confirms the subscription."""
    context = {
        "city": city,
        "confirm_url": confirm_url(config, subscription_id, email),
        "email": email,
    }
    env = templates()
    return _mail(
        config,
        email,
        f"Confirm your Nocturne digest for {city.name.title()}",
        message_id,
        env.get_template("confirm.txt").render(context),
        env.get_template("confirm.html").render(context),
    )
