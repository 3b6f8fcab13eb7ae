"""`monitor` with counters: which feed responses reached the feed parser (bench only).

Runs the `monitor` command line in this process after wrapping two functions, without
changing them: `Fetcher.get` (each response's URL, status and whether the request was
conditional) and `Sandbox.parse_feed`, through which the pipeline parses every feed (in a
worker process). At exit it writes what it saw to
the JSON file named by ``MONITOR_PROBE_OUT``::

    MONITOR_PROBE_OUT=/tmp/probe.json .venv/bin/python bench/monitor_probe.py \\
        --config DIR/monitor.yaml poll --once --json

The wrappers cost a dictionary update per call; the poll benchmark runs `monitor`
through this script so it can check that no 304 and no unchanged body is parsed.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any


def install() -> dict[str, Any]:
    import monitor.pipeline.fetch as fetch_module
    import monitor.pipeline.sandbox as sandbox_module

    seen: dict[str, Any] = {"responses": [], "parsed": []}
    if not hasattr(sandbox_module.Sandbox, "parse_feed"):
        raise SystemExit("monitor_probe: the pipeline no longer parses feeds in its Sandbox")
    original_parse = sandbox_module.Sandbox.parse_feed
    original_get = fetch_module.Fetcher.get

    async def parse_feed(self: Any, body: bytes, url: str, *args: Any, **kwargs: Any) -> Any:
        seen["parsed"].append(url)
        return await original_parse(self, body, url, *args, **kwargs)

    async def get(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        conditional = bool(kwargs.get("etag") or kwargs.get("last_modified"))
        try:
            result = await original_get(self, url, *args, **kwargs)
        except Exception as exc:
            seen["responses"].append([url, getattr(exc, "status", None), conditional])
            raise
        seen["responses"].append([result.final_url, result.status, conditional])
        return result

    sandbox_module.Sandbox.parse_feed = parse_feed  # type: ignore[method-assign]
    fetch_module.Fetcher.get = get  # type: ignore[method-assign]
    return seen


def main() -> None:
    out = os.environ.get("MONITOR_PROBE_OUT")
    seen = install()
    if out:

        def dump() -> None:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(seen, handle)

        atexit.register(dump)
    from monitor.cli import main as cli_main

    sys.argv[0] = "monitor"
    cli_main()


if __name__ == "__main__":
    main()
