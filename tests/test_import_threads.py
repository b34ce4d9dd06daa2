"""Photon imports run on daemon threads of the loader's own: an import that hangs holds up no
other, and none of them outlives the loader's close."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from luminal import Loader
from luminal.ownership import IMPORT_THREAD_NAME
from luminal.testing import WritePhoton
from tests.watch_support import wait_for

RELEASE = threading.Event()

HANGING = """
    from tests.test_import_threads import RELEASE
    RELEASE.wait(30)
    from luminal import IPhoton

    class Hanging(IPhoton, name="hanging"):
        async def finalize(self):
            pass
"""

PLAIN = """
    from luminal import IPhoton

    class {cls}(IPhoton, name="{name}"):
        async def finalize(self):
            pass
"""


def import_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == IMPORT_THREAD_NAME]


async def test_an_import_that_hangs_holds_up_no_other_import_of_its_loader(
    loader: Loader, write_photon: WritePhoton
) -> None:
    RELEASE.clear()
    hanging = asyncio.ensure_future(loader.load_photon(write_photon("hang.py", HANGING)))
    try:
        await wait_for(lambda: len(import_threads()) >= 1)
        for round_number in range(3):  # a finished import's thread is reused; the hung one not
            path = write_photon(
                f"plain{round_number}.py", PLAIN.format(cls="P", name=f"p{round_number}")
            )
            await asyncio.wait_for(loader.load_photon(path), 10)
        assert not hanging.done()
    finally:
        RELEASE.set()
        await hanging


async def test_no_import_thread_outlives_the_loaders_close(
    write_photon: WritePhoton, photon_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle thread waits for the next import; with a wait longer than the test, only the
    # close can end it.
    monkeypatch.setattr("luminal.importthreads.IDLE_SECONDS", 60.0)
    before = set(import_threads())
    write_photon("one.py", PLAIN.format(cls="One", name="one"))
    async with Loader() as loader:
        await loader.load_photons(photon_dir)
        await loader.reload_photon("one")
        assert set(import_threads()) - before
    await wait_for(lambda: set(import_threads()) <= before)
