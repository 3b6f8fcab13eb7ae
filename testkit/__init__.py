"""What the tests and the benchmarks share: a local web server with faults, generated
news sites and feeds, prose, a TCP proxy for database outages, a local SMTP server,
database helpers and a cluster of processes. Loopback only; not part of the package."""
