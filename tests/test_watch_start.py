"""A start that never returns is cut at ``start_timeout``, and operations called from a photon's
own ``photon_start`` raise ``PhotonReentryError`` at once instead of waiting for themselves."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from luminal import Handler, Loader, PhotonStartError
from luminal.managers.starting import start_loaded
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import HostSpecs, greeter, greetings, wait_for

SEEN: list[str] = []
LOADERS: list[Loader] = []

HANGING = """
    import asyncio
    from luminal import IPhoton, hookimpl

    class Hanging(IPhoton, name="hanging"):
        @hookimpl
        def greet(self, who):
            return "hanging " + who

        @hookimpl
        async def photon_start(self):
            await asyncio.Event().wait()

        async def finalize(self):
            pass
"""

REENTRANT = """
    from luminal import IPhoton, hookimpl
    from tests.test_watch_start import LOADERS, SEEN

    class Reentrant(IPhoton, name="reentrant"):
        @hookimpl
        def greet(self, who):
            return "reentrant " + who

        @hookimpl
        async def photon_start(self):
            loader = LOADERS[0]
            try:
                await {call}
            except Exception as error:
                SEEN.append(type(error).__name__)

        async def finalize(self):
            pass
"""


def source(text: str, **fields: str) -> str:
    return textwrap.dedent(text).format(**fields) if fields else textwrap.dedent(text)


@pytest.fixture
async def quick(recorder: EventRecorder) -> AsyncIterator[Loader]:
    """A loader whose starts may take 0.3 s."""
    SEEN.clear()
    async with Loader(start_timeout=0.3, finalize_timeout=1.0, stop_timeout=1.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        LOADERS[:] = [loader]
        yield loader
    LOADERS.clear()


@pytest.mark.parametrize("bad", [0, -1, float("inf"), "30"])
def test_start_timeout_must_be_a_positive_number(bad: object) -> None:
    expected = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(expected, match="start_timeout"):
        Loader(start_timeout=bad)  # type: ignore[arg-type]


async def test_a_start_that_never_returns_is_cancelled_and_reported(
    quick: Loader, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    handler = await quick.load_photon(write_photon("hanging.py", source(HANGING)))
    assert isinstance(handler, Handler)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(PhotonStartError, match=r"did not finish within 0\.3 s"):
        await handler.start()
    assert loop.time() - began < 2.0
    assert not handler.started
    assert greetings(quick) == []
    assert [type(error) for _, error in recorder.errors] == [PhotonStartError]


async def test_a_hanging_start_does_not_stop_watching(
    quick: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("hanging.py", source(HANGING))
    await quick.watch_photons(photon_dir, debounce=0.01)
    assert quick.photons["hanging"].state.value == "loaded"
    write_photon("greeter.py", greeter("hello"))
    await wait_for(lambda: greetings(quick) == ["hello ada"])
    assert any(isinstance(error, PhotonStartError) for _, error in recorder.errors)
    await quick.stop_watching_photons()


async def test_stop_watching_returns_within_the_start_timeout_of_a_hanging_start(
    quick: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    await quick.watch_photons(photon_dir, debounce=0.01)
    write_photon("hanging.py", source(HANGING))
    await wait_for(lambda: "hanging" in quick.photons)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(quick.stop_watching_photons(), timeout=5.0)
    assert loop.time() - began < 0.3 + 1.0 + 1.0


@pytest.mark.parametrize(
    "call",
    [
        "loader.reload_photon(self.photon_name)",
        "loader.unload_photon(self.photon_name, force_stop=True)",
        "loader.load_photon(__file__)",
        "loader.close()",
        "loader.stop_watching_photons()",
    ],
)
async def test_operations_from_photon_start_raise_at_once(
    quick: Loader, write_photon: WritePhoton, call: str
) -> None:
    handler = await quick.load_photon(write_photon("reentrant.py", source(REENTRANT, call=call)))
    assert isinstance(handler, Handler)
    await asyncio.wait_for(handler.start(), timeout=5.0)
    assert SEEN == ["PhotonReentryError"]
    assert handler.started
    assert greetings(quick) == ["reentrant ada"]


async def test_operations_from_photon_start_raise_at_once_under_watching(
    quick: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("reentrant.py", source(REENTRANT, call="loader.close()"))
    await asyncio.wait_for(quick.watch_photons(photon_dir, debounce=0.01), timeout=5.0)
    assert SEEN == ["PhotonReentryError"]
    path = photon_dir / "reentrant.py"
    path.write_text(source(REENTRANT, call="loader.reload_photon(self.photon_name)"))
    await wait_for(lambda: SEEN == ["PhotonReentryError", "PhotonReentryError"])
    await wait_for(lambda: quick.photons["reentrant"].started)
    await quick.stop_watching_photons()


@pytest.mark.parametrize("kind", ["def", "async def"])
async def test_a_reload_scheduled_from_photon_start_runs_once_the_start_returned(
    quick: Loader, write_photon: WritePhoton, recorder: EventRecorder, kind: str
) -> None:
    """An ``async`` start runs as a task of its own: the task it creates may run before its
    caller resumes, and must not find the file's operation still held."""
    scheduled = f"""
        from luminal import IPhoton, hookimpl
        from tests.test_watch_start import LOADERS, SEEN

        class Reentrant(IPhoton, name="reentrant"):
            @hookimpl
            {kind} photon_start(self):
                SEEN.append("start")
                if SEEN.count("start") == 1:
                    self.create_task(LOADERS[0].reload_photon(self.photon_name))

            async def finalize(self):
                SEEN.append("finalize")
    """
    handler = await quick.load_photon(write_photon("reentrant.py", source(scheduled)))
    assert isinstance(handler, Handler)
    await handler.start()
    await wait_for(lambda: len(recorder.reloaded) == 1)
    assert SEEN == ["start", "finalize", "start"]
    assert quick.photons["reentrant"].started


async def test_close_returns_within_the_start_timeout_of_a_hanging_start(
    quick: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    await quick.watch_photons(photon_dir, debounce=0.01)
    write_photon("hanging.py", source(HANGING))
    await wait_for(lambda: "hanging" in quick.photons)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(quick.close(), timeout=5.0)
    assert loop.time() - began < 0.3 + 1.0 + 1.0
    assert quick.photons == {}


# Set by the blocking version once its import runs; it then waits until RELOAD_GOES_ON is set.
RELOAD_IMPORTING = threading.Event()
RELOAD_GOES_ON = threading.Event()

REPLACED_LATER = """
    from luminal import IPhoton

    class Replaced(IPhoton, name="replaced"):
        pass
"""

REPLACED_BLOCKING = """
    from luminal import IPhoton
    from tests.test_watch_start import RELOAD_GOES_ON, RELOAD_IMPORTING

    RELOAD_IMPORTING.set()
    RELOAD_GOES_ON.wait(10)

    class Replaced(IPhoton, name="replaced"):
        pass
"""

BYSTANDER = """
    from luminal import IPhoton

    class Bystander(IPhoton, name="bystander"):
        async def finalize(self):
            pass
"""


async def test_a_photon_replaced_while_a_step_starts_it_keeps_no_other_from_starting(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """The starts at the end of a watching step go on when a host task reloads one of the
    step's photons meanwhile: its old handler is gone (nothing to start), the others start."""
    RELOAD_IMPORTING.clear()
    RELOAD_GOES_ON.clear()
    replaced = await loader.load_photon(write_photon("a_replaced.py", REPLACED_LATER))
    bystander = await loader.load_photon(write_photon("b_bystander.py", BYSTANDER))
    assert isinstance(replaced, Handler)
    assert isinstance(bystander, Handler)
    write_photon("a_replaced.py", REPLACED_BLOCKING)
    reloading = asyncio.ensure_future(loader.reload_photon(replaced))
    await wait_for(RELOAD_IMPORTING.is_set)
    starting = asyncio.ensure_future(start_loaded([replaced, bystander]))
    RELOAD_GOES_ON.set()
    await reloading
    await starting
    assert bystander.started
    assert loader.photons["replaced"] is not replaced
