"""The sample digest's HTML as a mail client would draw it: a PNG from headless Chromium.

``SAVE_DIGEST_PNG=1`` also copies the picture to ``docs/digest.png`` for the README.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.digest.compose import Footer
from monitor.models import FeedProblem
from tests.test_digest_compose import sample_message, text_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.chromium
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
)
def test_the_sample_digest_renders_to_a_picture(tmp_path: Path) -> None:
    page = tmp_path / "digest.html"
    since = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    footer = Footer(
        feed_problems=(
            FeedProblem("https://a.example/rss", "Outlet A", "failing", since, "HTTP 503"),
            FeedProblem("https://b.example/rss", "Outlet B", "stale", since, None),
        )
    )
    page.write_text(text_of(sample_message(footer=footer), "html"), encoding="utf-8")
    picture = tmp_path / "digest.png"
    assert CHROMIUM is not None, "Debian's chromium is not installed: apt-get install chromium"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={picture}",
            "--window-size=900,1400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (900, 1400)
    assert len(data) > 20_000  # a drawn page, not a blank one
    if os.environ.get("SAVE_DIGEST_PNG"):
        DOCS.mkdir(exist_ok=True)
        shutil.copy(picture, DOCS / "digest.png")
