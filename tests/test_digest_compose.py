"""The mail itself, composed from stories without a network or a database: parts,
headers, links, escaping, grouping, and a golden file for the text part."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from monitor.digest.compose import Content, Envelope, Footer, Recipient, compose, header_text
from monitor.digest.group import safe_url, select_stories, snippet
from monitor.models import FailedDelivery, FeedProblem
from tests.support.digest_data import sample_items

GOLDEN = Path(__file__).parent / "data" / "digest"
NOW = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
NAMES = {"nk-troops": "North Korean troops", "nk-russia-pact": "Russia–North Korea pact"}
TOPICS = ["nk-troops", "nk-russia-pact"]


def sample_message(
    fmt: str = "html", footer: Footer | None = None, max_stories: int = 40
) -> EmailMessage:
    items, copies = sample_items()
    selection = select_stories(items, TOPICS, NAMES, copies, max_stories)
    recipient = Recipient("ana", "ana@desk.test", "Asia/Seoul", fmt)  # type: ignore[arg-type]
    envelope = Envelope("<digest.1@monitor.test>", "monitor@monitor.test", NOW)
    message = compose(Content("digest", recipient, selection, footer or Footer()), envelope)
    # what the receiving end parses: the bytes as they go over the wire
    parsed = message_from_bytes(message.as_bytes(policy=SMTP), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def test_headers_are_complete_and_correct() -> None:
    message = sample_message()
    assert message["Message-ID"] == "<digest.1@monitor.test>"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert str(message["Date"]).endswith("+0900")  # the subscriber's time zone
    assert message["List-Unsubscribe"] == (
        "<mailto:monitor@monitor.test?subject=unsubscribe%20ana>"
    )
    assert message["To"].addresses[0].addr_spec == "ana@desk.test"
    assert message["Subject"].startswith("monitor digest 27 Nov: 4 new stories")
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())


def test_text_only_subscribers_get_one_plain_part() -> None:
    message = sample_message("text")
    assert message.get_content_type() == "text/plain"
    assert "North Korean troops reach the Kursk front" in message.get_content()


def test_stories_are_grouped_by_topic_then_story_in_both_parts() -> None:
    message = sample_message()
    text = text_of(message, "plain")
    troops, pact = text.index("== North Korean troops"), text.index("== Russia–North Korea pact")
    assert troops < text.index("Kursk front") < text.index("北朝鮮兵") < pact
    assert pact < text.index("Договор о всеобъемлющем")
    assert text.count("* ") == 4  # the Korean report is inside the Kursk story, not its own
    assert "- Yonhap: 북한군, 쿠르스크 전선 도착" in text
    assert "Also in: Wire Service" in text
    assert "Why: North Korea*, Kursk, Pyongyang, 북한" in text

    page = lxml_html.fromstring(text_of(message, "html"))
    sections = [h.text_content() for h in page.iter("h2")]
    assert sections == ["North Korean troops", "Russia–North Korea pact"]
    titles = [a.text_content() for a in page.xpath("//a[contains(@class,'title')]")]
    assert titles[:2] == [
        "North Korean troops reach the Kursk front",
        "北朝鮮兵、ロシア西部に展開か",
    ]
    marks = [m.text_content() for m in page.iter("mark")]
    assert {"North Korean", "Kursk", "КНДР", "Пхеньяне", "北朝鮮"} <= set(marks)


def test_untrusted_strings_are_escaped_and_links_are_http_only() -> None:
    message = sample_message()
    source = text_of(message, "html")
    assert "<script>" not in source and "&lt;script&gt;" in source
    assert "<b>with</b>" not in source
    page = lxml_html.fromstring(source)
    hrefs = [str(a.get("href")) for a in page.iter("a")]
    assert all(h.startswith(("https://", "mailto:")) for h in hrefs), hrefs
    assert not page.xpath("//script|//img|//link|//iframe")
    assert "style=" in source and "<style" not in source  # CSS inlined
    text = text_of(message, "plain")
    assert "javascript:" not in text and "javascript:" not in source
    assert "\x07" not in text and "\r" not in text.replace("\r\n", "\n")
    assert 'alert("x")</script> Pyongyang & Moscow Bcc: victim@example.org' in text


def test_header_values_are_one_capped_line() -> None:
    hostile = "Breaking\r\nBcc: victim@example.org\x00" + "x" * 500
    value = header_text(hostile, 100)
    assert "\n" not in value and "\r" not in value and "\x00" not in value
    assert len(value) == 100
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://a.example/x y") is None
    assert safe_url("http://a.example/x?y=1") == "http://a.example/x?y=1"


def test_snippets_are_about_two_lines_around_the_first_term() -> None:
    text = "Unrelated words. " * 40 + "Then Pyongyang said something about Kursk. " * 20
    parts = snippet(text, ("Pyongyang", "Kursk"))
    joined = "".join(p.text for p in parts)
    assert joined.startswith("…") and joined.endswith("…")
    assert len(joined) <= 230
    assert [p.text for p in parts if p.hit][:2] == ["Pyongyang", "Kursk"]


def test_footer_reports_feed_health_refusals_and_held_back_stories() -> None:
    since = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    footer = Footer(
        feed_problems=(
            FeedProblem("http://f.example/a", "Broken Outlet", "failing", since, "HTTP 500"),
            FeedProblem("http://f.example/b", "Quiet Outlet", "stale", since, None),
        ),
        failures=(FailedDelivery(7, since, "550 5.7.1 Message refused"),),
    )
    message = sample_message(footer=footer, max_stories=2)
    text = text_of(message, "plain")
    assert "2 more stories wait for the next digest." in text
    assert (
        "Feeds failing for more than 24 hours:\n  - Broken Outlet (since 24 Nov 12:00): HTTP 500"
        in text
    )
    assert "Feeds silent for longer than usual:\n  - Quiet Outlet" in text
    assert "refused by the mail server: 550 5.7.1" in text
    assert text.count("\n* ") == 2


def test_golden_text_part() -> None:
    """The plain-text part of the sample digest, byte for byte.
    After an intended change: UPDATE_GOLDEN=1 pytest tests/test_digest_compose.py"""
    text = text_of(sample_message(), "plain")
    golden = GOLDEN / "sample-digest.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert not re.search(r"[ \t]+\n(?!\n)", text.replace("-- \n", ""))  # no trailing blanks


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_every_line_of_the_wire_format_is_short(fmt: str) -> None:
    items, copies = sample_items()
    selection = select_stories(items, TOPICS, NAMES, copies, 40)
    recipient = Recipient("ana", "ana@desk.test", "UTC", fmt)  # type: ignore[arg-type]
    envelope = Envelope("<d@monitor.test>", "monitor@monitor.test", NOW)
    raw = compose(Content("digest", recipient, selection), envelope).as_bytes(policy=SMTP)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert raw.isascii()
