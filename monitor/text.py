"""Small clean-ups shared by every stage that handles untrusted strings (and dates)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

# Removed outright: bidirectional embeddings, overrides and isolates (they reorder what a
# reader sees, so a title or link can be disguised with them), the BOM, the word joiner
# and invisible operators, interlinear annotations, lone surrogates, and noncharacters
# (U+FFFE, U+FFFF and the rest are forbidden by XML 1.0: one in a title made the whole
# Atom export unreadable). ZWNJ and ZWJ stay: Persian, the Indic scripts and emoji need them.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}-{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_INVISIBLE = re.compile(
    f"[\u202a-\u202e\u2066-\u2069\u2060-\u2064\ufeff\ufff9-\ufffb\ud800-\udfff{_NONCHARACTERS}]"
)
# C0 and C1 controls except tab and newline, plus the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ZERO_WIDTH_SPACE = "\u200b"
# In a link these are percent-encoded: nothing invisible, no space and no control is left
# to reach a terminal (U+009B is CSI) or to make a link look like another.
_LINK_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zs", "Zl", "Zp"})
_LINK_DROPPED = re.compile(r"[\t\n\r]")
# A feed's date before this is a placeholder (year 1 is "no date" in Go, .NET and Java),
# not an archive: the oldest newspapers on the web are from the 1700s.
EARLIEST_DATE = datetime(1700, 1, 1, tzinfo=UTC)
# Without a fetch time, still far from datetime's end (9999-12-31, "never" elsewhere), so
# that shifting to any time zone cannot overflow.
LATEST_DATE = datetime(9000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # a feed whose clock or zone is off by hours is kept


def strip_control(value: str, *, keep_newlines: bool = False) -> str:
    """Remove NUL, controls and invisible characters; newlines become spaces unless kept."""
    value = _INVISIBLE.sub("", value)
    if keep_newlines:
        return _CONTROL.sub("", value.replace("\r\n", "\n"))
    return _CONTROL_ALL.sub(" ", value)


def clean_text(value: str | None, limit: int | None = None) -> str:
    """Untrusted body text made safe to store: no controls, tidy spaces, at most ``limit`` chars."""
    if not value:
        return ""
    text = strip_control(value, keep_newlines=True)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text[:limit] if limit is not None else text


def clean_line(value: str | None, limit: int = 1000) -> str:
    """A one-line untrusted string (title, author, outlet): no controls or line breaks,
    nothing invisible (a zero-width space too: in one line it only hides things)."""
    if not value:
        return ""
    line = strip_control(value).replace(_ZERO_WIDTH_SPACE, "")
    return _SPACES.sub(" ", line).strip()[:limit]


def clean_link(value: str | None, limit: int = 2048) -> str | None:
    """An untrusted http(s) link made safe to store and print, or None.

    ASCII whitespace at the ends is dropped and tabs and line breaks inside are removed,
    as browsers do; every other control, space, invisible or bidirectional character is
    percent-encoded (lone surrogates, which UTF-8 cannot carry, are dropped). Anything
    but http and https, and links over ``limit`` characters, give None.
    """
    if not isinstance(value, str):
        return None
    link = _LINK_DROPPED.sub("", value.strip(" \t\n\r\f\v\x00"))
    if not link.isascii() or not link.isprintable() or " " in link:
        link = "".join(_link_char(char) for char in link)
    if len(link) > limit or not link.lower().startswith(("http://", "https://")):
        return None
    return link


def _link_char(char: str) -> str:
    if char.isascii() and char.isprintable() and char != " ":
        return char
    category = unicodedata.category(char)
    if category == "Cs":
        return ""
    if category in _LINK_ESCAPED_CATEGORIES:
        return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return char


def clean_date(value: datetime | None, fetched_at: datetime | None = None) -> datetime | None:
    """An untrusted publication date in UTC, or None (unknown) when it cannot be one.

    Unknown: before `EARLIEST_DATE`, after `LATEST_DATE`, more than `FUTURE_SLACK` after
    ``fetched_at`` when it is given, or out of range in UTC. Readers then use the fetch
    time. A naive date is taken as UTC.
    """
    if value is None:
        return None
    try:
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return None
    latest = LATEST_DATE if fetched_at is None else min(LATEST_DATE, fetched_at + FUTURE_SLACK)
    return value if EARLIEST_DATE <= value <= latest else None


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 feed``, ``2 feeds``, ``1 entry``, ``3 entries`` (``plural`` where ``-s`` is wrong)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
