"""What every command shares: the loaded configuration, on first use.

The configuration, the matcher and the store are imported on first use, so that
``monitor --help`` loads neither pydantic nor SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.models import ExtractedPage
    from monitor.pipeline.match import Matcher
    from monitor.storage.store import Store

EXIT_CONFIG = 2

metrics_option = click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    default=None,
    help="Serve /metrics and /healthz here (default: metrics.listen in the settings).",
)


@dataclass
class CliContext:
    config_path: str | None
    log_format: str | None = None
    verbose: bool = False
    _config: Config | None = field(default=None, init=False, repr=False)
    _matcher: Matcher | None = field(default=None, init=False, repr=False)

    def config(self) -> Config:
        """The validated configuration; exits with status 2 listing every problem."""
        if self._config is None:
            from monitor.config import load_config

            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                raise SystemExit(EXIT_CONFIG) from exc
        return self._config

    def setup_logging(self, *, quiet: bool = False) -> None:
        """Configure logs from the settings, the ``--log-format`` flag and ``-v``."""
        from monitor.log import configure_logging

        settings = self.config().settings.logging
        level = "debug" if self.verbose else ("warning" if quiet else settings.level)
        configure_logging(level, self.log_format or settings.format)

    def store(self) -> Store:
        """The configured store, migrated to the current schema. It must exist: the
        commands that use it never create a database (`monitor run` and `monitor db
        upgrade` do). A `StorageError` ends the command through `main`'s handler."""
        from monitor.storage.store import Store

        return Store.open(self.config().settings.database.url, create=False)

    def store_if_exists(self) -> Store | None:
        """`store`, for the commands that list the configuration with what is stored about
        it (`feeds list`, `topics list`): None while there is no database, so a fresh
        install lists its feeds and topics, and still nothing is created."""
        from monitor.errors import DatabaseMissingError

        try:
            return self.store()
        except DatabaseMissingError:
            return None

    def fetch_page(self, url: str) -> tuple[bytes, str]:
        """One page through the pipeline's HTTP module: (body, final URL); `FetchError` else."""
        import asyncio

        from monitor.pipeline.fetch import Fetcher

        async def fetch() -> tuple[bytes, str]:
            async with Fetcher(self.config().settings.http) as fetcher:
                result = await fetcher.get(url, accept="text/html, */*;q=0.5")
            return result.body, result.final_url

        return asyncio.run(fetch())

    def extract_page(self, body: bytes, url: str) -> ExtractedPage:
        """A page's text as the pipeline extracts it: in a worker process, within the
        configured time and memory limits; `ExtractError` else."""
        import asyncio

        from monitor.pipeline.sandbox import Sandbox

        limits = self.config().settings.extraction

        async def extract() -> ExtractedPage:
            # Closed inside the loop: the worker's streams belong to it.
            sandbox = Sandbox(1, limits.timeout_seconds, limits.memory_mb)
            try:
                return await sandbox.extract(body, url)
            finally:
                sandbox.close()

        return asyncio.run(extract())

    def matcher(self) -> Matcher:
        """The compiled topics; exits with status 2 when a query is wrong."""
        if self._matcher is None:
            from monitor.pipeline.match import build_matcher

            config = self.config()
            try:
                self._matcher = build_matcher(config.topics, config.term_lists, config.topics_path)
            except ConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                raise SystemExit(EXIT_CONFIG) from exc
        return self._matcher


pass_context = click.make_pass_decorator(CliContext)
