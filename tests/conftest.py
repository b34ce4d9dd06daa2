"""Shared fixtures: a fresh loader, a photon directory to write into, and leak guards."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from luminal import Handler, Loader, hookimpl
from tests.isolation import environment_site_dirs, hide_installed_photons
from tests.watch_support import HostSpecs, Recorder

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="session")
def _no_installed_photons() -> Iterator[None]:
    """Hide the photon distributions of the environment the suite runs in (a user's photon
    packages): the suite sees only the distributions it installs itself."""
    restore = hide_installed_photons(environment_site_dirs())
    yield
    restore()


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a Luminal or photon thread running."""
    before = set(threading.enumerate())
    yield
    leaked = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.is_alive() and not thread.name.startswith("asyncio_")
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still_alive = [thread.name for thread in leaked if thread.is_alive()]
    assert not still_alive, f"threads left running: {still_alive}"


def child_pids() -> set[int]:
    """The processes whose parent is this one, zombies included; empty without ``/proc``."""
    me = os.getpid()
    found: set[int] = set()
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state_and_ppid = stat.rpartition(")")[2].split()
        if int(state_and_ppid[1]) == me:
            found.add(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def _no_child_process_leaks() -> Iterator[None]:
    """Fail a test that leaves a child process running or unreaped (a zombie)."""
    before = child_pids()
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := child_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not leaked, f"child processes left behind: {sorted(leaked)}"


@pytest.fixture(autouse=True)
def _no_meta_path_leaks() -> Iterator[None]:
    before = list(sys.meta_path)
    yield
    assert sys.meta_path == before, "a loader left its finders in sys.meta_path"


WritePhoton = Callable[[str, str], Path]


@pytest.fixture
def photon_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "photons"
    directory.mkdir()
    return directory


@pytest.fixture
def write_photon(photon_dir: Path) -> WritePhoton:
    """Write ``source`` (dedented) to ``photon_dir / relative`` and return the path."""

    def write(relative: str, source: str) -> Path:
        path = photon_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
async def loader() -> AsyncIterator[Loader]:
    async with Loader(finalize_timeout=2.0, stop_timeout=2.0) as fresh:
        yield fresh


class Observer:
    """A host-side plugin that records every loader event it receives."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[object, ...]]] = []
        self.errors: list[tuple[str, BaseException]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def last(self) -> tuple[str, tuple[object, ...]]:
        return self.events[-1]

    @hookimpl
    def luminal_photon_loaded(self, handler: Handler) -> None:
        self.events.append(("loaded", (handler,)))

    @hookimpl
    def luminal_photon_started(self, handler: Handler) -> None:
        self.events.append(("started", (handler,)))

    @hookimpl
    def luminal_photon_unloaded(self, handler: Handler) -> None:
        self.events.append(("unloaded", (handler,)))

    @hookimpl
    def luminal_photon_reloaded(self, old: Handler, new: Handler) -> None:
        self.events.append(("reloaded", (old, new)))

    @hookimpl
    def luminal_photon_error(self, path: str, error: BaseException) -> None:
        self.events.append(("error", (path, error)))
        self.errors.append((path, error))


@pytest.fixture
def observer(loader: Loader) -> Observer:
    """An :class:`Observer` registered in the loader's plugin manager."""
    recorder = Observer()
    loader.plugin_manager.register(recorder, name="test-observer")
    return recorder


@pytest.fixture
def recorder() -> Recorder:
    """Records the loader events of the ``watching`` loader."""
    return Recorder()


@pytest.fixture
async def watching(photon_dir: Path, recorder: Recorder) -> AsyncIterator[Loader]:
    """A logging loader with the watch tests' host specs and a recorder, not watching yet."""
    async with Loader(logging=True, finalize_timeout=5.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        yield loader
