"""The two runtimes of the work in `monitor.jobs`, and what they open.

`daemon` is the embedded one (APScheduler, one process, SQLite or PostgreSQL);
`workers` the distributed one (procrastinate on PostgreSQL: schedulers and a pool of
workers). Both open their store, pipeline and metrics server through `resources`.
Only the command line imports a runtime.
"""
