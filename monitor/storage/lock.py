"""One daemon per SQLite file: an exclusive lock on a file beside the database.

The lock is an OS-level ``flock``: it is released by the kernel when the process
dies, even by SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.errors import AlreadyRunningError
from monitor.storage.sqlite_file import sqlite_path


class StoreLock:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> StoreLock:
        """A lock for a SQLite file; PostgreSQL coordinates its workers itself (no lock)."""
        path = sqlite_path(url)
        return cls(None if path is None else path.with_name(f"{path.name}.lock"))

    def __enter__(self) -> StoreLock:
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            database = self.path.with_suffix("")
            raise AlreadyRunningError(
                f"another monitor daemon (pid {holder}) is already using {database}; stop it "
                "first, or point this one at another database with MONITOR_DATABASE__URL"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
