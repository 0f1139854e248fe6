"""A real SMTP server (aiosmtpd) on a loopback port that records what it receives and can
be told to misbehave: refuse recipients, answer 421, drop the connection."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    session: int  # which SMTP connection delivered it


@dataclass
class RecordingHandler:
    """aiosmtpd handler: keeps every accepted message; fault switches for tests."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    defer_data: int = 0  # answer this many DATA commands with 421
    drop_data: int = 0  # close the connection on this many DATA commands
    data_commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            if self.drop_data > 0:
                self.drop_data -= 1
                server.transport.close()
                return "421 4.4.2 connection dropped"
            if self.defer_data > 0:
                self.defer_data -= 1
                return "421 4.3.2 service busy, try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, id(session))
            )
        return "250 2.0.0 accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received if address in r.recipients]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()
