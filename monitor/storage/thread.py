"""One thread per process for the database calls of its event loop.

The store's calls are synchronous. Made on the event loop, one that waits on a
database that went silent (packets dropped, not refused) holds everything else the
process does — fetches, extractions, signals, the heartbeat behind ``/healthz`` —
until libpq gives up. Run here, only the coroutines that need the database wait.

One thread, so calls run one at a time in the order they were made, as they did on
the loop: a job that reads the in-memory dedup indexes, saves and updates them runs
whole before the next. A daemon thread, so a call stuck on a silent server never holds
up the process's exit after its shutdown grace; an interrupted write is rolled back
by the database, as after SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Call:
    function: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class DatabaseThread:
    """Runs callables in one background thread; `run` awaits each one's result."""

    def __init__(self, name: str = "database") -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._call_started: float | None = None  # monotonic, while a call runs
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def busy_seconds(self) -> float:
        """How long the call running now has run; 0 when the thread is idle."""
        started = self._call_started
        return 0.0 if started is None else time.monotonic() - started

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` in the database thread.

        Cancelling the awaiting coroutine does not stop the call (no driver call can
        be interrupted from outside); its result is dropped."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put(_Call(lambda: function(*args, **kwargs), loop, future))
        return await future

    def close(self, wait_seconds: float = 0.0) -> bool:
        """Let the thread end after the calls already queued, waiting up to
        ``wait_seconds`` for it; False if it is still busy (a call stuck on the network)."""
        self.stop()
        return self.join(wait_seconds)

    def stop(self) -> None:
        """Let the thread end after the calls already queued, without waiting."""
        self._calls.put(None)

    def join(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def _serve(self) -> None:
        # A call whose coroutine was cancelled still runs: it may be the release of a
        # lock or the end of a transaction that the coroutine's cleanup asked for.
        while (call := self._calls.get()) is not None:
            self._call_started = time.monotonic()
            try:
                result = call.function()
            except BaseException as exc:  # handed to the awaiting coroutine, raised there
                _settle(call, None, exc)
            else:
                _settle(call, result, None)
            finally:
                self._call_started = None


def _settle(call: _Call, result: object, error: BaseException | None) -> None:
    def settle() -> None:
        if call.future.cancelled():
            return
        if error is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        call.loop.call_soon_threadsafe(settle)


class LoopThread:
    """An event loop of its own in a daemon thread, for work that mixes database calls
    with waiting on the network (digests and alerts: compose from the store, then SMTP),
    so that neither holds the process's main loop.

    Cancelling the coroutine that awaits `run` cancels the work in this loop too."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._stopping = False
        self._settling = threading.Event()  # the loop has begun to stop: it is not stuck
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine ``work()`` in this thread's loop and await its result."""
        future = asyncio.run_coroutine_threadsafe(work(), self._loop)
        return await asyncio.wrap_future(future)

    def close(self, wait_seconds: float = 0.0) -> bool:
        """Stop the loop once the work in it has had ``wait_seconds`` to finish its
        cancellation; False if the thread is still busy."""
        self.stop(wait_seconds)
        return self.join(wait_seconds + 1)

    def stop(self, wait_seconds: float) -> None:
        """Stop the loop once the work in it has had ``wait_seconds`` to finish, without
        waiting here. Stopping twice is stopping once."""
        if self._stopping:
            return
        self._stopping = True

        async def settle() -> None:
            self._settling.set()
            current = asyncio.current_task()
            pending = [task for task in asyncio.all_tasks() if task is not current]
            if pending:
                await asyncio.wait(pending, timeout=wait_seconds)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(settle(), self._loop)

    def join(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def responsive(self, seconds: float) -> bool:
        """Whether the loop took the stop within ``seconds``. If not, its thread is held
        by a synchronous call (a store call on a silent database), and waiting for its
        work to finish is waiting for that call."""
        return self._settling.wait(seconds)


def close_together(
    database: DatabaseThread, database_wait: float, mail: LoopThread, mail_wait: float
) -> bool:
    """End both threads, the waits running at once: a stop after the database went
    silent, when both are stuck on it, costs ``database_wait``, not the sum. The mail
    thread gets its longer ``mail_wait`` (an SMTP answer) only if its loop still turns.
    False if the database thread is still busy (its call is abandoned)."""
    started = time.monotonic()
    mail.stop(mail_wait)
    database.stop()

    def left(wait: float) -> float:
        return max(0.0, started + wait - time.monotonic())

    if mail.responsive(left(database_wait)):
        mail.join(left(mail_wait + 1))
    return database.join(left(database_wait))
