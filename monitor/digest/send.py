"""SMTP delivery, and nothing else: stdlib smtplib in a worker thread.

Every failure comes out as one `DeliveryError` that says whether trying again later
can help: a server that is down, times out, drops the connection or answers 4xx
(or refuses our login) is *temporary*; a 5xx refusal of the sender, the recipient or
the message is *permanent*.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl

from monitor.errors import MonitorError
from monitor.settings import SmtpSettings


class DeliveryError(MonitorError):
    """The mail server did not accept a message."""

    def __init__(self, reason: str, *, temporary: bool, code: int | None = None) -> None:
        self.reason = reason
        self.temporary = temporary
        self.code = code
        kind = "temporary" if temporary else "permanent"
        code_part = f" {code}" if code is not None else ""
        super().__init__(f"SMTP delivery failed ({kind}{code_part}): {reason}")


async def send_message(
    settings: SmtpSettings, message: bytes, sender: str, recipients: list[str]
) -> None:
    """Hand ``message`` to the server; return once it accepted it, else `DeliveryError`."""
    await asyncio.to_thread(_send, settings, message, sender, recipients)


def _send(settings: SmtpSettings, message: bytes, sender: str, recipients: list[str]) -> None:
    try:
        with _connect(settings) as client:
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


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _from_code(code: int, reason: str) -> DeliveryError:
    return DeliveryError(reason, temporary=not 500 <= code < 600, code=code)


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in refused.items())
