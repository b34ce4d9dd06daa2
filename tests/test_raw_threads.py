"""Plain ``threading.Thread`` objects a photon starts itself (not ``spawn_thread``): the loader
adopts those that appear while its ``__init__`` or ``photon_start`` runs, and reports the ones
still alive after the photon is unloaded or reloaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from luminal import Handler, Loader, PhotonStopError
from luminal.testing import EventRecorder, LeftoverCheck, WritePhoton

RAW_IN_START = """
    import threading

    from luminal import IPhoton, hookimpl

    class Rogue(IPhoton, name="rogue"):
        def __init__(self):
            self.release = threading.Event()

        @hookimpl
        def photon_start(self):
            threading.Thread(target=self.release.wait, name="rogue-worker").start()

        async def finalize(self):
            pass
"""

RAW_IN_INIT = """
    import threading

    from luminal import IPhoton

    class Rogue(IPhoton, name="rogue"):
        def __init__(self):
            self.release = threading.Event()
            threading.Thread(target=self.release.wait, name="rogue-worker", daemon=True).start()

        async def finalize(self):
            pass
"""

POLITE = """
    import threading

    from luminal import IPhoton, hookimpl

    class Polite(IPhoton, name="polite"):
        @hookimpl
        def photon_start(self):
            self.release = threading.Event()
            self.worker = threading.Thread(target=self.release.wait, name="polite-worker")
            self.worker.start()

        async def finalize(self):
            self.release.set()
"""


@pytest.fixture
def releases() -> Iterator[list[threading.Event]]:
    """Events that the test's rogue threads wait on; all set at teardown, so they end."""
    events: list[threading.Event] = []
    yield events
    for event in events:
        event.set()


def stop_errors(observer: EventRecorder) -> list[PhotonStopError]:
    return [error for _, error in observer.errors if isinstance(error, PhotonStopError)]


@pytest.mark.parametrize("source", [RAW_IN_START, RAW_IN_INIT], ids=["photon_start", "__init__"])
async def test_a_plain_thread_alive_after_unload_is_reported(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
    source: str,
    luminal_leftovers: LeftoverCheck,
) -> None:
    [handler] = await loader.load_photons(write_photon("rogue.py", source).parent)
    await handler.start()
    releases.append(handler.instance.release)
    [worker] = [thread for thread in threading.enumerate() if thread.name == "rogue-worker"]

    assert await loader.unload_photon(handler) is False
    [error] = stop_errors(observer)
    assert error.photon_name == "rogue"
    assert error.threads == [worker]
    assert "thread rogue-worker (a threading.Thread started by the photon's code" in str(error)
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects


async def test_a_plain_thread_that_ends_on_finalize_is_not_reported(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    [handler] = await loader.load_photons(write_photon("polite.py", POLITE).parent)
    await handler.start()
    worker = handler.instance.worker
    assert await loader.unload_photon(handler) is True
    assert stop_errors(observer) == []
    assert not worker.is_alive()


async def test_each_reload_reports_the_plain_thread_the_old_version_left(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
    luminal_leftovers: LeftoverCheck,
) -> None:
    [handler] = await loader.load_photons(write_photon("rogue.py", RAW_IN_START).parent)
    await handler.start()
    for expected in range(1, 4):
        releases.append(handler.instance.release)
        reloaded = await loader.reload_photon(handler)
        assert isinstance(reloaded, Handler)
        handler = reloaded
        assert len(stop_errors(observer)) == expected
    releases.append(handler.instance.release)
    assert await loader.unload_photon(handler) is False
    assert len(stop_errors(observer)) == 4
    luminal_leftovers.stop_errors.clear()  # the stop errors this test expects


async def test_threads_the_photon_did_not_start_are_not_its_own(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
) -> None:
    release = threading.Event()
    releases.append(release)
    bystander = threading.Thread(target=release.wait, name="bystander")
    bystander.start()
    [handler] = await loader.load_photons(write_photon("polite.py", POLITE).parent)
    await handler.start()
    assert await loader.unload_photon(handler) is True
    assert stop_errors(observer) == []
    release.set()
    bystander.join(5)
