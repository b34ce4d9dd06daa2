"""A loader's own lifecycle: once closed, it refuses every operation with LoaderClosedError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from luminal import IPhoton, Loader, LoaderClosedError, LoaderState, LuminalError
from luminal.testing import WritePhoton

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
