"""What a photon owns: the threads, asyncio tasks and child processes it started.

A photon starts background work through :class:`~luminal.IPhoton` (``spawn_thread``,
``create_task``, ``spawn_process``), which records it here, so that unloading or reloading the
photon can stop all of it and report whatever refused to stop. Plain ``threading.Thread`` objects
that appear while the photon's ``__init__`` or ``photon_start`` runs are adopted too
(:func:`threads_started_since`): Luminal cannot stop them, but reports those still alive.

Stopping never blocks the event loop: threads and processes are polled with a short back-off
until a deadline, instead of being joined or waited for in the loop (which would freeze the host)
or in executor threads (which would tie up one worker per thread for the whole timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import subprocess
import threading
from collections.abc import Callable, Collection, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from luminal.errors import PhotonStopError

__all__ = [
    "EXECUTOR_THREAD_PREFIX",
    "IMPORT_THREAD_NAME",
    "OWNED_ATTRIBUTE",
    "Ownership",
    "PhotonStopRequested",
    "PhotonThread",
    "StopReport",
    "collect_ownerships",
    "ownership_of",
    "threads_started_since",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_POLL_INTERVAL = 0.05

EXECUTOR_THREAD_PREFIX = "asyncio_"
"""Name prefix of the event loop's executor threads; never a photon's."""

IMPORT_THREAD_NAME = "luminal-import"
"""The name of the threads photon imports run on (``luminal.importing``); never a photon's."""


def threads_started_since(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """The threads alive now that are not in ``before``: what a photon's code just started
    itself, leaving out photon threads (owned already), the loop's executor threads and the
    loader's import threads."""
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and not isinstance(thread, PhotonThread)
        and not thread.name.startswith((EXECUTOR_THREAD_PREFIX, IMPORT_THREAD_NAME))
    ]


@functools.cache
def _async_exc_setters() -> tuple[Callable[[int, type], int], Callable[[int, None], int]] | None:
    """``PyThreadState_SetAsyncExc`` typed twice: to raise a class, and to clear (NULL).

    Own prototypes rather than ``argtypes`` on the shared ``ctypes.pythonapi`` function; with a
    ``py_object`` argument ``None`` would be passed as ``Py_None``, not as NULL.
    """
    import ctypes  # only when a thread is force-stopped: it costs an import

    pythonapi = getattr(ctypes, "pythonapi", None)
    if pythonapi is None or not hasattr(pythonapi, "PyThreadState_SetAsyncExc"):
        return None
    raise_prototype = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)
    clear_prototype = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)
    return (
        raise_prototype(("PyThreadState_SetAsyncExc", pythonapi)),
        clear_prototype(("PyThreadState_SetAsyncExc", pythonapi)),
    )


class PhotonStopRequested(SystemExit):
    """Raised inside a photon thread that ignored its stop event, to end it.

    A ``SystemExit``, so ``except Exception`` in photon code does not swallow it; ``finally``
    blocks and context managers still run. :class:`PhotonThread` catches it, so the thread ends
    quietly instead of printing a traceback through ``threading.excepthook`` (which only
    silences ``SystemExit`` itself, not its subclasses).
    """


class PhotonThread(threading.Thread):
    """A daemon thread owned by a photon; its target receives the stop event first.

    Daemon, so a thread that cannot be stopped never keeps the host from exiting.
    """

    def __init__(
        self,
        target: Callable[..., object],
        args: Sequence[object],
        kwargs: dict[str, Any],
        name: str | None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = threading.Event()
        self._photon_call: tuple[Callable[..., object], tuple[object, ...], dict[str, Any]] | None
        self._photon_call = (target, tuple(args), dict(kwargs))
        self._target_lock = threading.Lock()
        self._in_target = False
        self._interrupted = False

    @property
    def interrupted(self) -> bool:
        """Whether :meth:`interrupt` raised :class:`PhotonStopRequested` in this thread."""
        return self._interrupted

    def run(self) -> None:
        try:
            self._run_target()
        except PhotonStopRequested:
            logger.debug("photon thread %s ended by PhotonStopRequested", self.name)
        finally:
            self._leave_target()
            self._photon_call = None

    def _run_target(self) -> None:
        if self._photon_call is None:
            return
        target, args, kwargs = self._photon_call
        with self._target_lock:
            self._in_target = True
        try:
            target(self.stop_event, *args, **kwargs)
        finally:
            self._leave_target()

    def _leave_target(self) -> None:
        """Close the window in which :meth:`interrupt` may fire, and drop an exception it set
        that has not gone off yet, so it cannot escape into ``threading``'s own code."""
        with self._target_lock:
            self._in_target = False
            setters = _async_exc_setters() if self._interrupted else None
            if setters is not None:
                setters[1](threading.get_ident(), None)

    def interrupt(self) -> bool:
        """Raise :class:`PhotonStopRequested` in the thread; whether it was set.

        It goes off at the thread's next Python bytecode. CPython cannot interrupt a thread
        blocked in C code (``time.sleep``, ``Event.wait``, a socket read): the exception stays
        pending and goes off when that call returns. It is set at most once, and only while the
        target runs; holding the lock meanwhile means the thread is alive, so its identifier
        cannot belong to another thread. Only CPython has the API; elsewhere this returns False.
        """
        setters = _async_exc_setters()
        if setters is None:
            return False
        with self._target_lock:
            if not self._in_target or self._interrupted or self.ident is None:
                return False
            changed = setters[0](self.ident, PhotonStopRequested)
            if changed > 1:
                setters[1](self.ident, None)
            self._interrupted = changed == 1
            return self._interrupted


@dataclass
class StopReport:
    """What was still running after a stop attempt."""

    threads: list[PhotonThread] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    raw_threads: list[threading.Thread] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.threads or self.tasks or self.processes or self.raw_threads)

    @property
    def all_threads(self) -> list[threading.Thread]:
        return [*self.threads, *self.raw_threads]

    def describe(self) -> str:
        """One comma-separated entry per leftover, e.g. ``thread poller (why), task sync``."""
        parts = [f"thread {thread.name} ({_thread_state(thread)})" for thread in self.threads]
        parts += [
            f"thread {thread.name} (a threading.Thread started by the photon's code, not "
            "spawn_thread: Luminal cannot stop it)"
            for thread in self.raw_threads
        ]
        parts += [f"task {task.get_name()}" for task in self.tasks]
        parts += [f"process {process.pid} (survived SIGKILL)" for process in self.processes]
        return ", ".join(parts)


def _thread_state(thread: PhotonThread) -> str:
    if thread.interrupted:
        return "blocked outside Python or caught PhotonStopRequested"
    return "ignored its stop event and could not be interrupted"


_collected: contextvars.ContextVar[list[Ownership] | None] = contextvars.ContextVar(
    "luminal_new_ownerships", default=None
)


@contextlib.contextmanager
def collect_ownerships() -> Iterator[list[Ownership]]:
    """Collect each :class:`Ownership` created while the block runs (in its context).

    An instance's ownership is created by its first spawn, in its ``__init__``; when a
    metaclass of the photon's own creates the instance and ``__init__`` raises, the instance
    is never given back, and this is how what it spawned is still reached and stopped.
    """
    created: list[Ownership] = []
    token = _collected.set(created)
    try:
        yield created
    finally:
        _collected.reset(token)


class Ownership:
    """The threads, tasks and processes one photon instance started.

    Spawning is thread-safe. Once :meth:`close` is called (when the photon is being stopped),
    spawning raises :class:`~luminal.PhotonStopError`, so nothing can start behind the stop.
    """

    def __init__(self) -> None:
        collecting = _collected.get()
        if collecting is not None:
            collecting.append(self)
        self._lock = threading.Lock()
        self._threads: list[PhotonThread] = []
        self._raw_threads: list[threading.Thread] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._processes: list[subprocess.Popen[Any]] = []
        self._closed_by: tuple[str, str] | None = None

    @property
    def threads(self) -> list[PhotonThread]:
        """The photon's threads that are still alive."""
        with self._lock:
            return [thread for thread in self._threads if thread.is_alive()]

    @property
    def raw_threads(self) -> list[threading.Thread]:
        """The plain threads adopted by :meth:`adopt_threads` that are still alive."""
        with self._lock:
            return [thread for thread in self._raw_threads if thread.is_alive()]

    def adopt_threads(self, threads: Sequence[threading.Thread]) -> None:
        """Count plain threads the photon's code started as its own, to report them if they
        outlive its stop."""
        with self._lock:
            self._raw_threads = [known for known in self._raw_threads if known.is_alive()]
            self._raw_threads.extend(thread for thread in threads if thread.is_alive())

    async def wait_raw_threads(self, timeout: float) -> list[threading.Thread]:
        """Give the adopted plain threads ``timeout`` to end (the finalizer may have told them
        to); return those still alive."""
        threads = self.raw_threads
        await _wait_until(lambda: not any(thread.is_alive() for thread in threads), timeout)
        return [thread for thread in threads if thread.is_alive()]

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        """The photon's tasks that are not done."""
        with self._lock:
            return [task for task in self._tasks if not task.done()]

    @property
    def processes(self) -> list[subprocess.Popen[Any]]:
        """The photon's child processes that have not exited (exited ones are reaped)."""
        with self._lock:
            return [process for process in self._processes if process.poll() is None]

    def close(self, photon_name: str, path: str) -> None:
        """Refuse new threads, tasks and processes from now on."""
        with self._lock:
            self._closed_by = (photon_name, path)

    def _check_open(self, what: str) -> None:
        if self._closed_by is not None:
            photon_name, path = self._closed_by
            raise PhotonStopError(
                f"photon {photon_name!r} is being stopped and cannot start a new {what}",
                photon_name,
                path,
            )

    def spawn_thread(
        self,
        target: Callable[..., object],
        args: Sequence[object],
        kwargs: dict[str, Any],
        name: str | None,
    ) -> PhotonThread:
        with self._lock:
            self._check_open("thread")
            thread = PhotonThread(target, args, kwargs, name)
            self._threads = [known for known in self._threads if known.is_alive()]
            self._threads.append(thread)
            thread.start()
        return thread

    def create_task(self, coro: Coroutine[Any, Any, T], name: str | None) -> asyncio.Task[T]:
        with self._lock:
            try:
                self._check_open("task")
                task = asyncio.get_running_loop().create_task(coro, name=name)
            except BaseException:
                coro.close()
                raise
            self._tasks.add(task)
        task.add_done_callback(self._forget_task)
        return task

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._tasks.discard(task)

    def spawn_process(
        self, argv: Sequence[str], popen_kwargs: dict[str, Any]
    ) -> subprocess.Popen[Any]:
        with self._lock:
            self._check_open("process")
            process: subprocess.Popen[Any] = subprocess.Popen(list(argv), **popen_kwargs)
            self._processes = [known for known in self._processes if known.poll() is None]
            self._processes.append(process)
        return process

    async def stop_tasks(self, timeout: float) -> list[asyncio.Task[Any]]:
        """Cancel the tasks and wait up to ``timeout`` for them; return those still running.

        A task on another thread's event loop is cancelled through that loop. The task running
        this stop (a photon task that unloads or reloads its own photon) is left alone: it
        cannot wait for itself, and cancelling it would abort the stop half-way.
        """
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        loop = asyncio.get_running_loop()
        for task in tasks:
            task_loop = task.get_loop()
            if task_loop is loop:
                task.cancel()
            elif not task_loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    task_loop.call_soon_threadsafe(task.cancel)
        await _wait_until(lambda: all(task.done() for task in tasks), timeout)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.debug("task %s ended with %r", task.get_name(), task.exception())
        return [task for task in tasks if not task.done()]

    async def stop_threads(self, timeout: float) -> list[PhotonThread]:
        """Set the stop events and wait up to ``timeout``; interrupt the threads that ignored
        theirs and wait up to ``timeout`` again. Return the threads still alive."""
        threads = self.threads
        for thread in threads:
            thread.stop_event.set()
        if await _wait_until(lambda: not any(thread.is_alive() for thread in threads), timeout):
            return []
        stubborn = [thread for thread in threads if thread.is_alive()]
        for thread in stubborn:
            if thread.interrupt():
                logger.debug("photon thread %s ignored its stop event; interrupted", thread.name)
        await _wait_until(lambda: not any(thread.is_alive() for thread in stubborn), timeout)
        return [thread for thread in stubborn if thread.is_alive()]

    async def stop_processes(self, timeout: float) -> list[subprocess.Popen[Any]]:
        """Terminate the processes and wait up to ``timeout``; kill the ones still running and
        wait up to ``timeout`` again. Exited processes are reaped (no zombies) and their pipes
        closed. Return the processes still running."""
        with self._lock:
            owned = list(self._processes)
        running = [process for process in owned if process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        if not await _wait_until(lambda: _all_exited(running), timeout):
            for process in running:
                if process.poll() is None:
                    logger.debug("process %s ignored SIGTERM; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await _wait_until(lambda: _all_exited(running), timeout)
        for process in owned:
            if process.poll() is not None:
                _close_pipes(process)
        return [process for process in running if process.poll() is None]

    async def stop(self, timeout: float) -> StopReport:
        """Stop everything; return what is still running.

        Tasks go first, since they may be waiting on threads or processes; threads and
        processes are then stopped together. This takes at most ``3 * timeout``.
        """
        tasks = await self.stop_tasks(timeout)
        threads, processes, raw_threads = await asyncio.gather(
            self.stop_threads(timeout),
            self.stop_processes(timeout),
            self.wait_raw_threads(timeout),
        )
        return StopReport(threads, tasks, processes, raw_threads)


async def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` with a growing interval until it holds or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    interval = 0.001
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, MAX_POLL_INTERVAL)
    return True


OWNED_ATTRIBUTE = "_luminal_owned"
"""The instance attribute that holds what a photon spawned (made on first use)."""


def ownership_of(instance: object, create: bool = False) -> Ownership | None:
    """What ``instance`` spawned, if it spawned anything (or, with ``create``, an empty record
    that it holds from now on)."""
    if not hasattr(instance, "__dict__"):
        return None
    namespace = vars(instance)
    owned = namespace.get(OWNED_ATTRIBUTE)
    if owned is None and create:
        owned = namespace[OWNED_ATTRIBUTE] = Ownership()
    return owned if isinstance(owned, Ownership) else None


def _all_exited(processes: Sequence[subprocess.Popen[Any]]) -> bool:
    return all(process.poll() is not None for process in processes)


def _close_pipes(process: subprocess.Popen[Any]) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
