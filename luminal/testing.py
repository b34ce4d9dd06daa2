"""The pytest plugin for photon authors: a fresh loader, a photon directory, a start helper, a
recorder of the loader's events and a check that no photon leaves work running after it is
unloaded.

pytest loads it through the ``pytest11`` entry point ``luminal.testing`` (or ``-p
luminal.testing``). It only defines fixtures, so a test run that asks for none of them is left
as it was. The async fixtures need pytest-asyncio (``pip install "luminal-photons[pytest]"``)
and work in its default strict mode: mark the tests ``@pytest.mark.asyncio``.

PYTEST_DONT_REWRITE: the plugin asserts nothing, and may be imported before pytest could rewrite it.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, NoReturn, Protocol, TypeVar, cast

import pytest

from luminal.errors import PhotonStopError
from luminal.hookspecs import hookimpl
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader
from luminal.ownership import threads_started_since

try:
    import pytest_asyncio
except ImportError:  # the async fixtures then explain what is missing when a test asks for them
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "EventRecorder",
    "LeftoverCheck",
    "LoaderEvent",
    "StartPhotons",
    "StartedPhotons",
    "WritePhoton",
    "luminal_events",
    "luminal_leftovers",
    "luminal_loader",
    "luminal_loader_kwargs",
    "luminal_photon_dir",
    "luminal_start",
    "luminal_write_photon",
]

FixtureFunction = TypeVar("FixtureFunction", bound=Callable[..., Any])

WritePhoton = Callable[[str, str], Path]
"""``write(relative_path, source) -> Path``: write a dedented photon source into the directory."""

HookSpecs = type | ModuleType
"""A class or module of ``@luminal.hookspec`` functions (what ``add_hookspecs`` takes)."""


def _async_fixture(function: FixtureFunction) -> FixtureFunction:
    """An async fixture through pytest-asyncio, or one that says pytest-asyncio is missing.

    Its loop is the function-scoped one, the loop a test runs in by default, whatever the
    project's ``asyncio_default_fixture_loop_scope``: the photons are started, called and
    unloaded on one loop, and the leftover check sees the tasks they left there.
    """
    if pytest_asyncio is not None:
        return cast(FixtureFunction, pytest_asyncio.fixture(function, loop_scope="function"))

    def missing_pytest_asyncio() -> NoReturn:
        pytest.fail(
            f"the fixture {function.__name__} needs pytest-asyncio: "
            'pip install "luminal-photons[pytest]"',
            pytrace=False,
        )

    missing_pytest_asyncio.__doc__ = function.__doc__
    return cast(FixtureFunction, pytest.fixture(name=function.__name__)(missing_pytest_asyncio))


class LoaderEvent(NamedTuple):
    """One event a loader sent: the hook's name without ``luminal_photon_`` and its arguments.

    ``kind`` is ``"loaded"``, ``"started"``, ``"reloaded"``, ``"unloaded"`` or ``"error"``;
    ``arguments`` are the hook's, in its order (``(handler,)``, ``(old, new)``,
    ``(path, error)``), so an event compares equal to a plain ``(kind, arguments)`` tuple.
    """

    kind: str
    arguments: tuple[Any, ...]


class EventRecorder:
    """Records the events of the loaders it is registered in, in the order they were sent.

    Register it as a host plugin (``loader.plugin_manager.register(EventRecorder())``), or ask
    for the :func:`luminal_events` fixture. :attr:`events` is the one record; the other
    attributes are views of it by kind.
    """

    def __init__(self) -> None:
        self.events: list[LoaderEvent] = []

    def names(self) -> list[str]:
        """The kinds of the events, in order."""
        return [event.kind for event in self.events]

    def last(self) -> LoaderEvent:
        """The latest event; an ``IndexError`` when there was none."""
        return self.events[-1]

    def _arguments(self, kind: str) -> list[tuple[Any, ...]]:
        return [event.arguments for event in self.events if event.kind == kind]

    @property
    def loaded(self) -> list[Handler]:
        """The handlers of ``luminal_photon_loaded``, in order."""
        return [handler for (handler,) in self._arguments("loaded")]

    @property
    def started(self) -> list[Handler]:
        """The handlers of ``luminal_photon_started``, in order."""
        return [handler for (handler,) in self._arguments("started")]

    @property
    def reloaded(self) -> list[tuple[Handler, Handler]]:
        """The ``(old, new)`` handlers of ``luminal_photon_reloaded``, in order."""
        return [(old, new) for old, new in self._arguments("reloaded")]

    @property
    def unloaded(self) -> list[Handler]:
        """The handlers of ``luminal_photon_unloaded``, in order."""
        return [handler for (handler,) in self._arguments("unloaded")]

    @property
    def errors(self) -> list[tuple[str, BaseException]]:
        """The ``(path, error)`` of ``luminal_photon_error``, in order."""
        return [(path, error) for path, error in self._arguments("error")]

    @hookimpl
    def luminal_photon_loaded(self, handler: Handler) -> None:
        self.events.append(LoaderEvent("loaded", (handler,)))

    @hookimpl
    def luminal_photon_started(self, handler: Handler) -> None:
        self.events.append(LoaderEvent("started", (handler,)))

    @hookimpl
    def luminal_photon_reloaded(self, old: Handler, new: Handler) -> None:
        self.events.append(LoaderEvent("reloaded", (old, new)))

    @hookimpl
    def luminal_photon_unloaded(self, handler: Handler) -> None:
        self.events.append(LoaderEvent("unloaded", (handler,)))

    @hookimpl
    def luminal_photon_error(self, path: str, error: BaseException) -> None:
        self.events.append(LoaderEvent("error", (path, error)))


@dataclass
class LeftoverCheck:
    """What photons left running after they were unloaded, gathered while a test runs.

    It is registered in the test's loader as an observer of ``luminal_photon_error`` and keeps
    every :class:`~luminal.PhotonStopError` (a thread, task or process that outlived the stop,
    or a finalizer that raised or timed out). At teardown it also looks for threads and asyncio
    tasks started during the test that still run once every photon is unloaded. A test that
    expects a stop error asserts on :attr:`stop_errors` and then clears it.
    """

    grace: float = 1.0
    stop_errors: list[PhotonStopError] = field(default_factory=list)
    threads_before: set[threading.Thread] = field(default_factory=set)
    tasks_before: set[asyncio.Task[Any]] = field(default_factory=set)

    @hookimpl
    def luminal_photon_error(self, path: str, error: BaseException) -> None:
        """Keep stop errors; load and start errors reach the test as exceptions already."""
        if isinstance(error, PhotonStopError):
            self.stop_errors.append(error)

    def snapshot(self) -> None:
        """Remember the threads and tasks that ran before the test's photons did."""
        self.threads_before = set(threading.enumerate())
        self.tasks_before = set(asyncio.all_tasks())

    def running_threads(self) -> list[threading.Thread]:
        """Threads started since :meth:`snapshot` still alive after ``grace`` seconds.

        Photon threads, and plain threads a photon's ``__init__`` or ``photon_start`` started,
        are left out: the loader reports them as stop errors. So are the event loop's executor
        threads, which the loader's imports run on.
        """
        deadline = time.monotonic() + self.grace
        reported = {thread for error in self.stop_errors for thread in error.threads}
        candidates = [
            thread
            for thread in threads_started_since(self.threads_before)
            if thread not in reported
        ]
        for thread in candidates:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread for thread in candidates if thread.is_alive()]

    async def pending_tasks(self) -> list[asyncio.Task[Any]]:
        """Tasks created since :meth:`snapshot` still pending; they are cancelled on the way."""
        current = asyncio.current_task()
        tasks = [
            task
            for task in asyncio.all_tasks()
            if task is not current and task not in self.tasks_before and not task.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.grace)
        return tasks

    async def failures(self) -> list[str]:
        """One line per leftover; empty when the photons cleaned up after themselves."""
        lines = [str(error) for error in self.stop_errors]
        lines += [
            f"task {task.get_name()!r} started during the test was still pending"
            for task in await self.pending_tasks()
        ]
        lines += [
            f"thread {thread.name!r} started during the test is still running"
            for thread in self.running_threads()
        ]
        return lines


@dataclass
class StartedPhotons:
    """The photons :func:`luminal_start` loaded and started, and the loader that runs them."""

    loader: Loader
    handlers: list[Handler]

    @property
    def handler(self) -> Handler:
        """The one handler; a ``LookupError`` when the source held several photons."""
        if len(self.handlers) != 1:
            names = ", ".join(handler.name for handler in self.handlers) or "none"
            raise LookupError(f"expected one photon, started {len(self.handlers)}: {names}")
        return self.handlers[0]

    @property
    def instance(self) -> Any:
        """The running instance of the one photon."""
        return self.handler.instance

    def __getitem__(self, name: str) -> Handler:
        for handler in self.handlers:
            if handler.name == name:
                return handler
        raise KeyError(name)

    async def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook as the host would (``Loader.acall``): on every running photon of the
        loader, async implementations awaited."""
        return await self.loader.acall(hook_name, **kwargs)

    async def reload(self) -> StartedPhotons:
        """Reload the photons' sources atomically; the new versions run afterwards."""
        return StartedPhotons(self.loader, await self.loader.reload_photons(self.handlers))

    async def unload(self, force_stop: bool = False) -> bool:
        """Unload the photons; whether everything they owned stopped."""
        clean = True
        for handler in self.handlers:
            if self.loader.photons.get(handler.name) is handler:
                clean = await self.loader.unload_photon(handler, force_stop) and clean
        return clean


class StartPhotons(Protocol):
    """The type of the :func:`luminal_start` fixture."""

    async def __call__(
        self,
        path: str | os.PathLike[str],
        *,
        hookspecs: HookSpecs | Sequence[HookSpecs] = (),
        recursive: bool = False,
    ) -> StartedPhotons: ...


@pytest.fixture
def luminal_loader_kwargs() -> dict[str, Any]:
    """Keyword arguments of the test's :class:`~luminal.Loader`; override to change them.

    Timeouts are short so that a photon that hangs fails the test quickly.
    """
    return {"finalize_timeout": 2.0, "stop_timeout": 1.0}


@pytest.fixture
def luminal_leftovers(luminal_loader_kwargs: dict[str, Any]) -> LeftoverCheck:
    """The :class:`LeftoverCheck` of the test's loader."""
    return LeftoverCheck(grace=float(luminal_loader_kwargs.get("stop_timeout", 1.0)))


@_async_fixture
async def luminal_loader(
    luminal_loader_kwargs: dict[str, Any], luminal_leftovers: LeftoverCheck
) -> AsyncIterator[Loader]:
    """A fresh :class:`~luminal.Loader`, closed after the test (every photon unloaded).

    The test then fails (as an error in teardown) if a photon left a thread, task or process
    running, or its finalizer raised or timed out.
    """
    luminal_leftovers.snapshot()
    loader = Loader(**luminal_loader_kwargs)
    loader.plugin_manager.register(luminal_leftovers, name="luminal.testing.leftovers")
    try:
        yield loader
    finally:
        await loader.close()
        failures = await luminal_leftovers.failures()
        if failures:
            pytest.fail(
                "photons left work running after they were unloaded:\n  " + "\n  ".join(failures),
                pytrace=False,
            )


@pytest.fixture
def luminal_events(luminal_loader: Loader) -> EventRecorder:
    """An :class:`EventRecorder` registered in the test's loader."""
    recorder = EventRecorder()
    luminal_loader.plugin_manager.register(recorder, name="luminal.testing.events")
    return recorder


@pytest.fixture
def luminal_photon_dir(tmp_path: Path) -> Path:
    """An empty directory for the test's photon sources."""
    directory = tmp_path / "photons"
    directory.mkdir()
    return directory


@pytest.fixture
def luminal_write_photon(luminal_photon_dir: Path) -> WritePhoton:
    """Write a photon source (dedented) to ``luminal_photon_dir / relative_path``."""

    def write(relative_path: str, source: str) -> Path:
        path = luminal_photon_dir / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


@_async_fixture
async def luminal_start(luminal_loader: Loader) -> StartPhotons:
    """Load and start the photons of a file or directory in the test's loader.

    ``hookspecs`` (a class or module of ``@luminal.hookspec`` functions, or several) are added
    first, as the host would, so a photon's implementations are checked against them. Cleanup
    is the loader's: every photon is unloaded after the test.
    """
    added_specs: list[HookSpecs] = []

    async def start(
        path: str | os.PathLike[str],
        *,
        hookspecs: HookSpecs | Sequence[HookSpecs] = (),
        recursive: bool = False,
    ) -> StartedPhotons:
        specs = [hookspecs] if isinstance(hookspecs, (type, ModuleType)) else hookspecs
        for spec in specs:
            if not any(spec is added for added in added_specs):
                luminal_loader.plugin_manager.add_hookspecs(spec)
                added_specs.append(spec)
        source = Path(path)
        if source.is_dir() and not (source / "__init__.py").is_file():
            handlers = await luminal_loader.load_photons(source, recursive=recursive)
        else:
            if source.is_dir():
                source = source / "__init__.py"
            loaded = await luminal_loader.load_photon(source, recursive=recursive)
            handlers = loaded if isinstance(loaded, list) else [loaded]
        for handler in handlers:
            await handler.start()
        return StartedPhotons(luminal_loader, handlers)

    return start
