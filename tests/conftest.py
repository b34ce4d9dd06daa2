"""Shared fixtures: a fresh loader, a photon directory to write into, and leak guards."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from luminal import Loader


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
