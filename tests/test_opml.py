"""OPML import and export: reader exports in, valid OPML 2.0 out, hostile XML refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import MonitorError, OPMLError
from monitor.models import FeedSpec
from monitor.opml import parse_opml, write_opml
from monitor.settings import FeedItem
from monitor.text import clean_line
from testkit.webserver import LocalWeb

READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions exported from a reader</title></head>
  <body>
    <outline text="Korea" title="Korea">
      <outline type="rss" text="Yonhap" title="Yonhap News Agency"
               xmlUrl="https://en.yna.co.kr/RSS/news.xml" htmlUrl="https://en.yna.co.kr/"
               language="en"/>
      <outline type="rss" text="한겨레" xmlUrl="https://www.hani.co.kr/rss/" language="ko"/>
      <outline text="Analysis">
        <outline type="rss" text="  38   North " xmlUrl=" https://www.38north.org/feed/ "/>
      </outline>
    </outline>
    <outline text="Russia">
      <outline type="rss" text="Медуза" xmlurl="https://meduza.io/rss/all" language="unknown"/>
      <outline type="rss" text="Yonhap again" xmlUrl="https://EN.YNA.CO.KR/RSS/news.xml"/>
    </outline>
    <outline type="link" text="A bookmark, not a feed" url="https://example.org/"/>
    <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="Local file" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="Relative" xmlUrl="/feed.xml"/>
    <outline type="rss" text="FTP" xmlUrl="ftp://ftp.example.org/feed.xml"/>
    <outline type="rss" text="Broken" xmlUrl="http://[::1/feed.xml"/>
  </body>
</opml>
""".encode()


def test_reader_export_is_read_in_document_order() -> None:
    feeds = parse_opml(READER_EXPORT)
    assert feeds == [
        FeedSpec("https://en.yna.co.kr/RSS/news.xml", "Yonhap News Agency", "en"),
        FeedSpec("https://www.hani.co.kr/rss/", "한겨레", "ko"),
        FeedSpec("https://www.38north.org/feed/", "38 North", None),
        FeedSpec("https://meduza.io/rss/all", "Медуза", None),
    ]


def test_opml_1_without_version_or_head_and_latin1() -> None:
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<opml><body><outline text="Le Monde \xe9dition" xmlUrl="http://lemonde.example/rss"/>'
        "</body></opml>"
    ).encode("latin-1")
    assert parse_opml(data) == [FeedSpec("http://lemonde.example/rss", "Le Monde édition")]


def test_utf8_bom_is_accepted() -> None:
    data = (
        b"\xef\xbb\xbf"
        + b'<opml version="2.0"><body><outline text="a" xmlUrl="https://a.example/f"/></body></opml>'
    )
    assert [f.url for f in parse_opml(data)] == ["https://a.example/f"]


def test_empty_body_gives_no_feeds() -> None:
    assert parse_opml(b'<opml version="2.0"><head/><body/></opml>') == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Document is empty"),
        (b'<opml version="2.0">\n<body>\n<outline text="x"\n', "line 4"),
        (b"<rss version='2.0'><channel/></rss>", "root element is <rss>"),
        (b'<opml version="2.0"><head/></opml>', "no <body>"),
        (b"\x00\x01\x02 not xml at all", "not well-formed"),
    ],
)
def test_broken_documents_raise_opml_error(data: bytes, message: str) -> None:
    with pytest.raises(OPMLError, match=message) as caught:
        parse_opml(data, source="subscriptions.opml")
    assert isinstance(caught.value, MonitorError)
    assert str(caught.value).startswith("subscriptions.opml")


def test_error_names_line_and_column() -> None:
    with pytest.raises(OPMLError) as caught:
        parse_opml(b'<opml version="2.0">\n<body>\n  <outline text="a" & />\n</body></opml>')
    assert caught.value.line == 3
    assert caught.value.column is not None
    assert "line 3, column" in str(caught.value)


def test_entity_expansion_bomb_is_refused_quickly() -> None:
    levels = ['<!ENTITY l0 "lollollollollollollollollollol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    ]
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE opml [{"".join(levels)}]>'
        '<opml version="2.0"><body><outline text="&l9;" xmlUrl="https://a.example/f"/>'
        "</body></opml>"
    ).encode()
    with pytest.raises(OPMLError, match="entit"):
        parse_opml(bomb)


def test_small_internal_entities_are_refused_too() -> None:
    # libxml2 would expand these inside attributes even with entity resolution off.
    doc = (
        b'<!DOCTYPE opml [<!ENTITY name "Injected">]><opml version="2.0"><body>'
        b'<outline text="&name;" xmlUrl="https://a.example/f"/></body></opml>'
    )
    with pytest.raises(OPMLError, match="declares XML entities"):
        parse_opml(doc)


def test_external_entity_is_neither_read_nor_fetched(web: LocalWeb) -> None:
    web.route("/secret.txt", "SECRET")
    for target in ("file:///etc/passwd", web.url("/secret.txt")):
        doc = (
            f'<!DOCTYPE opml [<!ENTITY ext SYSTEM "{target}">]><opml version="2.0"><body>'
            '<outline text="x" xmlUrl="https://a.example/f">&ext;</outline></body></opml>'
        ).encode()
        with pytest.raises(OPMLError):
            parse_opml(doc)
    assert web.count("/secret.txt") == 0


def test_external_dtd_is_not_fetched(web: LocalWeb) -> None:
    web.route("/opml.dtd", '<!ENTITY x "y">', content_type="application/xml-dtd")
    doc = (
        f'<!DOCTYPE opml SYSTEM "{web.url("/opml.dtd")}"><opml version="2.0"><body>'
        '<outline text="a" xmlUrl="https://a.example/f"/></body></opml>'
    ).encode()
    assert [f.url for f in parse_opml(doc)] == ["https://a.example/f"]
    assert web.count("/opml.dtd") == 0


def test_bad_interval_is_an_error() -> None:
    doc = (
        b'<opml xmlns:monitor="urn:monitor:opml" version="2.0"><body>'
        b'<outline text="a" xmlUrl="https://a.example/f" monitor:interval="soon"/></body></opml>'
    )
    with pytest.raises(OPMLError, match="interval"):
        parse_opml(doc)


# --- writing ---------------------------------------------------------------------------

FEEDS = [
    FeedSpec("https://a.example/feed?x=1&y=<2>", 'Tom & Jerry\'s "News" <daily>', "en", 900),
    FeedSpec("http://b.example/rss", "", None, None),
    FeedSpec("https://c.example/rss.xml", "Українська правда", "uk", None),
    FeedSpec("https://d.example/atom", "북한 뉴스 — 速報", "ko", 3600),
]


def test_round_trip_keeps_every_field() -> None:
    assert parse_opml(write_opml(FEEDS, "My feeds").encode("utf-8")) == FEEDS


def test_written_document_is_opml_2() -> None:
    text = write_opml(FEEDS, 'Story: "troops" & <pact>')
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(text.encode("utf-8"))
    assert (root.tag, root.get("version")) == ("opml", "2.0")
    assert root.findtext("head/title") == 'Story: "troops" & <pact>'
    outlines = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [f.url for f in FEEDS]
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)
    assert outlines[1].get("text") == "http://b.example/rss"  # `text` is required
    assert outlines[0].get("language") == "en"
    assert outlines[1].get("language") is None


def test_control_characters_are_dropped_not_fatal() -> None:
    text = write_opml([FeedSpec("https://a.example/f", "bell\x07 and nul\x00")], "t\x1b")
    assert parse_opml(text.encode()) == [FeedSpec("https://a.example/f", "bell and nul")]


# Names as the parser gives them back: one clean line (monitor.text.clean_line).
_names = st.text(max_size=40).map(clean_line)
_specs = st.builds(
    FeedSpec,
    url=st.integers(0, 10**6).map(lambda n: f"https://host{n}.example/feed"),
    name=_names,
    language=st.sampled_from([None, "en", "ko", "pt-BR"]),
    interval_seconds=st.one_of(st.none(), st.integers(1, 7 * 24 * 3600)),
)


@given(st.lists(_specs, max_size=8, unique_by=lambda f: f.url))
def test_round_trip_property(feeds: list[FeedSpec]) -> None:
    assert parse_opml(write_opml(feeds, "t").encode("utf-8")) == feeds


def test_a_feed_name_from_a_shared_file_is_one_plain_line() -> None:
    """The name becomes the outlet shown in digests: no line breaks, bidi or zero-width."""
    opml = (
        '<opml version="2.0"><body><outline type="rss" xmlUrl="http://news.example/feed"'
        ' title="Daily&#13;&#10;Bcc: x@example.org &#x202e;txt.exe&#x200b;"/></body></opml>'
    )
    (spec,) = parse_opml(opml.encode())
    assert spec.name == "Daily Bcc: x@example.org txt.exe"
    item = FeedItem(url="http://news.example/feed", name="Daily\r\nNews\u2066")
    assert item.to_spec().name == "Daily News"
