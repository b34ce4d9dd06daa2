"""Plain ``threading.Thread`` objects a photon starts itself (not ``spawn_thread``): the loader
adopts those that appear while its ``__init__`` or ``photon_start`` runs, and reports the ones
still alive after the photon is unloaded or reloaded."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from luminal import DirectoryLoadError, Handler, Loader, PhotonStopError
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


RAW_AT_IMPORT = """
    import threading

    from luminal import IPhoton

    RELEASE = threading.Event()
    threading.Thread(target=RELEASE.wait, name="module-worker", daemon=True).start()

    class Rogue(IPhoton, name="rogue"):
        async def finalize(self):
            pass
"""


async def test_a_plain_thread_its_module_started_at_import_is_reported_after_unload(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
    luminal_leftovers: LeftoverCheck,
) -> None:
    [handler] = await loader.load_photons(write_photon("rogue.py", RAW_AT_IMPORT).parent)
    assert handler.photon_class is not None
    releases.append(sys.modules[handler.photon_class.__module__].RELEASE)
    [worker] = [thread for thread in threading.enumerate() if thread.name == "module-worker"]
    await handler.start()

    assert await loader.unload_photon(handler) is False
    [error] = stop_errors(observer)
    assert error.threads == [worker]
    assert "thread module-worker" in str(error)
    assert "started when it was imported" in str(error)
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects


async def test_a_reload_reports_the_thread_the_old_module_left(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
    luminal_leftovers: LeftoverCheck,
) -> None:
    path = write_photon("rogue.py", RAW_AT_IMPORT)
    [handler] = await loader.load_photons(path.parent)
    assert handler.photon_class is not None
    releases.append(sys.modules[handler.photon_class.__module__].RELEASE)
    await handler.start()
    reloaded = await loader.reload_photon(handler)
    assert isinstance(reloaded, Handler)
    assert reloaded.photon_class is not None
    releases.append(sys.modules[reloaded.photon_class.__module__].RELEASE)
    [error] = stop_errors(observer)
    assert "started when it was imported" in str(error)
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects
    await loader.unload_photon(reloaded, force_stop=True)
    luminal_leftovers.stop_errors.clear()


FAILING_AFTER_A_THREAD = """
    import threading

    RELEASE = threading.Event()
    worker = threading.Thread(target=RELEASE.wait, name="failed-worker", daemon=True)
    worker.release = RELEASE  # for the test to end it
    worker.start()
    raise RuntimeError("broken after starting a thread")
"""

QUIET = """
    from luminal import IPhoton

    class Quiet(IPhoton, name="quiet"):
        async def finalize(self):
            pass
"""


async def test_a_thread_started_at_import_belongs_to_its_source_alone(
    loader: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    releases: list[threading.Event],
    luminal_leftovers: LeftoverCheck,
) -> None:
    """Sources of one directory import one after another on one thread: the thread a module
    starts is its own, never the next source's, even when its import then fails."""
    write_photon("a_rogue.py", RAW_AT_IMPORT)
    write_photon("b_failing.py", FAILING_AFTER_A_THREAD)
    directory = write_photon("c_quiet.py", QUIET).parent
    with pytest.raises(DirectoryLoadError) as raised:
        await loader.load_photons(directory)
    rogue, quiet = sorted(raised.value.handlers, key=lambda handler: handler.filepath)
    assert rogue.photon_class is not None
    releases.append(sys.modules[rogue.photon_class.__module__].RELEASE)
    releases.extend(
        thread.release  # type: ignore[attr-defined]
        for thread in threading.enumerate()
        if thread.name == "failed-worker"
    )
    await rogue.start()
    await quiet.start()

    assert await loader.unload_photon(quiet) is True
    assert stop_errors(observer) == []
    assert await loader.unload_photon(rogue) is False
    [error] = stop_errors(observer)
    assert [thread.name for thread in error.threads] == ["module-worker"]
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects
