"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, and can misbehave.

    with LocalSMTP() as smtp:
        smtp.fail_next("451", "drop")   # the next two messages: refused for now, then cut off
        ...  # deliver to 127.0.0.1:smtp.port
        [message] = smtp.parsed()       # email.message.EmailMessage objects

Faults, each used up by one message (at its DATA command): ``"451"`` temporary
refusal, ``"550"`` permanent refusal, ``"stall"`` no answer for ``stall_seconds``,
``"drop"`` the connection closed without an answer, ``"slow"`` accepted after
``stall_seconds`` (a content filter at work). ``"rcpt550"`` refuses the recipient instead,
``"slow_rcpt"`` answers the recipient after ``stall_seconds``. Later messages are accepted.
``rcpts`` and ``attempts`` count the RCPT and DATA commands begun.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

HOST = "127.0.0.1"


class _Handler:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.faults: deque[str] = deque()
        self.stall_seconds = 5.0
        self.attempts = 0
        self.rcpts = 0
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, _: Any
    ) -> str:
        with self.lock:
            self.rcpts += 1
            fault = self.faults[0] if self.faults else None
            if fault in ("rcpt550", "slow_rcpt"):
                self.faults.popleft()
        if fault == "rcpt550":
            return "550 5.1.1 No such user here"
        if fault == "slow_rcpt":
            await asyncio.sleep(self.stall_seconds)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.attempts += 1
            fault = self.faults.popleft() if self.faults else None
        if fault == "451":
            return "451 4.3.0 Mailbox busy, try again later"
        if fault == "550":
            return "550 5.7.1 Message refused by policy"
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 Too slow"
        if fault == "slow":
            await asyncio.sleep(self.stall_seconds)
        if fault == "drop":
            assert server.transport is not None
            server.transport.abort()  # type: ignore[attr-defined]
            return "421 4.4.2 Connection dropped"
        content = envelope.original_content or b""
        with self.lock:
            self.received.append(bytes(content))
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 2.0.0 Accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class LocalSMTP:
    def __init__(self, port: int | None = None) -> None:
        self.handler = _Handler()
        self.port = port or free_port()
        self.host = HOST
        self.controller = Controller(
            self.handler, hostname=HOST, port=self.port, decode_data=False, enable_SMTPUTF8=True
        )

    def __enter__(self) -> LocalSMTP:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()

    def fail_next(self, *faults: str) -> None:
        with self.handler.lock:
            self.handler.faults.extend(faults)

    @property
    def received(self) -> list[bytes]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def attempts(self) -> int:
        return self.handler.attempts

    @property
    def rcpts(self) -> int:
        return self.handler.rcpts

    def parsed(self) -> list[EmailMessage]:
        messages = []
        for raw in self.received:
            message = message_from_bytes(raw, policy=default)
            assert isinstance(message, EmailMessage)
            messages.append(message)
        return messages


def plain_text(message: EmailMessage) -> str:
    """The text/plain part of a received message, with Unix line ends."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")
