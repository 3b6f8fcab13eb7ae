"""A hostile server against the real pipeline.

Every attack runs one pass of the real pipeline (`poll_once`: real HTTP client,
parser, extraction workers, the pass's database) over a config with one good local site feed
and one hostile feed on the same loopback server, then checks that the hostile
feed's health and error are recorded, that every article of the good feed was
stored all the same, and whatever the attack was after (a file, an internal URL,
memory) was not had.
"""

from __future__ import annotations

import gzip
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from monitor.models import FeedRecord
from monitor.pipeline import feeds as feed_rules
from monitor.runtime.daemon import build_scheduler
from monitor.storage.store import Store
from testkit.db import query
from testkit.sites import SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_pipeline import configure, poll_once

FILE_SECRET = "FILE-SECRET-7f3a9c"
NET_SECRET = "NETWORK-SECRET-51be02"
RSS = "application/rss+xml; charset=utf-8"


def rss(items: list[str], prolog: str = "", declaration: str = "utf-8") -> str:
    return (
        f"<?xml version='1.0' encoding='{declaration}'?>{prolog}<rss version='2.0'><channel>"
        "<title>Hostile</title><link>http://127.0.0.1/</link>" + "".join(items) + "</channel></rss>"
    )


def item(title: str, guid: str, link: str | None = None, extra: str = "") -> str:
    link_tag = f"<link>{link}</link>" if link else ""
    return (
        f"<item><title>{title}</title><guid>{guid}</guid>{link_tag}"
        f"<description>{title}: what the feed says about it.</description>{extra}</item>"
    )


@dataclass(frozen=True)
class Env:
    web: LocalWeb
    tmp: Path


@dataclass(frozen=True)
class Attack:
    install: Callable[[Env], str]  # serves the hostile feed; returns its path
    health: str
    error: str | None  # a substring of the feed's recorded error; None: no error
    status: int | None = None
    http: dict[str, object] = field(default_factory=dict)
    polls: int = 1
    extraction: dict[str, object] = field(default_factory=dict)


def static(body: str | bytes, content_type: str = RSS, **kw: object) -> Callable[[Env], str]:
    def install(env: Env) -> str:
        env.web.route("/hostile/feed", body, content_type=content_type, **kw)  # type: ignore[arg-type]
        return "/hostile/feed"

    return install


def fault(kind: str, **params: object) -> Callable[[Env], str]:
    def install(env: Env) -> str:
        env.web.fault("/hostile/feed", kind, **params)
        return "/hostile/feed"

    return install


def billion_laughs() -> str:
    entities = "<!ENTITY lol0 'lol'>" + "".join(
        f"<!ENTITY lol{i} '{f'&lol{i - 1};' * 10}'>" for i in range(1, 10)
    )
    return rss([item("&lol9;", "laughs")], f"<!DOCTYPE rss [{entities}]>")


def external_entities(env: Env) -> str:
    secret = env.tmp / "secret.txt"
    secret.write_text(FILE_SECRET, encoding="utf-8")
    env.web.route("/secret", NET_SECRET, content_type="text/plain")
    prolog = (
        f"<!DOCTYPE rss [<!ENTITY file SYSTEM '{secret.as_uri()}'>"
        f"<!ENTITY net SYSTEM '{env.web.url('/secret')}'>]>"
    )
    body = rss([item("file &file; net &net;", "xxe-1"), item("plain", "xxe-2")], prolog)
    env.web.route("/hostile/feed", body, content_type=RSS)
    return "/hostile/feed"


def many_items(count: int) -> str:
    return rss([f"<item><title>Item {i}</title><guid>n-{i}</guid></item>" for i in range(count)])


def unclosed_comments() -> str:
    """A description of unclosed HTML comments: feedparser's sanitizer is quadratic in
    them (240 kB: 6 s; 1 MB: minutes), so only the sandbox's time limit stops it."""
    description = "<![CDATA[" + "<!-- c" * 40_000 + "]]>"
    return rss(
        [
            f"<item><title>Comments</title><guid>c-1</guid>"
            f"<description>{description}</description></item>"
        ]
    )


ODD_PATHS = ["/a\u009b31mred", "/\u202eexe.txt", "/a b"]  # C1 CSI, bidi override, space
CONTROL_PATHS = ["/a\x1bb", "/a\x7fb"]  # ESC and DEL: XML 1.0 forbids them, raw or escaped
BAD_HOSTS = [
    "http://xn--zz.example/",
    "http://\u2028x.example/",
    "http://a..b/x",
    "http://xn--.com/",
]


def links_feed(paths: list[str], hosts: list[str]) -> Callable[[Env], str]:
    """Entries whose links carry odd characters or hosts IDNA refuses, and one good
    entry; every one must be stored and the feed must say what was wrong."""

    def install(env: Env) -> str:
        links = [env.web.url("/hostile") + path for path in paths] + hosts
        env.web.route(
            "/hostile/good", "<html><body><p>fine</p></body></html>", content_type="text/html"
        )
        items = [item(f"Bad link {i}", f"bad-{i}", link) for i, link in enumerate(links)]
        items.append(item("Good link", "good-1", env.web.url("/hostile/good")))
        env.web.route("/hostile/feed", rss(items), content_type=RSS)
        return "/hostile/feed"

    return install


HIDDEN = "\u202e\u2066\u200b\ufeff\u2060\ufffe\uffff"  # bidi, zero-width, noncharacters


def invisible_characters(env: Env) -> str:
    """Titles and an author carrying what disguises text or breaks XML.

    U+FFFE and U+FFFF make the feed ill-formed, so feedparser's loose parser reads it,
    as it would read a real one."""
    page = (
        "<html><head><title>Page</title></head><body><article>"
        f"<p>{'A page of plain words. ' * 40}</p></article></body></html>"
    )
    env.web.route("/hostile/page", page, content_type="text/html")
    items = [
        item(f"Title{HIDDEN} one", "hidden-1", env.web.url("/hostile/page")),
        item(f"Ti{HIDDEN}tle two", "hidden-2", extra=f"<author>Ann{HIDDEN}e</author>"),
    ]
    env.web.route("/hostile/feed", rss(items), content_type=RSS)
    return "/hostile/feed"


def huge_author() -> str:
    author = "A" * 10_000_000
    return rss([item("Big author", "author-1", extra=f"<author>{author}</author>")])


def link_to(kind: str, **params: object) -> Callable[[Env], str]:
    """A valid feed whose one entry links to a hostile page."""

    def install(env: Env) -> str:
        env.web.fault("/hostile/page", kind, **params)
        link = env.web.url("/hostile/page")
        env.web.route(
            "/hostile/feed", rss([item("Hostile page", "page-1", link)]), content_type=RSS
        )
        return "/hostile/feed"

    return install


def pdf_page(env: Env) -> str:
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    env.web.route("/hostile/doc.pdf", pdf, content_type="application/pdf")
    link = env.web.url("/hostile/doc.pdf")
    env.web.route("/hostile/feed", rss([item("Hostile page", "pdf-1", link)]), content_type=RSS)
    return "/hostile/feed"


def redirect_to(target: Callable[[Env], str]) -> Callable[[Env], str]:
    def install(env: Env) -> str:
        env.web.fault("/hostile/feed", "redirect", to=target(env))
        return "/hostile/feed"

    return install


def retry_after(status: int, value: Callable[[], str]) -> Callable[[Env], str]:
    def install(env: Env) -> str:
        env.web.fault("/hostile/feed", "status", status=status, headers={"Retry-After": value()})
        return "/hostile/feed"

    return install


def in_three_hours() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)


LOOPBACK_ONLY_BY_NAME = {"allow_private_networks": False, "allowed_hosts": ["127.0.0.1"]}
PAGE_ERROR = "page"  # marker: the feed is fine, its article page is the attack

ATTACKS: dict[str, Attack] = {
    "billion-laughs": Attack(static(billion_laughs()), "degraded", "amplification"),
    "external-entities": Attack(external_entities, "ok", None),
    "truncated-xml": Attack(
        static(rss([item("one", "t-1"), item("two", "t-2")])[:-40]), "degraded", "malformed"
    ),
    "html-not-feed": Attack(
        static("<!DOCTYPE html><html><body><p>Hi</p></body></html>", "text/html"),
        "failing",
        "HTML page",
    ),
    "empty-body": Attack(fault("empty"), "failing", "empty"),
    "wrong-charset": Attack(
        static(rss([item("Ünïcödé ✓ façade", "cs-1")], declaration="us-ascii").encode()),
        "ok",
        None,
    ),
    "nul-bytes": Attack(static(rss([item("nul\x00here", "nul-1")])), "degraded", "malformed"),
    "100k-items": Attack(static(many_items(100_000)), "degraded", "100000 items"),
    "unclosed-comments": Attack(
        static(unclosed_comments()),
        "failing",
        "parsing the feed took longer than 1 s",
        extraction={"timeout_seconds": 1},
    ),
    "bad-links": Attack(
        links_feed(ODD_PATHS, BAD_HOSTS),
        "degraded",
        "4 of 8 new entries link to URLs that cannot be fetched (first: http://xn--zz.example/",
    ),
    "control-characters-in-links": Attack(
        links_feed(CONTROL_PATHS, []), "degraded", "malformed feed: "
    ),
    "invisible-characters": Attack(invisible_characters, "degraded", "malformed feed: "),
    "10mb-author": Attack(static(huge_author()), "ok", None, http={"max_body_bytes": 12_000_000}),
    "gzip-bomb": Attack(fault("gzip_bomb"), "failing", "decoded body over"),
    "endless-chunked": Attack(fault("endless"), "failing", "decoded body over"),
    "trickle": Attack(
        fault("slow", rate=1), "failing", "no complete response", http={"deadline": 2}
    ),
    "reset-mid-body": Attack(fault("reset", size=100_000, after=2000), "failing", "ReadError"),
    "redirect-loop": Attack(fault("redirect_loop"), "failing", "more than 5 redirects"),
    "redirect-metadata": Attack(
        redirect_to(lambda env: "http://169.254.169.254/latest/meta-data/"),
        "failing",
        "metadata",
    ),
    "redirect-mapped-loopback": Attack(
        redirect_to(lambda env: f"http://[::ffff:127.0.0.1]:{env.web.port}/hostile/inner"),
        "failing",
        "not a public address",
        http=LOOPBACK_ONLY_BY_NAME,
    ),
    "429-seconds": Attack(retry_after(429, lambda: "7200"), "failing", "Too Many", 429),
    "429-date": Attack(retry_after(429, in_three_hours), "failing", "Too Many", 429),
    "429-garbage": Attack(retry_after(429, lambda: "soon, maybe"), "failing", "Too Many", 429),
    "503-seconds": Attack(retry_after(503, lambda: "7200"), "failing", "Unavailable", 503),
    "503-date": Attack(retry_after(503, in_three_hours), "failing", "Unavailable", 503),
    "503-garbage": Attack(retry_after(503, lambda: "-5"), "failing", "Unavailable", 503),
    "410-gone": Attack(fault("status", status=410), "gone", "Gone", 410),
    "500-flapping": Attack(
        fault("flapping", body=rss([item("flap", "flap-1")])), "ok", None, 200, polls=2
    ),
    "pdf-page": Attack(pdf_page, "ok", None),
    "50mb-page": Attack(link_to("reset", size=50 * 1024 * 1024, after=0), "ok", None),
}
PAGE_ATTACKS = {"pdf-page": "", "50mb-page": "Content-Length"}


def write_settings(config_dir: Path, section: str, values: dict[str, object]) -> None:
    path = config_dir / "monitor.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings[section] = {**settings.get(section, {}), **values}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def stored_text(database_url: str) -> str:
    rows = query(
        database_url,
        "SELECT coalesce(title,''), coalesce(text,''), coalesce(author,''), outlet FROM articles",
    )
    feeds = query(database_url, "SELECT coalesce(title,''), coalesce(last_error,'') FROM feeds")
    return "\n".join("\n".join(row) for row in [*rows, *feeds])


@pytest.mark.parametrize("name", list(ATTACKS))
def test_hostile_feed_is_contained(
    name: str,
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    database_url: str,
    tmp_path: Path,
) -> None:
    attack = ATTACKS[name]
    good = build_site(web, devset_articles[:2], feeds=1, prefix="/good")
    hostile_url = web.url(attack.install(Env(web, tmp_path)))
    write_settings(config_dir, "http", attack.http)
    write_settings(config_dir, "extraction", attack.extraction)
    config = configure(config_dir, [good.feed_urls[0], hostile_url], database_url)
    before = datetime.now(UTC)
    for _ in range(attack.polls):
        summary = poll_once(config)

    store = Store.open(database_url)
    try:
        record = store.feed(hostile_url)
        articles = store.articles(include_all=True)
        good_record = store.feed(good.feed_urls[0])
    finally:
        store.close()
    assert record is not None and good_record is not None
    state = record.state
    assert state.health == attack.health, state
    if attack.error is None:
        assert state.last_error is None, state.last_error
    else:
        assert attack.error.lower() in (state.last_error or "").lower(), state.last_error
    if attack.status is not None:
        assert state.last_status == attack.status
    assert good_record.state.health == "ok"
    titles = {view.title for view in articles}
    assert {a.title for a in devset_articles[:2]} <= titles
    assert summary.feeds == 2
    _check_specifics(name, state, before, articles, web, database_url)


def _check_specifics(
    name: str,
    state: feed_rules.FeedState,
    before: datetime,
    articles: list,  # type: ignore[type-arg]
    web: LocalWeb,
    database_url: str,
) -> None:
    text = stored_text(database_url)
    assert "\x00" not in text
    if name == "external-entities":
        assert web.count("/secret") == 0
        assert FILE_SECRET not in text and NET_SECRET not in text
        assert any(view.title.startswith("file") for view in articles)
    if name == "100k-items":
        hostile = [v for v in articles if v.title.startswith("Item ")]
        assert len(hostile) == 200  # polling.max_entries_per_pass
    if name == "10mb-author":
        [(length,)] = query(
            database_url, "SELECT max(length(author)) FROM articles WHERE title = 'Big author'"
        )
        assert 0 < length <= 300
    if name == "redirect-mapped-loopback":
        assert web.count("/hostile/inner") == 0
    if name.endswith(("-seconds", "-date")):
        assert state.next_poll_at is not None
        assert state.next_poll_at - before >= timedelta(hours=1, minutes=50)
    if name.endswith("-garbage"):
        assert state.next_poll_at is not None
        assert state.next_poll_at - before < timedelta(hours=1)
    if name == "500-flapping":
        assert state.consecutive_failures == 0
        assert any(view.title == "flap" for view in articles)
    if name in ("bad-links", "control-characters-in-links"):
        bad = [v for v in articles if v.title.startswith("Bad link ")]
        assert len(bad) == (len(ODD_PATHS) + len(BAD_HOSTS) if name == "bad-links" else 2)
        assert all(view.extract_error for view in bad), bad
        assert any(v.title == "Good link" for v in articles)
        assert web.count("/hostile/good") == 1
        shown = "".join(v.url for v in articles)
        assert not any(0x7F <= ord(c) <= 0x9F or c in "\x1b\u202e\u2028" for c in shown)
    if name == "invisible-characters":
        views = {v.title: v for v in articles if v.title.startswith("Ti")}
        assert set(views) == {"Title one", "Title two"}, views
        # Body text keeps U+200B: Thai, Khmer and Burmese mark word breaks with it.
        assert not any(c in text for c in HIDDEN.replace("\u200b", ""))
        assert all("\u200b" not in f"{v.title}{v.outlet}" for v in articles)
    if name in PAGE_ATTACKS:
        (view,) = [v for v in articles if v.title == "Hostile page"]
        assert view.extract_error, view
        assert PAGE_ATTACKS[name] in view.extract_error
        assert view.text_chars == len("Hostile page: what the feed says about it.")


WORST_FEEDS = {"100k-items": many_items(100_000), "10mb-author": huge_author()}


@pytest.mark.parametrize("name", list(WORST_FEEDS))
def test_parsing_the_worst_feeds_stays_within_memory(name: str, tmp_path: Path) -> None:
    """Peak RSS of a fresh interpreter parsing the fixture (the daemon would parse it)."""
    feed = tmp_path / "feed.xml.gz"
    feed.write_bytes(gzip.compress(WORST_FEEDS[name].encode(), 1))
    script = (
        "import gzip, resource, sys\n"
        "from monitor.pipeline.parse import parse_feed\n"
        "body = gzip.decompress(open(sys.argv[1], 'rb').read())\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "feed = parse_feed(body, 'http://127.0.0.1/feed.xml', 'application/rss+xml')\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(len(feed.entries), base // 1024, peak // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(feed)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    entries, base_mb, peak_mb = map(int, done.stdout.split())
    assert entries >= 1
    assert peak_mb - base_mb < 150, (base_mb, peak_mb)


# --- feed rules behind the attacks ---------------------------------------------


def test_permanent_redirect_moves_the_feed_after_three_polls_in_a_row() -> None:
    state = feed_rules.FeedState()
    state = feed_rules.after_redirect(state, "http://b/")
    state = feed_rules.after_redirect(state, "http://c/")  # elsewhere: the count restarts
    assert (state.redirect_target, state.redirect_count) == ("http://c/", 1)
    state = feed_rules.after_redirect(state, "http://c/")
    assert state.moved_to is None
    state = feed_rules.after_redirect(state, "http://c/")
    assert state.moved_to == "http://c/" and state.redirect_count == 0
    assert feed_rules.after_redirect(state, None).moved_to == "http://c/"


def test_a_poll_without_redirect_resets_the_count() -> None:
    state = feed_rules.after_redirect(feed_rules.FeedState(), "http://b/")
    state = feed_rules.after_redirect(state, "http://b/")
    state = feed_rules.after_redirect(state, None)
    assert (state.redirect_target, state.redirect_count, state.moved_to) == (None, 0, None)


def test_a_moved_feed_is_polled_at_its_new_address(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:2], feeds=1)
    new_path = site.feed_urls[0].removeprefix(web.base_url)
    web.fault("/old/feed.xml", "redirect", to=new_path, status=301)
    old = web.url("/old/feed.xml")
    config = configure(config_dir, [old], database_url)
    seen = []
    for _ in range(4):
        poll_once(config)
        seen.append(_record(database_url, old).state)
    assert [s.redirect_count for s in seen[:2]] == [1, 2]
    assert seen[2].moved_to == site.feed_urls[0] and seen[3].moved_to == site.feed_urls[0]
    assert web.count("/old/feed.xml") == 3  # the fourth poll went straight to the new URL


def test_a_feed_renumbering_every_guid_is_capped_per_day(
    config_dir: Path,
    web: LocalWeb,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_POLLING__MAX_NEW_ENTRIES_PER_DAY", "25")
    config = configure(config_dir, [web.url("/flood.xml")], database_url)
    for round_ in range(3):
        items = [
            f"<item><title>T{round_}-{i}</title><guid>{round_}-{i}</guid></item>" for i in range(20)
        ]
        web.route("/flood.xml", rss(items), content_type=RSS)
        poll_once(config)
    record = _record(database_url, web.url("/flood.xml"))
    store = Store.open(database_url)
    try:
        assert store.counts()["entries"] == 25
    finally:
        store.close()
    assert record.state.health == "degraded"
    assert "daily cap of 25" in (record.state.last_error or "")


def test_scheduler_coalesces_missed_runs_after_a_clock_jump(
    config_dir: Path, web: LocalWeb, database_url: str
) -> None:
    """A jump forward must give one run per feed, not one per missed interval."""
    from monitor.config import load_config

    configure(config_dir, [web.url("/a.xml"), web.url("/b.xml")], database_url)
    config = load_config(config_dir / "monitor.yaml")
    store = Store.open(database_url)

    work = SimpleNamespace(pipeline=SimpleNamespace(store=store, config=config))
    try:
        scheduler = build_scheduler(work, config)  # type: ignore[arg-type]
        jobs = [job for job in scheduler.get_jobs() if job.id.startswith("poll:")]
    finally:
        store.close()
    assert len(jobs) == 2
    for job in jobs:
        assert job.coalesce is True and job.max_instances == 1
        interval = job.trigger.interval.total_seconds()
        assert 0 < job.misfire_grace_time <= interval


def _record(database_url: str, url: str) -> FeedRecord:
    store = Store.open(database_url)
    try:
        record = store.feed(url)
    finally:
        store.close()
    assert record is not None
    return record


@pytest.mark.sqlite_only("another process holding the SQLite write lock")
def test_a_locked_database_fails_the_poll_and_the_next_poll_recovers(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process holding the write lock: the poll is recorded as failed, not raised."""
    import asyncio

    from monitor.jobs import Work
    from monitor.pipeline.match import build_matcher
    from monitor.runtime.daemon import poll_feed_job
    from monitor.runtime.resources import open_pipeline
    from monitor.storage import engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_MS", 200)
    site = build_site(web, devset_articles[:2], feeds=1)
    config = configure(config_dir, site.feed_urls, sqlite_url)
    matcher = build_matcher(config.topics, config.term_lists)
    db = Path(sqlite_url.removeprefix("sqlite:///"))

    async def go() -> tuple[str, str | None, int]:
        async with open_pipeline(config, matcher) as pipeline:
            pipeline.store.sync_feeds(config.feeds)
            record = pipeline.store.feed(site.feed_urls[0])
            assert record is not None
            blocker = sqlite3.connect(db, timeout=0.1)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                locked = await pipeline.poll_feed(record)
                await poll_feed_job(Work.of(pipeline), site.feed_urls[0])  # logs, never raises
            finally:
                blocker.rollback()
                blocker.close()
            recovered = await pipeline.poll_feed(record)
            return locked.outcome, locked.error, recovered.articles_stored

    outcome, error, stored_after = asyncio.run(go())
    assert outcome == "failed"
    assert "locked" in (error or "")
    assert stored_after == 2
