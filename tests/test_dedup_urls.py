"""Canonical URLs: every address of one article gives one key, and different articles do not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import InvalidURLError
from monitor.pipeline.dedup import canonical_url, same_site

SAME = [
    # scheme, host case, default port, fragment, trailing slash
    ("http://Example.COM/news/story", "https://example.com/news/story"),
    ("HTTPS://EXAMPLE.com:443/news/story/", "https://example.com/news/story"),
    ("http://example.com:80/news/story#comments", "https://example.com/news/story"),
    ("https://example.com/news//story", "https://example.com/news/story"),
    ("https://example.com/news/./a/../story", "https://example.com/news/story"),
    ("https://example.com", "https://example.com/"),
    # www., m., mobile., amp. hosts
    ("https://www.example.com/news/story", "https://example.com/news/story"),
    ("https://m.example.com/news/story", "https://example.com/news/story"),
    ("https://mobile.example.com/news/story", "https://example.com/news/story"),
    ("https://amp.example.com/news/story", "https://example.com/news/story"),
    ("https://www.bbc.co.uk/news/world-123", "https://bbc.co.uk/news/world-123"),
    ("https://m.yna.co.kr/view/AKR2024", "https://yna.co.kr/view/AKR2024"),
    # AMP paths and parameters
    ("https://example.com/news/story/amp", "https://example.com/news/story"),
    ("https://example.com/news/story/amp/", "https://example.com/news/story"),
    ("https://example.com/amp/news/story", "https://example.com/news/story"),
    ("https://example.com/news/story.amp.html", "https://example.com/news/story.html"),
    ("https://example.com/news/story?amp", "https://example.com/news/story"),
    ("https://example.com/news/story?amp=1", "https://example.com/news/story"),
    ("https://example.com/news/story?outputType=amp", "https://example.com/news/story"),
    (
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story",
        "https://example.com/news/story",
    ),
    # tracking parameters, sorted query
    ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
    ("https://example.com/a?UTM_Campaign=x", "https://example.com/a"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    ("https://example.com/a?gclid=1&yclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"),
    ("https://example.com/a?_ga=2.1.2&_gl=1*abc&ref=twitter", "https://example.com/a"),
    ("https://example.com/a?id=7&utm_source=x&page=2", "https://example.com/a?id=7&page=2"),
    ("https://example.com/a?page=2&id=7", "https://example.com/a?id=7&page=2"),
    ("https://example.com/a?xtor=RSS-1&at_medium=email", "https://example.com/a"),
    # percent-encoding and international names
    ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ("https://example.com/%7Euser", "https://example.com/~user"),
    ("https://президент.рф/news/1", "https://xn--d1abbgf6aiiy.xn--p1ai/news/1"),
    # user info never kept
    ("https://user:secret@example.com/a", "https://example.com/a"),
    # surrounding and inner white space from a wrapped feed link
    ("  https://example.com/a\n", "https://example.com/a"),
]

DIFFERENT = [
    ("https://example.com/a?id=1", "https://example.com/a?id=2"),
    ("https://example.com/a?gallery=1", "https://example.com/a?gallery=2"),
    ("https://example.com/news/champ", "https://example.com/news/ch"),
    ("https://example.com/Story", "https://example.com/story"),
    ("https://news.example.com/a", "https://sport.example.com/a"),
    ("https://example.com:8080/a", "https://example.com/a"),
    ("https://amp.dev/a", "https://dev/a"),
]


@pytest.mark.parametrize(("url", "expected"), SAME)
def test_canonical_form(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_articles_keep_different_keys(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_final_url_after_redirects_wins() -> None:
    key = canonical_url(
        "https://feeds.example.net/~r/world/~3/abc",
        final_url="https://www.example.com/world/story?utm_source=feedburner",
    )
    assert key == "https://example.com/world/story"


PAGE = "https://www.example.com/news/2024/story-123?utm_source=rss"

CANONICAL_CLAIMS = [
    # the page's own canonical, on the same site: accepted
    ("https://example.com/news/story-123", "https://example.com/news/story-123"),
    ("https://amp.example.com/news/story-123/amp", "https://example.com/news/story-123"),
    ("https://edition.example.com/story-123", "https://edition.example.com/story-123"),
    ("/news/story-123", "https://example.com/news/story-123"),
    ("//example.com/news/story-123", "https://example.com/news/story-123"),
    # another site's URL: refused, the page's own address stays
    ("https://victim.org/news/story-123", "https://example.com/news/2024/story-123"),
    ("https://example.com.evil.net/news", "https://example.com/news/2024/story-123"),
    ("https://evilexample.com/news", "https://example.com/news/2024/story-123"),
    # unusable claims are ignored, not errors
    ("javascript:alert(1)", "https://example.com/news/2024/story-123"),
    ("ftp://example.com/story", "https://example.com/news/2024/story-123"),
    ("https://[broken/", "https://example.com/news/2024/story-123"),
    ("", "https://example.com/news/2024/story-123"),
]


@pytest.mark.parametrize(("claim", "expected"), CANONICAL_CLAIMS)
def test_page_canonical_only_on_the_same_site(claim: str, expected: str) -> None:
    assert canonical_url(PAGE, page_canonical=claim) == expected


def test_shared_hosting_suffixes_are_separate_sites() -> None:
    """On github.io or blogspot.com, each subdomain is its own site (private PSL suffixes)."""
    page = "https://evil.github.io/post"
    assert canonical_url(page, page_canonical="https://victim.github.io/post") == page
    assert not same_site("https://a.blogspot.com/x", "https://b.blogspot.com/x")


def test_canonical_is_checked_against_the_final_url() -> None:
    key = canonical_url(
        "https://short.link/x",
        final_url="https://www.example.com/a",
        page_canonical="https://example.com/a-canonical",
    )
    assert key == "https://example.com/a-canonical"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "example.com/a",
        "/relative/path",
        "ftp://example.com/a",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "http:/example.com",
        "https://",
        "https://:80/a",
        "http://example.com:99999/a",
        "http://example.com:abc/a",
        "http://[::1/a",
        "https://" + "a" * 5000 + ".com/",
    ],
)
def test_unusable_urls_raise_a_typed_error(url: str) -> None:
    with pytest.raises(InvalidURLError) as info:
        canonical_url(url)
    assert "not a usable URL" in str(info.value)


def test_invalid_final_url_raises() -> None:
    with pytest.raises(InvalidURLError):
        canonical_url("https://example.com/a", final_url="not a url")


URLISH = st.one_of(
    st.text(),
    st.builds(lambda rest: "http://" + rest, st.text()),
    st.builds(lambda rest: "https://" + rest, st.text(alphabet=st.characters(), max_size=60)),
    st.from_regex(r"\Ahttps?://[\w.\-\[\]:@%]{0,30}(/[\w%./?=&#\-]{0,40})?\Z"),
)


@settings(max_examples=400, deadline=None)
@given(url=URLISH, claim=st.one_of(st.none(), URLISH))
def test_any_string_gives_a_key_or_a_typed_error(url: str, claim: str | None) -> None:
    try:
        key = canonical_url(url, page_canonical=claim)
    except InvalidURLError:
        return
    assert key.startswith("https://")
    assert canonical_url(key) == key  # canonical keys are fixed points
