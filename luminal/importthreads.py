"""The daemon threads photon imports run on, and awaiting an import from the event loop.

Photon code runs at import, and it may block or never return, so an import never runs on the
event loop's thread. Each runs on a daemon thread that no other import uses meanwhile: not the
loop's default executor, whose threads are joined when the interpreter exits (an import that
never returns would keep the host from exiting even after a second Ctrl-C). A thread whose
import is done waits :data:`IDLE_SECONDS` for the next one, so a run of reloads does not start a
thread each (starting one costs more than a small import); then, or when its loader closes, it
ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TypeVar, cast

from luminal.ownership import IMPORT_THREAD_NAME

__all__ = ["IDLE_SECONDS", "ImportThreads"]

T = TypeVar("T")

IDLE_SECONDS = 0.5
"""How long a thread whose import is done waits for another before it ends."""

_Job = Callable[[], None]


class ImportThreads:
    """One loader's import threads: an idle one takes the next import, else a new one starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._closed = False

    async def run(self, function: Callable[[], T], abandon: Callable[[T | None], None]) -> T:
        """Run ``function`` on an import thread and await its result.

        If the caller is cancelled, the result is handed to ``abandon`` once it arrives
        (``None`` if the function raised): the thread cannot be stopped, only forgotten.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if future.cancelled():
                abandon(None if error is not None else result)
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(cast(T, result))

        def job() -> None:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = function()
            except BaseException as raised:
                error = raised
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, result, error)

        self._hand_over(job)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # settled, then the caller cancelled
                abandon(future.result() if future.exception() is None else None)
            raise

    def close(self) -> None:
        """End the idle threads now, and each busy one once its import is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)

    def _hand_over(self, job: _Job) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._serve, args=(inbox,), name=IMPORT_THREAD_NAME, daemon=True
            )
            thread.start()
        inbox.put(job)

    def _serve(self, inbox: queue.SimpleQueue[_Job | None]) -> None:
        """Run the jobs handed to ``inbox`` until none comes for :data:`IDLE_SECONDS`."""
        while True:
            try:
                job = inbox.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody took it meanwhile: end
                        self._idle.remove(inbox)
                        return
                job = inbox.get()  # taken just now: its job is on the way
            if job is None:
                return
            job()
            del job  # what the import returned is the caller's, not this thread's
            with self._lock:
                if self._closed:
                    return
                self._idle.append(inbox)
