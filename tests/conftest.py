"""Shared fixtures: the pytest plugin's loader, photon directory and writer under the suite's
short names, an event recorder, and leak guards."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from luminal import Loader
from luminal.testing import EventRecorder, WritePhoton
from tests.isolation import environment_site_dirs, hide_installed_photons
from tests.watch_support import HostSpecs

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="session")
def _no_installed_photons() -> Iterator[None]:
    """Hide the photon distributions of the environment the suite runs in (a user's photon
    packages): the suite sees only the distributions it installs itself."""
    restore = hide_installed_photons(environment_site_dirs())
    yield
    restore()


@pytest.fixture(autouse=True, scope="session")
def _private_code_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the default code cache (``$XDG_CACHE_HOME/luminal``) out of the user's home."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


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


@pytest.fixture
def luminal_loader_kwargs() -> dict[str, Any]:
    """The suite's loaders wait up to 2 s for a finalizer and for a stop."""
    return {"finalize_timeout": 2.0, "stop_timeout": 2.0}


@pytest.fixture
def loader(luminal_loader: Loader) -> Loader:
    """The plugin's loader of the test (a module that needs another overrides ``loader``)."""
    return luminal_loader


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty site-packages directory first on ``sys.path``; ``sys.path`` is restored after."""
    directory = tmp_path / "site-packages"
    directory.mkdir()
    monkeypatch.setattr(sys, "path", [str(directory), *sys.path])
    return directory


@pytest.fixture
def photon_dir(luminal_photon_dir: Path) -> Path:
    """The plugin's photon directory of the test."""
    return luminal_photon_dir


@pytest.fixture
def write_photon(luminal_write_photon: WritePhoton) -> WritePhoton:
    """The plugin's ``write(relative_path, source) -> Path`` into :func:`photon_dir`."""
    return luminal_write_photon


@pytest.fixture
def observer(loader: Loader) -> EventRecorder:
    """An :class:`~luminal.testing.EventRecorder` registered in the loader's plugin manager."""
    recorder = EventRecorder()
    loader.plugin_manager.register(recorder, name="test-observer")
    return recorder


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """Two sibling directories for tests that watch several trees with one loader."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    return first, second


@pytest.fixture
def recorder() -> EventRecorder:
    """Records the loader events of the ``watching`` loader."""
    return EventRecorder()


@pytest.fixture
async def watching(photon_dir: Path, recorder: EventRecorder) -> AsyncIterator[Loader]:
    """A logging loader with the watch tests' host specs and a recorder, not watching yet."""
    async with Loader(logging=True, finalize_timeout=5.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        yield loader
