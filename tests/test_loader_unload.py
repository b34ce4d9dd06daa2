"""``Loader.unload_photon`` and ``unload_photons``: finalizers, errors and freed modules."""

from __future__ import annotations

import gc
import logging
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from luminal import (
    FinalizerNotImplementedError,
    Handler,
    HandlerState,
    Loader,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonStopError,
)
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import wait_for

FINALIZED: list[str] = []

TIDY = """
    from luminal import IPhoton
    from tests.test_loader_unload import FINALIZED

    class {name}(IPhoton, name="{name}"):
        async def finalize(self):
            FINALIZED.append("{name}")
"""

BARE = """
    from luminal import IPhoton

    class Bare(IPhoton, name="bare"):
        pass
"""

RAISING = """
    from luminal import IPhoton

    class Raising(IPhoton, name="raising"):
        async def finalize(self):
            raise OSError("disk gone")
"""


@pytest.fixture(autouse=True)
def _clear_finalized() -> None:
    FINALIZED.clear()


async def all_collected(refs: list[weakref.ref[Any]]) -> None:
    """Wait until ``gc.collect()`` has freed every referent. Not at once: the daemon thread
    that imported a source may still hold it for the moment it takes to end."""

    def collected() -> bool:
        gc.collect()
        return all(ref() is None for ref in refs)

    await wait_for(collected, timeout=5.0)


async def load(loader: Loader, path: Path, start: bool = True) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    if start:
        await handler.start()
    return handler


async def test_unload_finalizes_unregisters_and_forgets(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    instance = handler.instance
    assert await loader.unload_photon(handler) is True
    assert FINALIZED == ["tidy"]
    assert not loader.plugin_manager.is_registered(instance)
    assert dict(loader.photons) == {}
    assert handler.state is HandlerState.STOPPED
    assert handler.module_name not in sys.modules


@pytest.mark.parametrize("how", ["handler", "name", "path", "str path", "relative path"])
async def test_unload_by_handler_name_or_path(
    loader: Loader,
    write_photon: WritePhoton,
    photon_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    path = write_photon("tidy.py", TIDY.format(name="tidy"))
    handler = await load(loader, path)
    monkeypatch.chdir(photon_dir)
    reference: Any = {
        "handler": handler,
        "name": "tidy",
        "path": path,
        "str path": str(path),
        "relative path": "../photons/tidy.py",
    }[how]
    assert await loader.unload_photon(reference) is True
    assert FINALIZED == ["tidy"]
    assert dict(loader.photons) == {}


async def test_unloading_one_photon_unloads_its_whole_file(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("pair.py", TIDY.format(name="left") + TIDY.format(name="right"))
    handlers = await loader.load_photon(path)
    assert isinstance(handlers, list)
    for handler in handlers:
        await handler.start()
    assert await loader.unload_photon("left") is True
    assert sorted(FINALIZED) == ["left", "right"]
    assert dict(loader.photons) == {}


@pytest.mark.parametrize("bad", [42, None, b"tidy.py", ["tidy"], 1.5])
async def test_unload_rejects_wrong_types(
    loader: Loader, write_photon: WritePhoton, bad: Any
) -> None:
    await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    with pytest.raises(TypeError):
        await loader.unload_photon(bad)
    assert list(loader.photons) == ["tidy"]


async def test_unload_of_unknown_photons_raises_photon_not_found(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    for unknown in ("nobody", photon_dir / "other.py", str(photon_dir / "missing.py")):
        with pytest.raises(PhotonNotFoundError):
            await loader.unload_photon(unknown)
    await loader.unload_photon(handler)
    with pytest.raises(PhotonNotFoundError):
        await loader.unload_photon(handler)
    with pytest.raises(PhotonNotFoundError):
        await loader.unload_photon("tidy")


async def test_handler_of_another_loader_is_not_found(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("tidy.py", TIDY.format(name="tidy"))
    async with Loader() as other:
        foreign = await load(other, path)
        with pytest.raises(PhotonNotFoundError):
            await loader.unload_photon(foreign)
        assert foreign.started


async def test_unloading_a_never_started_photon_raises(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")), start=False)
    with pytest.raises(PhotonNotInitializedError):
        await loader.unload_photon(handler)
    with pytest.raises(PhotonNotInitializedError):
        await loader.unload_photons([handler])
    assert loader.photons["tidy"] is handler
    assert await loader.unload_photon(handler, force_stop=True) is True
    assert dict(loader.photons) == {}
    assert FINALIZED == []


async def test_a_file_without_photons_unloads_without_force_stop_and_loads_again(
    loader: Loader, write_photon: WritePhoton
) -> None:
    # Nothing of such a file can be started, yet unloading it said "start it or unload with
    # force_stop=True"; and loading it again once it holds a photon returns the loaded file.
    paths = [write_photon(name, "WORD = 'not a photon yet'\n") for name in ("one.py", "two.py")]
    for path in paths:
        assert await loader.load_photon(path) == []
        write_photon(path.name, TIDY.format(name=path.stem))
        assert await loader.load_photon(path) == []
    assert await loader.unload_photon(paths[0]) is True
    assert await loader.unload_photons([paths[1]]) == [str(paths[1])]
    handlers = [await load(loader, path) for path in paths]
    assert [handler.name for handler in handlers] == ["one", "two"]
    assert dict(loader.photons) == {"one": handlers[0], "two": handlers[1]}


async def test_force_stop_skips_the_finalizer(loader: Loader, write_photon: WritePhoton) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    assert await loader.unload_photon(handler, force_stop=True) is True
    assert FINALIZED == []
    assert dict(loader.photons) == {}


async def test_missing_finalizer_falls_back_to_force_stop(
    write_photon: WritePhoton, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_photon("bare.py", BARE)
    async with Loader(logging=True) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer)
        handler = await load(loader, path)
        with caplog.at_level(logging.DEBUG, logger="luminal"):
            assert await loader.unload_photon(handler) is True
        assert dict(loader.photons) == {}
        [(_, error)] = observer.errors
        assert isinstance(error, FinalizerNotImplementedError)
        assert any(
            record.levelno == logging.WARNING and "finalizer" in record.getMessage()
            for record in caplog.records
        )


async def test_raising_finalizer_falls_back_to_force_stop(
    write_photon: WritePhoton, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_photon("raising.py", RAISING)
    async with Loader(logging=True) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer)
        handler = await load(loader, path)
        with caplog.at_level(logging.DEBUG, logger="luminal"):
            assert await loader.unload_photon(handler) is True
        assert dict(loader.photons) == {}
        assert handler.module_name not in sys.modules
        [(reported_path, error)] = observer.errors
        assert reported_path == str(path.resolve())
        assert isinstance(error, PhotonStopError)
        assert isinstance(error.__cause__, OSError)
        assert any(
            record.levelno == logging.ERROR and "disk gone" in record.getMessage()
            for record in caplog.records
        )


async def test_slow_finalizer_times_out_into_force_stop(write_photon: WritePhoton) -> None:
    path = write_photon(
        "slow.py",
        """
        import asyncio
        from luminal import IPhoton

        class Slow(IPhoton, name="slow"):
            async def finalize(self):
                await asyncio.Event().wait()
        """,
    )
    async with Loader(finalize_timeout=0.05) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer)
        handler = await load(loader, path)
        assert await loader.unload_photon(handler) is True
        assert dict(loader.photons) == {}
        [(_, error)] = observer.errors
        assert isinstance(error, PhotonStopError)
        assert "did not finish" in str(error)


async def test_unload_photons_returns_one_path_per_photon_given(
    loader: Loader, write_photon: WritePhoton
) -> None:
    pair = write_photon("pair.py", TIDY.format(name="left") + TIDY.format(name="right"))
    solo = write_photon("solo.py", TIDY.format(name="solo"))
    for handler in [*(await loader.load_photon(pair)), await loader.load_photon(solo)]:  # type: ignore[misc]
        await handler.start()
    left, right = loader.photons["left"], loader.photons["right"]
    result = await loader.unload_photons([left, right, "solo"])
    assert result == [str(pair.resolve()), str(pair.resolve()), str(solo.resolve())]
    assert sorted(FINALIZED) == ["left", "right", "solo"]
    assert dict(loader.photons) == {}


async def test_unload_photons_checks_every_reference_first(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    with pytest.raises(PhotonNotFoundError):
        await loader.unload_photons([handler, "nobody"])
    with pytest.raises(TypeError):
        await loader.unload_photons([handler, 42])  # type: ignore[list-item]
    assert loader.photons["tidy"] is handler
    assert handler.started
    assert FINALIZED == []


@pytest.mark.parametrize("bad", ["tidy", 42, None])
async def test_unload_photons_needs_a_list(
    loader: Loader, write_photon: WritePhoton, bad: Any
) -> None:
    await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    with pytest.raises(TypeError):
        await loader.unload_photons(bad)
    assert list(loader.photons) == ["tidy"]


async def test_unload_removes_package_submodules_and_helpers(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    helper = f"unload_helper_{photon_dir.parent.name}"
    write_photon(f"{helper}.py", "VALUE = 1\n")
    write_photon("pkg/__init__.py", f"import {helper}\nfrom .inner import Inner\n")
    write_photon(
        "pkg/inner.py",
        "from luminal import IPhoton\nclass Inner(IPhoton):\n    async def finalize(self): pass\n",
    )
    handler = await load(loader, photon_dir / "pkg" / "__init__.py")
    prefix = handler.module_name
    assert {prefix, prefix + ".inner", helper} <= set(sys.modules)
    await loader.unload_photon(handler)
    assert not [name for name in sys.modules if name == prefix or name.startswith(prefix + ".")]
    assert helper not in sys.modules


async def test_nothing_keeps_an_unloaded_module_alive(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await load(loader, write_photon("tidy.py", TIDY.format(name="tidy")))
    module_ref = weakref.ref(sys.modules[handler.module_name])
    instance_ref = weakref.ref(handler.instance)
    await loader.unload_photon(handler)
    await all_collected([module_ref, instance_ref])


async def test_no_module_leaks_after_a_hundred_load_unload_cycles(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    helper = f"cycle_helper_{photon_dir.parent.name}"
    write_photon(f"{helper}.py", "VALUE = 1\n")
    path = write_photon(
        "cycle.py",
        f"""
        import {helper}
        from luminal import IPhoton
        from tests.test_loader_unload import FINALIZED

        class Cycle(IPhoton, name="cycle"):
            async def finalize(self):
                FINALIZED.append("cycle")
        """,
    )
    await loader.unload_photon(await load(loader, path))
    gc.collect()
    modules_before = len(sys.modules)
    meta_path_before = list(sys.meta_path)
    module_refs: list[weakref.ref[Any]] = []
    for _ in range(100):
        handler = await load(loader, path)
        module_refs.append(weakref.ref(sys.modules[handler.module_name]))
        module_refs.append(weakref.ref(sys.modules[helper]))
        assert await loader.unload_photon(handler) is True
    assert len(sys.modules) == modules_before
    assert sys.meta_path == meta_path_before
    await all_collected(module_refs)
    assert len(FINALIZED) == 101


async def test_close_unloads_everything(write_photon: WritePhoton) -> None:
    started = write_photon("tidy.py", TIDY.format(name="tidy"))
    idle = write_photon("idle.py", TIDY.format(name="idle"))
    async with Loader() as loader:
        handler = await load(loader, started)
        await load(loader, idle, start=False)
        module_name = handler.module_name
    assert dict(loader.photons) == {}
    assert FINALIZED == ["tidy"]
    assert module_name not in sys.modules


MOVES_THE_NEWEST_NAME = """
import sys
import types

names = list(sys.modules)
newest = names[names.index(__name__) - 1]  # the newest name before this import began
sys.modules[__name__ + ".made"] = types.ModuleType(__name__ + ".made")
sys.modules[newest] = sys.modules.pop(newest)  # as another thread importing it again does

from luminal import IPhoton

class Moving(IPhoton, name="moving"):
    async def finalize(self):
        pass
"""


async def test_a_package_module_leaves_when_the_newest_name_moved_during_its_import(
    loader: Loader, photon_dir: Path
) -> None:
    # What a source's import adds is found after the newest sys.modules name before it ran;
    # taken out and put back meanwhile, that name moved past the package's own module, which
    # then stayed in sys.modules after the unload.
    (photon_dir / "moving").mkdir()
    (photon_dir / "moving" / "__init__.py").write_text(MOVES_THE_NEWEST_NAME)
    (handler,) = await loader.load_photons(photon_dir, recursive=True)
    await handler.start()
    name = handler.module_name
    assert f"{name}.made" in sys.modules

    assert await loader.unload_photon(handler) is True

    assert [module for module in sys.modules if module.startswith(name)] == []
