"""An Atom feed of one topic's stories: one entry per story, its best article as the link.

`render_atom` is pure; `write_topic_feeds` writes one file per topic, atomically
(a temporary file renamed into place), so a reader never sees half a feed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from monitor.config import Config
from monitor.digest.group import entry, safe_url
from monitor.models import StoredItem, utcnow
from monitor.storage import digests as db
from monitor.storage.store import Store
from monitor.text import clean_line

ATOM = "http://www.w3.org/2005/Atom"
MAX_STORIES = 100


def render_atom(
    topic_id: str, topic_name: str, items: Sequence[StoredItem], now: datetime
) -> bytes:
    """The Atom document for ``items`` (newest first), one entry per story."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", f"tag:monitor,2026:topic:{topic_id}")
    _text(feed, "title", f"monitor: {clean_line(topic_name, 200)}")
    _text(feed, "updated", (max((i.fetched_at for i in items), default=now)).isoformat())
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "monitor")
    stories: dict[int, list[StoredItem]] = {}
    for item in items:  # newest first, so stories come in order of their latest report
        stories.setdefault(item.story_id, []).append(item)
    for members in list(stories.values())[:MAX_STORIES]:
        lead = max(members, key=lambda i: (i.score, -i.article_id))
        _entry(feed, lead, max(i.fetched_at for i in members))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _entry(feed: ET.Element, item: StoredItem, updated: datetime) -> None:
    shown = entry(item)
    node = ET.SubElement(feed, f"{{{ATOM}}}entry")
    _text(node, "id", f"tag:monitor,2026:story:{item.story_id}")
    _text(node, "title", shown.title)
    _text(node, "updated", updated.isoformat())
    if item.published:
        _text(node, "published", item.published.isoformat())
    url = safe_url(item.url)
    if url:
        ET.SubElement(node, f"{{{ATOM}}}link", rel="alternate", href=url)
    author = ET.SubElement(node, f"{{{ATOM}}}author")
    _text(author, "name", shown.outlet or "unknown")
    summary = "".join(segment.text for segment in shown.snippet)
    why = ", ".join(shown.terms)
    _text(node, "summary", f"{summary}\n\nWhy: {why}" if why else summary)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = _xml_safe(value)


def _xml_safe(value: str) -> str:
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)


def topic_feed(store: Store, config: Config, topic_id: str) -> bytes:
    names = {t.id: t.name or t.id for t in config.topics}
    items = db.topic_items(store, topic_id, MAX_STORIES * 5)
    return render_atom(topic_id, names.get(topic_id, topic_id), items, utcnow())


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_topic_feeds(store: Store, config: Config) -> list[Path]:
    """``<atom_dir>/<topic>.xml`` for every topic; the paths written."""
    folder = config.settings.digest.atom_dir
    if not folder:
        return []
    base = Path(folder)  # absolute: `load_config` anchors it
    written = []
    for topic in config.topics:
        path = base / f"{topic.id}.xml"
        write_atomically(path, topic_feed(store, config, topic.id))
        written.append(path)
    return written
