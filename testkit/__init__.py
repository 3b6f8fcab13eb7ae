"""What the tests and the benchmarks share: generated news sites and feeds (one article
model, one page renderer with a heavy layer for the benchmarks, one feed writer), a local
web server with faults for the tests and a static file server for the benchmarks, prose, a
TCP proxy for database outages, a local SMTP server, database helpers and a cluster of
processes. Loopback only; not part of the package."""
