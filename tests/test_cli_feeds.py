"""`monitor feeds`: add, import and export OPML, discover, list with health."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.opml import parse_opml
from testkit.sites import SiteArticle, build_site
from testkit.webserver import LocalWeb


def invoke(config_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config_dir / "monitor.yaml"), *args])
    return result.exit_code, result.stdout, result.stderr


def test_add_keeps_comments_and_refuses_duplicates(config_dir: Path) -> None:
    feeds = config_dir / "feeds.yaml"
    feeds.write_text("# my feeds\nfeeds:\n  - url: https://a.example/rss  # the A wire\n")
    code, out, _ = invoke(config_dir, "feeds", "add", "https://b.example/atom", "--name", "Bé")
    assert code == 0 and "added" in out
    text = feeds.read_text()
    assert text == (
        "# my feeds\nfeeds:\n  - url: https://a.example/rss  # the A wire\n"
        '  - url: "https://b.example/atom"\n    name: "Bé"\n'
    )
    code, out, _ = invoke(config_dir, "feeds", "add", "https://b.example/atom")
    assert code == 0 and "already" in out
    assert feeds.read_text() == text


def test_add_to_an_empty_list_and_reject_a_bad_url(config_dir: Path) -> None:
    code, _, _ = invoke(config_dir, "feeds", "add", "https://c.example/rss")
    assert code == 0
    code, _, err = invoke(config_dir, "feeds", "add", "ftp://c.example/rss")
    assert code != 0 and "http" in err
    assert "ftp://" not in (config_dir / "feeds.yaml").read_text()


@pytest.mark.parametrize(
    ("layout", "added"),
    [
        (
            "feeds:\n- url: https://a.example/rss\n  name: A\n",
            '- url: "https://b.example/rss"\n  language: "de"\n',
        ),
        (
            "feeds:\n    -   url: 'https://a.example/rss'\n        name: \"A\"\n",
            '    -   url: "https://b.example/rss"\n        language: "de"\n',
        ),
        ("feeds: []\n", 'feeds:\n  - url: "https://b.example/rss"\n    language: "de"\n'),
        ("feeds:\n", 'feeds:\n  - url: "https://b.example/rss"\n    language: "de"\n'),
        ("# none yet\n", '# none yet\nfeeds:\n  - url: "https://b.example/rss"\n'),
        ("feeds: [{url: 'https://a.example/rss'}]\n", '{url: "https://b.example/rss", language'),
    ],
    ids=["unindented", "wide", "empty-flow", "null", "comment-only", "flow"],
)
def test_add_keeps_any_valid_layout(config_dir: Path, layout: str, added: str) -> None:
    feeds = config_dir / "feeds.yaml"
    feeds.write_text(layout)
    code, _, err = invoke(config_dir, "feeds", "add", "https://b.example/rss", "--language", "de")
    assert code == 0, err
    text = feeds.read_text()
    assert added in text
    if layout.startswith("feeds:\n-") or layout.startswith("feeds:\n  "):
        assert text.startswith(layout)
    code, out, _ = invoke(config_dir, "check")
    assert code == 0, out
    code, out, _ = invoke(config_dir, "feeds", "list", "--json")
    assert [json.loads(line)["url"] for line in out.splitlines()][-1] == "https://b.example/rss"


@pytest.mark.parametrize("layout", ["feeds: []\n", "feeds:\n- url: https://a.example/rss\n"])
def test_a_refused_add_leaves_the_file_byte_for_byte(config_dir: Path, layout: str) -> None:
    feeds = config_dir / "feeds.yaml"
    feeds.write_text(layout)
    code, _, err = invoke(config_dir, "feeds", "add", "not a url")
    assert code != 0
    assert "was not changed" in err and "url" in err
    assert feeds.read_text() == layout
    assert sorted(p.name for p in config_dir.iterdir() if p.name.startswith(".feeds")) == []
    code, _, err = invoke(config_dir, "check")
    assert code == 0, err


def test_import_into_an_unindented_list(config_dir: Path, tmp_path: Path) -> None:
    feeds = config_dir / "feeds.yaml"
    feeds.write_text("# ours\nfeeds:\n- url: https://a.example/rss  # keep\n")
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        '<outline text="Wire" xmlUrl="https://w.example/rss"/></body></opml>'
    )
    code, out, err = invoke(config_dir, "feeds", "import", str(opml))
    assert code == 0, err
    assert "imported 1 feed into" in out
    assert feeds.read_text() == (
        "# ours\nfeeds:\n- url: https://a.example/rss  # keep\n"
        '- url: "https://w.example/rss"\n  name: "Wire"\n'
    )


def test_import_then_export_round_trips(config_dir: Path, tmp_path: Path) -> None:
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        '<outline text="Korea"><outline text="Wire" xmlUrl="https://w.example/rss"/>'
        '<outline text="Daily" xmlUrl="https://d.example/feed"/></outline></body></opml>'
    )
    code, out, _ = invoke(config_dir, "feeds", "import", str(opml))
    assert code == 0 and "imported 2 feeds" in out
    code, out, _ = invoke(config_dir, "feeds", "import", str(opml))
    assert "imported 0 feeds" in out
    code, out, _ = invoke(config_dir, "feeds", "export")
    assert code == 0
    exported = parse_opml(out.encode())
    assert [(f.url, f.name) for f in exported] == [
        ("https://w.example/rss", "Wire"),
        ("https://d.example/feed", "Daily"),
    ]


def test_discover_lists_the_feeds_a_site_announces(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    site = build_site(web, devset_articles[:3], feeds=2)
    code, out, _ = invoke(config_dir, "feeds", "discover", site.home_url)
    assert code == 0
    for url in site.feed_urls:
        assert url in out
    web.route("/plain", "<html><body>nothing here</body></html>")
    code, _, err = invoke(config_dir, "feeds", "discover", web.url("/plain"))
    assert code == 1 and "no feeds found" in err


@pytest.mark.parametrize("as_json", [False, True])
def test_list_shows_health_before_and_after_a_poll(
    config_dir: Path, web: LocalWeb, as_json: bool
) -> None:
    web.route("/gone.xml", "gone", status=410)
    invoke(config_dir, "feeds", "add", web.url("/gone.xml"), "--name", "Gone Daily")
    args = ["feeds", "list", *(["--json"] if as_json else [])]
    code, before, _ = invoke(config_dir, *args)
    assert code == 0 and "new" in before
    invoke(config_dir, "poll", "--once")
    code, after, _ = invoke(config_dir, *args)
    if as_json:
        (row,) = [json.loads(line) for line in after.splitlines()]
        assert row["health"] == "gone" and row["last_status"] == 410
        assert "Gone" in row["last_error"]
    else:
        header, row, error = after.splitlines()
        assert header.split() == [
            "HEALTH",
            "STATUS",
            "LAST",
            "SUCCESS",
            "(UTC)",
            "NEXT",
            "POLL",
            "(UTC)",
            "NAME",
            "URL",
        ]
        assert row.split()[:3] == ["gone", "410", "-"]  # never a success
        assert row.index("Gone Daily") == header.index("NAME")
        assert row.endswith(web.url("/gone.xml")) and "Gone" in error
