"""Stories in, a mail message out: pure (no network, no database, no clock).

The HTML part comes from a Jinja2 template with autoescaping (every string from a
feed or a page is untrusted) and its CSS inlined by css-inline, with no remote
stylesheets, images or scripts. The plain-text part reads well on its own. Header
values are stripped of control characters and line breaks and capped in length.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.digest.group import Selection, safe_url
from monitor.models import FailedDelivery, FeedProblem
from monitor.text import clean_line

Kind = Literal["digest", "empty", "alert"]
SUBJECT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str
    timezone: str = "UTC"
    format: Literal["html", "text"] = "html"


@dataclass(frozen=True, slots=True)
class Footer:
    feed_problems: tuple[FeedProblem, ...] = ()  # failing past the threshold, gone, silent
    failures: tuple[FailedDelivery, ...] = ()
    briefly_failing: int = 0  # feeds failing, not yet for ``failing_hours``
    failing_hours: float = 24


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the headers need beyond the content."""

    message_id: str  # with its angle brackets
    sender: str
    now: datetime
    unsubscribe: str | None = None  # mailto: or https: URL; None: mail the sender


@dataclass(frozen=True, slots=True)
class Content:
    kind: Kind
    recipient: Recipient
    selection: Selection
    footer: Footer = field(default_factory=Footer)
    headline: str = ""  # an alert's reason, e.g. "12 articles in 3 hours (usual: 1)"


def compose(content: Content, envelope: Envelope) -> EmailMessage:
    """The whole message: headers, a text part and (unless text-only) an HTML part."""
    zone = ZoneInfo(content.recipient.timezone)
    context = _context(content, envelope, zone)
    message = EmailMessage()
    _headers(message, content, envelope, zone)
    message.set_content(_render("digest.txt", context), charset="utf-8", cte="quoted-printable")
    if content.recipient.format == "html":
        html = css_inline.CSSInliner(load_remote_stylesheets=False).inline(
            _render("digest.html", context)
        )
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def subject(content: Content, local_now: datetime) -> str:
    day = local_now.strftime("%-d %b")
    selection = content.selection
    if content.kind == "empty":
        return f"monitor digest {day}: nothing new"
    names = ", ".join(section.name for section in selection.sections)
    if content.kind == "alert":
        story = selection.sections[0].stories[0].lead.title if selection.sections else ""
        return f"[Alert] {names}: {content.headline or story}"
    stories = selection.story_count
    plural = "story" if stories == 1 else "stories"
    return f"monitor digest {day}: {stories} new {plural} – {names}"


def header_text(value: str, limit: int = SUBJECT_CHARS) -> str:
    """A header value from untrusted parts: one line, no controls, capped."""
    text = clean_line(value, limit * 2)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def unsubscribe_target(envelope: Envelope, recipient: Recipient) -> str:
    if envelope.unsubscribe:
        return envelope.unsubscribe
    subject_line = quote(f"unsubscribe {recipient.name}")
    return f"mailto:{envelope.sender}?subject={subject_line}"


def _headers(message: EmailMessage, content: Content, envelope: Envelope, zone: ZoneInfo) -> None:
    recipient = content.recipient
    message["Subject"] = header_text(subject(content, envelope.now.astimezone(zone)))
    message["From"] = Address(display_name="monitor", addr_spec=envelope.sender)
    message["To"] = Address(display_name=header_text(recipient.name, 80), addr_spec=recipient.email)
    message["Date"] = format_datetime(envelope.now.astimezone(zone))
    message["Message-ID"] = envelope.message_id
    target = unsubscribe_target(envelope, recipient)
    message["List-Unsubscribe"] = f"<{header_text(target, 500)}>"
    if target.startswith("https://"):
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Monitor-Kind"] = content.kind


def _context(content: Content, envelope: Envelope, zone: ZoneInfo) -> dict[str, object]:
    local_now = envelope.now.astimezone(zone)
    target = unsubscribe_target(envelope, content.recipient)
    return {
        "kind": content.kind,
        "headline": content.headline,
        "recipient": content.recipient,
        "sections": content.selection.sections,
        "story_count": content.selection.story_count,
        "footer": content.footer,
        "held_back": content.selection.held_back,
        "now": local_now,
        "zone": content.recipient.timezone,
        "unsubscribe": target if target.startswith(("mailto:", "https://", "http://")) else None,
    }


def _render(name: str, context: dict[str, object]) -> str:
    return _environment().get_template(name).render(**context)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.digest", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = lambda value: value.strftime("%-d %b %Y")
    env.filters["wrap"] = _wrap
    env.filters["safe_url"] = safe_url
    return env


def _when(value: datetime, zone: str) -> str:
    try:
        return value.astimezone(ZoneInfo(zone)).strftime("%-d %b %H:%M")
    except OverflowError:  # at an end of datetime's range; nothing stored now comes near
        return value.strftime("%-d %b %Y %H:%M UTC")


def _wrap(value: str, indent: int = 2, width: int = 76) -> str:
    pad = " " * indent
    lines = textwrap.wrap(value, width=width, initial_indent=pad, subsequent_indent=pad)
    return "\n".join(lines)
