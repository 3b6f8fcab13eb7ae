"""Feed parsing: bare feedparser against `parse_feed` (fastfeedparser, feedparser fallback).

    .venv/bin/python -m bench.bench_parse [--feeds 200] [--repeat 3]

Both run in the same invocation on the same RSS 2.0 documents of 20–50 items, written
by `testkit.syndication.render_feed` from the dev set and synthetic articles, with the
summaries cut as the benchmarks' news sites cut them (`testkit.news_site`).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import feedparser

from monitor.pipeline.parse import parse_feed
from testkit.articles import article_sources
from testkit.news_site import SUMMARY_CHARS
from testkit.syndication import FeedDoc, render_feed


def make_feeds(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    articles = article_sources(400, seed=seed)
    feeds = []
    for number in range(count):
        size = rng.randint(20, 50)
        items = [
            (
                articles[index],
                f"urn:bench:{number}:{index}",
                f"http://127.0.0.1:8080/o{number}/a{index:06d}.html?utm_source=rss",
            )
            for index in rng.sample(range(len(articles)), size)
        ]
        items.sort(key=lambda item: item[0].published, reverse=True)
        home = "http://127.0.0.1:8080/"
        doc = FeedDoc("rss2", "http://x/f", f"Outlet {number}", home, items, SUMMARY_CHARS)
        feeds.append(render_feed(doc)[0])
    return feeds


def rate(parse: Callable[[bytes, str], object], feeds: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for body in feeds:
            parse(body, "http://127.0.0.1:8080/feed.xml")
        best = min(best, time.perf_counter() - start)
    return len(feeds) / best


def bare_feedparser(body: bytes, url: str) -> object:
    return feedparser.parse(body, response_headers={"content-location": url}, sanitize_html=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    feeds = make_feeds(args.feeds)
    items = sum(body.count(b"<item>") for body in feeds)
    baseline = rate(bare_feedparser, feeds, args.repeat)
    ours = rate(parse_feed, feeds, args.repeat)
    print(f"{len(feeds)} feeds, {items / len(feeds):.1f} items each, best of {args.repeat}")
    print(f"{'parser':<32}{'feeds/s':>10}{'items/s':>11}")
    for name, value in (("feedparser (bare)", baseline), ("monitor parse_feed", ours)):
        print(f"{name:<32}{value:>10.1f}{value * items / len(feeds):>11.0f}")
    print(f"ratio parse_feed / feedparser: {ours / baseline:.1f}x")


if __name__ == "__main__":
    main()
