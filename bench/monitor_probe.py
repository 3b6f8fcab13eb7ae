"""`monitor` with counters: which feed responses reached the feed parser (bench only).

Runs the `monitor` command line in this process after wrapping two functions, without
changing them: `Fetcher.get` (each response's URL, status and whether the request was
conditional) and the `parse_feed` the pipeline calls. At exit it writes what it saw to
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
    import monitor.pipeline.run as run_module

    seen: dict[str, Any] = {"responses": [], "parsed": []}
    if not hasattr(run_module, "parse_feed"):
        raise SystemExit("monitor_probe: monitor.pipeline.run no longer calls parse_feed")
    original_parse = run_module.parse_feed
    original_get = fetch_module.Fetcher.get

    def parse_feed(body: bytes, url: str, *args: Any, **kwargs: Any) -> Any:
        seen["parsed"].append(url)
        return original_parse(body, url, *args, **kwargs)

    async def get(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        conditional = bool(kwargs.get("etag") or kwargs.get("last_modified"))
        try:
            result = await original_get(self, url, *args, **kwargs)
        except Exception as exc:
            seen["responses"].append([url, getattr(exc, "status", None), conditional])
            raise
        seen["responses"].append([result.final_url, result.status, conditional])
        return result

    run_module.parse_feed = parse_feed  # type: ignore[assignment]
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
