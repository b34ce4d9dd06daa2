"""A loader's own lifecycle: once closed, it refuses every operation with LoaderClosedError."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from luminal import (
    Handler,
    HandlerState,
    IPhoton,
    Loader,
    LoaderClosedError,
    LoaderState,
    LuminalError,
)
from luminal.testing import WritePhoton
from tests.watch_support import wait_for

ONE = "from luminal import IPhoton\nclass One(IPhoton, name='one'):\n    pass\n"

Operation = Callable[[Loader, Path], Awaitable[object]]

OPERATIONS: dict[str, Operation] = {
    "load_photon": lambda loader, path: loader.load_photon(path),
    "load_photons": lambda loader, path: loader.load_photons(path.parent),
    "load_entry_points": lambda loader, path: loader.load_entry_points(),
    "reload_photon": lambda loader, path: loader.reload_photon("one"),
    "reload_photons": lambda loader, path: loader.reload_photons(["one"]),
    "unload_photon": lambda loader, path: loader.unload_photon("one"),
    "unload_photons": lambda loader, path: loader.unload_photons(["one"]),
    "watch_photons": lambda loader, path: loader.watch_photons(path.parent),
    "_emit_photon": lambda loader, path: loader._emit_photon(path),
    "_emit_photons": lambda loader, path: loader._emit_photons(path.parent),
    "_absorb_photon": lambda loader, path: loader._absorb_photon("one"),
    "_reload_photon": lambda loader, path: loader._reload_photon("one"),
}


def test_loader_closed_error_is_a_luminal_runtime_error() -> None:
    assert issubclass(LoaderClosedError, LuminalError)
    assert issubclass(LoaderClosedError, RuntimeError)


async def test_a_loader_is_open_until_closed(write_photon: WritePhoton) -> None:
    loader = Loader()
    states = [loader.state]
    handler = await loader.load_photon(write_photon("one.py", ONE))
    assert not isinstance(handler, list)
    await handler.start()
    await loader.close()
    states.append(loader.state)
    assert states == [LoaderState.OPEN, LoaderState.CLOSED]
    assert dict(loader.photons) == {}
    assert handler.instance is None


@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_a_closed_loader_refuses_every_operation(
    name: str, write_photon: WritePhoton
) -> None:
    path = write_photon("one.py", ONE)
    async with Loader() as loader:
        await loader.load_photon(path)
    with pytest.raises(LoaderClosedError):
        await OPERATIONS[name](loader, path)
    assert dict(loader.photons) == {}


async def test_a_closed_loader_still_checks_argument_types_first() -> None:
    loader = Loader()
    await loader.close()
    with pytest.raises(TypeError):
        await loader.load_photon(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await loader.unload_photon("one", force_stop="yes")  # type: ignore[arg-type]


async def test_closing_twice_and_stopping_a_closed_loader_do_nothing() -> None:
    loader = Loader()
    await loader.close()
    await loader.close()
    await loader.stop_watching_photons()
    assert loader.state is LoaderState.CLOSED


async def test_a_closed_loader_cannot_be_entered_again() -> None:
    loader = Loader()
    async with loader:
        pass
    with pytest.raises(LoaderClosedError):
        async with loader:
            pass


async def test_a_closed_loader_leaves_the_plugin_manager_usable(
    write_photon: WritePhoton,
) -> None:
    async with Loader() as loader:
        handler = await loader.load_photon(write_photon("one.py", ONE))
        assert not isinstance(handler, list)
        await handler.start()
        assert isinstance(loader.plugin_manager.get_plugin("one"), IPhoton)
    assert loader.plugin_manager.get_plugin("one") is None
    assert await loader.acall("luminal_photon_loaded", handler=None) == []


# Set by the slow photon's finalizer once it runs; it then waits until it is cancelled.
FINALIZING = threading.Event()

SLOW = """
    import asyncio
    from luminal import IPhoton
    from tests.test_loader_lifecycle import FINALIZING

    class {cls}(IPhoton, name="{name}"):
        async def finalize(self):
            FINALIZING.set()
            await asyncio.sleep(30)
"""


async def test_a_close_cancelled_while_a_finalizer_runs_still_closes(
    write_photon: WritePhoton,
) -> None:
    """``wait_for(loader.close(), ...)`` that times out leaves no photon running and no way to
    load one: the close is finished, what remains force-stopped."""
    FINALIZING.clear()
    loader = Loader(stop_timeout=0.5)
    handlers = []
    for name in ("first", "second"):
        path = write_photon(f"{name}.py", SLOW.format(cls=name.title(), name=name))
        handler = await loader.load_photon(path)
        assert isinstance(handler, Handler)
        await handler.start()
        handlers.append(handler)
    closing = asyncio.ensure_future(loader.close())
    await wait_for(FINALIZING.is_set)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert loader.state is LoaderState.CLOSED
    assert dict(loader.photons) == {}
    assert [handler.state for handler in handlers] == [HandlerState.STOPPED] * 2
    assert not any(isinstance(each, IPhoton) for each in loader.plugin_manager.get_plugins())
    with pytest.raises(LoaderClosedError):
        await loader.load_photon(handlers[0].filepath)


async def test_a_close_cancelled_while_watching_stops_leaves_no_thread(
    write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("one.py", ONE)
    before = set(threading.enumerate())
    loader = Loader()
    await loader.watch_photons(photon_dir)
    closing = asyncio.ensure_future(loader.close())
    await asyncio.sleep(0)  # the close is now stopping the observers
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert loader.state is LoaderState.CLOSED
    assert dict(loader.photons) == {}
    await wait_for(
        lambda: (
            not [
                thread
                for thread in threading.enumerate()
                if thread not in before and not thread.name.startswith("asyncio_")
            ]
        )
    )


# Set by the slow import once it runs; it then waits until RELEASE is set.
IMPORTING = threading.Event()
RELEASE = threading.Event()

SLOW_IMPORT = """
    from luminal import IPhoton
    from tests.test_loader_lifecycle import IMPORTING, RELEASE

    IMPORTING.set()
    RELEASE.wait(10)

    class Slow(IPhoton, name="slow"):
        pass
"""


@pytest.mark.parametrize("operation", ["load_photon", "load_photons"])
async def test_a_load_importing_while_the_loader_closes_loads_nothing(
    operation: str, write_photon: WritePhoton
) -> None:
    """A load whose import still runs when ``close()`` is called does not commit once it is
    done: it raises LoaderClosedError, and nothing of it stays (no photon, no module, no
    finder in ``sys.meta_path``)."""
    IMPORTING.clear()
    RELEASE.clear()
    path = write_photon("slow.py", SLOW_IMPORT)
    meta_path = list(sys.meta_path)
    loader = Loader()
    loading = asyncio.ensure_future(OPERATIONS[operation](loader, path))
    await wait_for(IMPORTING.is_set)
    closing = asyncio.ensure_future(loader.close())
    await wait_for(lambda: loader.state is LoaderState.CLOSED)
    RELEASE.set()
    await closing
    with pytest.raises(LoaderClosedError):
        await loading
    assert dict(loader.photons) == {}
    assert sys.meta_path == meta_path
    assert not [name for name in sys.modules if name.startswith(loader._namespace + "_slow_")]
