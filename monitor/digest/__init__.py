"""Digests and alerts: what a subscriber has not received, composed (compose.py, pure),
recorded in the outbox and sent (run.py, send.py). When is decided by `monitor.jobs` and
the runtimes, never here."""
