"""SMTP delivery, and nothing else: stdlib smtplib in a worker thread.

Every failure comes out as one `DeliveryError` that says whether trying again later
can help: a server that is down, times out, drops the connection or answers 4xx
(or refuses our login) is *temporary*; a 5xx refusal of the sender, the recipient or
the message is *permanent*.

A send that is cancelled (the daemon's shutdown, once its grace is over) never leaves a
message accepted and not recorded: until the end of the data has gone to the server the
transaction is abandoned (its socket shut, so the server drops it) and the cancellation
raised; after that the server decides, so its answer is waited for (at most
``smtp.timeout``) and reported as if nothing had been cancelled, for the caller to record
before it honours the cancellation.
"""

from __future__ import annotations

import asyncio
import functools
import smtplib
import socket
import ssl
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from monitor.errors import DeliveryError
from monitor.settings import SmtpSettings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


async def send_message(
    settings: SmtpSettings, message: bytes, sender: str, recipients: list[str]
) -> None:
    """Hand ``message`` to the server; return once it accepted it, else `DeliveryError`.

    Cancelled: see the module's docstring."""
    transaction = _Transaction()
    # A future, not a task: a stopping daemon cancels every task, and this one must live.
    work = asyncio.get_running_loop().run_in_executor(
        None, functools.partial(_send, settings, message, sender, recipients, transaction)
    )
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        if transaction.abandon():
            await asyncio.wait([work])  # its socket is shut: the thread ends at once
            raise
        await _outcome(work)


async def _outcome(work: asyncio.Future[None]) -> None:
    """The server's answer to a message it has whole, whatever is cancelled meanwhile."""
    while not work.done():
        with suppress(asyncio.CancelledError):
            await asyncio.shield(work)
    work.result()


class _Transaction:
    """One SMTP transaction, which may be abandoned until the end of its data is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: smtplib.SMTP | None = None
        self._abandoned = False
        self._committed = False

    def attach(self, client: smtplib.SMTP) -> None:
        with self._lock:
            self._client = client
            abandoned = self._abandoned
        if abandoned:
            client.close()
            raise smtplib.SMTPServerDisconnected("abandoned: the process is stopping")

    def check(self, *, commit: bool) -> None:
        """Before each write: raise if abandoned; ``commit``: the end of the data goes now."""
        with self._lock:
            if self._abandoned:
                raise smtplib.SMTPServerDisconnected("abandoned: the process is stopping")
            self._committed = self._committed or commit

    def abandon(self) -> bool:
        """Stop the transaction unless the server has the whole message; whether it stopped."""
        with self._lock:
            if self._committed:
                return False
            self._abandoned = True
            client = self._client
        sock = client.sock if client is not None else None
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return True


class _GuardedSMTP(smtplib.SMTP):
    """smtplib's client, asking its `_Transaction` before every write."""

    def __init__(self, transaction: _Transaction, *args: Any, **kwargs: Any) -> None:
        self.transaction = transaction
        self._in_data = False
        super().__init__(*args, **kwargs)
        transaction.attach(self)

    def data(self, msg: Any) -> tuple[int, bytes]:
        self._in_data = True  # smtplib sends the DATA command as str, the message as bytes
        return super().data(msg)

    def send(self, s: ReadableBuffer | str) -> None:
        self.transaction.check(commit=self._in_data and not isinstance(s, str))
        super().send(s)


class _GuardedSMTPSSL(_GuardedSMTP, smtplib.SMTP_SSL):
    pass


def _send(
    settings: SmtpSettings,
    message: bytes,
    sender: str,
    recipients: list[str],
    transaction: _Transaction,
) -> None:
    try:
        with _connect(settings, transaction) as client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                password = settings.password.get_secret_value() if settings.password else ""
                client.login(settings.user, password)
            refused = client.sendmail(sender, recipients, message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise _from_code(min(codes), _text(exc.recipients)) from exc
    except smtplib.SMTPAuthenticationError as exc:
        reason = f"login refused: {_decode(exc.smtp_error)}"
        raise DeliveryError(reason, temporary=True, code=exc.smtp_code) from exc
    except smtplib.SMTPResponseException as exc:
        raise _from_code(exc.smtp_code, _decode(exc.smtp_error)) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, dropped, timed out, TLS
        raise DeliveryError(f"{type(exc).__name__}: {exc}", temporary=True) from exc
    if refused:  # some recipients refused; we only ever send to one
        codes = [code for code, _ in refused.values()]
        raise _from_code(min(codes), _text(refused))


def _connect(settings: SmtpSettings, transaction: _Transaction) -> smtplib.SMTP:
    if settings.security == "tls":
        context = ssl.create_default_context()
        return _GuardedSMTPSSL(
            transaction, settings.host, settings.port, timeout=settings.timeout, context=context
        )
    return _GuardedSMTP(transaction, settings.host, settings.port, timeout=settings.timeout)


def _from_code(code: int, reason: str) -> DeliveryError:
    return DeliveryError(reason, temporary=not 500 <= code < 600, code=code)


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in refused.items())
