"""Small text clean-ups shared by every stage that handles untrusted strings."""

from __future__ import annotations

import re

# C0 and C1 controls except tab and newline, plus the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_control(value: str, *, keep_newlines: bool = False) -> str:
    """Remove NUL and control characters; newlines become spaces unless kept."""
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
    """A one-line untrusted string (title, author, outlet): no controls or line breaks."""
    if not value:
        return ""
    return _SPACES.sub(" ", strip_control(value)).strip()[:limit]
