"""Where mail goes: an SMTP server (`SMTP_URL`) or, without one, `.eml` files in an outbox.

`SMTP_URL` forms:
  smtp://host:25                       plain SMTP (STARTTLS used if the server offers it)
  smtp://user:pass@host:587?starttls=1 STARTTLS required
  smtp://host:25?starttls=0            never STARTTLS
  smtps://user:pass@host:465           implicit TLS
User name and password are percent-decoded. Errors are sorted into transient (4xx replies,
dropped connections, timeouts: worth retrying) and permanent (5xx: never retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from nocturne_crawl.config import Config
from nocturne_crawl.mail.compose import OutgoingMail

log = logging.getLogger(__name__)


class MailError(Exception):
    """A message was not accepted; `code` is the SMTP reply code when there was one."""

    transient = False

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class TransientMailError(MailError):
    """Worth retrying later: 4xx replies, lost connections, timeouts."""

    transient = True


class PermanentMailError(MailError):
    """Retrying will not help: 5xx replies."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool | None = None  # None: STARTTLS when the server offers it

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SMTP_URL needs a host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        start_tls: bool | None = None
        if "starttls" in query:
            flag = query["starttls"].lower()
            if flag not in ("1", "true", "yes", "0", "false", "no"):
                raise ValueError("SMTP_URL's starttls must be 1 or 0")
            start_tls = flag in ("1", "true", "yes")
        use_tls = parts.scheme == "smtps"
        if use_tls and start_tls:
            raise ValueError("smtps:// is implicit TLS; starttls=1 does not apply")
        if use_tls:
            start_tls = False
        try:
            port = parts.port
        except ValueError:
            raise ValueError("SMTP_URL has an invalid port") from None
        default_port = 465 if use_tls else (587 if start_tls else 25)
        return cls(
            host=parts.hostname,
            port=port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
        )

    def describe(self) -> str:
        """Where mail goes, without the password."""
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class MailTransport:
    """Sends messages; used as `async with transport:` around a batch of sends."""

    async def __aenter__(self) -> MailTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, mail: OutgoingMail) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    def describe(self) -> str:
        raise NotImplementedError


def classify_smtp_error(exc: Exception) -> MailError:
    """A MailError (transient or permanent) for what aiosmtplib or the socket raised."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(code >= 500 for code in codes):
            return PermanentMailError(f"recipient refused: {text}", min(codes))
        return TransientMailError(f"recipient deferred: {text}", min(codes) if codes else None)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}".strip()
        if 400 <= exc.code < 500:
            return TransientMailError(text, exc.code)
        return PermanentMailError(text, exc.code)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return TransientMailError(f"connection lost: {exc}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return TransientMailError(f"timed out: {exc}")
    if isinstance(exc, OSError):
        return TransientMailError(f"connection failed: {type(exc).__name__}: {exc}")
    return PermanentMailError(f"{type(exc).__name__}: {exc}")


class SmtpTransport(MailTransport):
    """Up to `concurrency` SMTP connections, each kept open and reused for many messages."""

    def __init__(
        self,
        settings: SmtpSettings,
        concurrency: int = 8,
        timeout: float = 30.0,
        reuse_connections: bool = True,
    ):
        self.settings = settings
        self.timeout = timeout
        self.reuse_connections = reuse_connections
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._idle: list[aiosmtplib.SMTP] = []

    def describe(self) -> str:
        return self.settings.describe()

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=self.timeout,
        )

    async def send(self, mail: OutgoingMail) -> None:
        async with self._slots:
            client = self._idle.pop() if self._idle else self._client()
            keep = False
            try:
                if not client.is_connected:
                    await client.connect()
                await client.sendmail(mail.sender, [mail.recipient], mail.data)
                keep = self.reuse_connections
            except Exception as exc:
                error = classify_smtp_error(exc)
                # After a refused recipient or a 5xx, aiosmtplib has reset the envelope and
                # the session is still good; a 421 or a lost connection means start over.
                keep = (
                    self.reuse_connections
                    and client.is_connected
                    and error.code is not None
                    and error.code != 421
                )
                raise error from exc
            finally:
                if keep:
                    self._idle.append(client)
                else:
                    await _quit(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c) for c in idle))


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await asyncio.wait_for(client.quit(), timeout=5)
    except Exception:  # a polite QUIT failing only means the server went first
        client.close()


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport(MailTransport):
    """Writes each message as `<outbox>/<message id>.eml` (used when SMTP_URL is unset)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def describe(self) -> str:
        return f"outbox {self.directory}"

    async def send(self, mail: OutgoingMail) -> None:
        name = _UNSAFE_NAME.sub("_", mail.message_id.strip("<>")) or "message"
        await asyncio.to_thread(self._write, f"{name}.eml", mail.data)

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / name
        partial = self.directory / f".{name}.part"
        try:
            partial.write_bytes(data)
            # Atomic: a reader of the outbox never sees half a message.
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise TransientMailError(f"could not write {final}: {exc}") from exc


def make_transport(config: Config, reuse_connections: bool = True) -> MailTransport:
    """SMTP when `SMTP_URL` is set, else the outbox folder (and the log says where)."""
    if config.smtp_url:
        return SmtpTransport(
            SmtpSettings.from_url(config.smtp_url),
            concurrency=config.smtp_concurrency,
            timeout=config.smtp_timeout_seconds,
            reuse_connections=reuse_connections,
        )
    log.info("SMTP_URL is not set: mail is written to %s", config.outbox_dir)
    return OutboxTransport(config.outbox_dir)
