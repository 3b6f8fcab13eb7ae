"""Pytest fixtures for the local web server; load with
``pytest_plugins = ["tests.support.fixtures"]`` in ``tests/conftest.py``.

- ``web``: a fresh `LocalWeb` for one test.
- ``web_session``: one `LocalWeb` shared by the whole session. It is cheaper, but
  tests sharing it must use paths of their own and count requests per path.
- ``web_factory``: make more servers in one test (e.g. one per outlet host).
- ``devset_articles``: the topic dev set as `SiteArticle` values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from testkit.articles import SiteArticle, load_devset_articles
from testkit.webserver import LocalWeb


@pytest.fixture
def web() -> Iterator[LocalWeb]:
    with LocalWeb() as server:
        yield server


@pytest.fixture(scope="session")
def web_session() -> Iterator[LocalWeb]:
    with LocalWeb() as server:
        yield server


@pytest.fixture
def web_factory() -> Iterator[Callable[[], LocalWeb]]:
    servers: list[LocalWeb] = []

    def make() -> LocalWeb:
        servers.append(LocalWeb())
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def devset_articles() -> list[SiteArticle]:
    return load_devset_articles()
