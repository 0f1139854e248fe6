"""Digest and confirmation emails from templates: an HTML part (autoescaped) and a text part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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


def sender_address(config: Config) -> str:
    """The bare address of MAIL_FROM, for the SMTP envelope."""
    return parseaddr(config.mail_from)[1]


def mail_domain(config: Config) -> str:
    return sender_address(config).rpartition("@")[2] or "nocturne.localhost"


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


def _base_message(config: Config, to: str, subject: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.mail_from
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = f"<{message_id}@{mail_domain(config)}>"
    message["Auto-Submitted"] = "auto-generated"
    return message


def digest_message(
    config: Config,
    *,
    subscription_id: int,
    email: str,
    city: City,
    events: list[DigestEvent],
    total: int,
    message_id: str,
) -> EmailMessage:
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
    message = _base_message(config, email, digest_subject(city, total), message_id)
    message["List-Id"] = f"Nocturne {city.name.title()} <{city.id}.digest.{mail_domain(config)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    env = templates()
    message.set_content(env.get_template("digest.txt").render(context))
    message.add_alternative(env.get_template("digest.html").render(context), subtype="html")
    return message


def confirmation_message(
    config: Config, *, subscription_id: int, email: str, city: City, message_id: str
) -> EmailMessage:
    """The double opt-in mail: one link that confirms the subscription."""
    context = {
        "city": city,
        "confirm_url": confirm_url(config, subscription_id, email),
        "email": email,
    }
    subject = f"Confirm your Nocturne digest for {city.name.title()}"
    message = _base_message(config, email, subject, message_id)
    env = templates()
    message.set_content(env.get_template("confirm.txt").render(context))
    message.add_alternative(env.get_template("confirm.html").render(context), subtype="html")
    return message
