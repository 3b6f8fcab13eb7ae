"""The distributed path: PostgreSQL, one or more schedulers and a pool of workers.

The work is done by the same pipeline as the embedded daemon; what changes is who
decides that it is due and who runs it. Tasks live in procrastinate's job table in
the same PostgreSQL database: `engine` builds the task app, `tasks` says what each
task does, `process` runs a worker or a scheduler process from start to shutdown.
"""
