"""What a photon owns: the threads, asyncio tasks and child processes it started.

A photon starts background work through :class:`~luminal.IPhoton` (``spawn_thread``,
``create_task``, ``spawn_process``), which records it here, so that unloading or reloading the
photon can stop all of it and report whatever refused to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import subprocess
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Ownership", "PhotonThread", "StopReport"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PhotonStopRequested(SystemExit):
    """Raised inside a photon thread that ignored its stop event; ends the thread quietly."""


class PhotonThread(threading.Thread):
    """A daemon thread owned by a photon; its target receives the stop event first."""

    def __init__(
        self,
        target: Callable[..., object],
        args: Sequence[object],
        kwargs: dict[str, Any],
        name: str | None,
    ) -> None:
        self.stop_event = threading.Event()
        super().__init__(
            target=target, args=(self.stop_event, *args), kwargs=kwargs, name=name, daemon=True
        )

    def interrupt(self) -> bool:
        """Raise :class:`PhotonStopRequested` in the thread at its next Python instruction.

        CPython can only interrupt Python code this way: a thread blocked in C (``time.sleep``,
        a socket read) sees the exception when that call returns.
        """
        if self.ident is None or not self.is_alive():
            return True
        changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self.ident), ctypes.py_object(PhotonStopRequested)
        )
        return bool(changed == 1)


@dataclass
class StopReport:
    """What was still running after a stop attempt."""

    threads: list[PhotonThread] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.threads or self.tasks or self.processes)

    def describe(self) -> str:
        parts = [f"thread {thread.name}" for thread in self.threads]
        parts += [f"task {task.get_name()}" for task in self.tasks]
        parts += [f"process {process.pid}" for process in self.processes]
        return ", ".join(parts)


class Ownership:
    """The threads, tasks and processes one photon instance started."""

    def __init__(self) -> None:
        self.threads: list[PhotonThread] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn_thread(
        self,
        target: Callable[..., object],
        args: Sequence[object],
        kwargs: dict[str, Any],
        name: str | None,
    ) -> PhotonThread:
        thread = PhotonThread(target, args, kwargs, name)
        self.threads = [known for known in self.threads if known.is_alive()]
        self.threads.append(thread)
        thread.start()
        return thread

    def create_task(self, coro: Coroutine[Any, Any, T], name: str | None) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def spawn_process(
        self, argv: Sequence[str], popen_kwargs: dict[str, Any]
    ) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = subprocess.Popen(list(argv), **popen_kwargs)
        self.processes = [known for known in self.processes if known.poll() is None]
        self.processes.append(process)
        return process

    @property
    def empty(self) -> bool:
        return not (
            any(thread.is_alive() for thread in self.threads)
            or self.tasks
            or any(process.poll() is None for process in self.processes)
        )

    async def stop_tasks(self, timeout: float) -> list[asyncio.Task[Any]]:
        """Cancel the tasks and wait up to ``timeout`` for them; return those still running."""
        tasks = [task for task in self.tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.debug("task %s ended with %r", task.get_name(), task.exception())
        return [task for task in tasks if not task.done()]

    async def stop_threads(self, timeout: float) -> list[PhotonThread]:
        """Signal, join, then interrupt what ignored the signal; return the threads still alive."""
        threads = [thread for thread in self.threads if thread.is_alive()]
        for thread in threads:
            thread.stop_event.set()
        await _join_all(threads, timeout)
        stubborn = [thread for thread in threads if thread.is_alive()]
        for thread in stubborn:
            thread.interrupt()
        await _join_all(stubborn, timeout)
        alive = [thread for thread in threads if thread.is_alive()]
        self.threads = alive
        return alive

    async def stop_processes(self, timeout: float) -> list[subprocess.Popen[bytes]]:
        """Terminate, wait, then kill what did not exit; return the processes still running."""
        running = [process for process in self.processes if process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        await _wait_all(running, timeout)
        for process in running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await _wait_all(running, timeout)
        alive = [process for process in running if process.poll() is None]
        self.processes = alive
        return alive

    async def stop(self, timeout: float) -> StopReport:
        """Stop everything; tasks first, since they may be waiting on threads or processes."""
        tasks = await self.stop_tasks(timeout)
        threads = await self.stop_threads(timeout)
        processes = await self.stop_processes(timeout)
        return StopReport(threads, tasks, processes)


async def _join_all(threads: Sequence[threading.Thread], timeout: float) -> None:
    if threads:
        await asyncio.gather(*(asyncio.to_thread(thread.join, timeout) for thread in threads))


async def _wait_all(processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    async def wait(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(process.wait, timeout)

    if processes:
        await asyncio.gather(*(wait(process) for process in processes))
