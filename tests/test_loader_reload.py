"""``Loader.reload_photon`` and ``reload_photons``: atomic, rolled back as a whole, stateful."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import textwrap
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from luminal import (
    Handler,
    HandlerState,
    Loader,
    PhotonBaseExceptionError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonReloadError,
    PhotonStartError,
    hookspec,
)
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import wait_for

EVENTS: list[str] = []


class HostSpecs:
    @hookspec
    def version_of(self, name: str) -> str:  # type: ignore[empty-body]
        """The answering photon's version tag."""


VERSIONED = """
    from luminal import IPhoton, hookimpl
    from tests.test_loader_reload import EVENTS

    class {name}(IPhoton, name="{name}"):
        def __init__(self):
            {init}

        @hookimpl
        def version_of(self, name):
            if name == "{name}":
                return "{name}-{version}"

        @hookimpl
        def photon_start(self):
            {start}
            EVENTS.append("start {name}-{version}")

        async def finalize(self):
            EVENTS.append("finalize {name}-{version}")
"""


def versioned(name: str, version: str, *, init: str = "pass", start: str = "pass") -> str:
    return textwrap.dedent(VERSIONED.format(name=name, version=version, init=init, start=start))


@pytest.fixture(autouse=True)
def _clear_events(loader: Loader) -> None:
    EVENTS.clear()
    loader.plugin_manager.add_hookspecs(HostSpecs)


async def load(loader: Loader, path: Path, start: bool = True) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    if start:
        await handler.start()
    return handler


def answers(loader: Loader, name: str) -> list[str]:
    result: list[str] = loader.plugin_manager.hook.version_of(name=name)
    return result


def rewrite(path: Path, source: str) -> None:
    """Replace a photon's source the way an editor does: in place, in the same second."""
    path.write_text(textwrap.dedent(source))


@pytest.mark.parametrize("how", ["handler", "name", "path", "str path"])
async def test_reload_runs_new_code_and_finalizes_the_old(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton, how: str
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    rewrite(path, versioned("lamp", "2"))
    reference: Any = {"handler": old, "name": "lamp", "path": path, "str path": str(path)}[how]
    new = await loader.reload_photon(reference)
    assert isinstance(new, Handler)
    assert new is not old
    assert EVENTS == ["start lamp-1", "finalize lamp-1", "start lamp-2"]
    assert answers(loader, "lamp") == ["lamp-2"]
    assert loader.photons["lamp"] is new
    assert new.started
    assert old.state is HandlerState.STOPPED
    assert old.photon_class is None
    assert new.checksum == hashlib.sha512(path.read_bytes()).hexdigest()
    assert observer.last() == ("reloaded", (old, new))


async def test_unstarted_photon_stays_unstarted(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    await load(loader, path, start=False)
    rewrite(path, versioned("lamp", "2"))
    new = await loader.reload_photon("lamp")
    assert isinstance(new, Handler)
    assert not new.started
    assert EVENTS == []
    assert answers(loader, "lamp") == []
    await new.start()
    assert answers(loader, "lamp") == ["lamp-2"]


async def test_each_photon_of_a_file_keeps_its_started_state(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("pair.py", versioned("left", "1") + versioned("right", "1"))
    await loader.load_photon(path)
    await loader.photons["left"].start()
    rewrite(path, versioned("left", "2") + versioned("right", "2"))
    new = await loader.reload_photon(path)
    assert isinstance(new, list)
    assert loader.photons["left"].started
    assert not loader.photons["right"].started
    assert answers(loader, "left") == ["left-2"]
    assert answers(loader, "right") == []


async def test_same_second_same_size_rewrites_run_the_new_code(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "00"))
    await load(loader, path)
    stat = path.stat()
    for round_number in range(1, 21):
        version = f"{round_number:02}"
        rewrite(path, versioned("lamp", version))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
        new = await loader.reload_photon("lamp")
        assert isinstance(new, Handler)
        assert answers(loader, "lamp") == [f"lamp-{version}"]
        assert new.checksum == hashlib.sha512(path.read_bytes()).hexdigest()


BROKEN_SOURCES = {
    "syntax": ("def broken(:\n", SyntaxError),
    "import": ("import module_that_does_not_exist_anywhere\n", ModuleNotFoundError),
    "runtime": ("raise RuntimeError('at import')\n", RuntimeError),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_SOURCES))
async def test_broken_new_code_keeps_the_old_photon_running(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton, kind: str
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    module = sys.modules[old.module_name]
    source, cause_type = BROKEN_SOURCES[kind]
    rewrite(path, versioned("lamp", "2") + source)
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(old)
    error = caught.value
    assert isinstance(error.__cause__, PhotonLoadError)
    assert isinstance(error.__cause__.__cause__, cause_type)
    assert error.paths == [str(path.resolve())]
    assert loader.photons["lamp"] is old
    assert old.started
    assert loader.plugin_manager.is_registered(old.instance)
    assert answers(loader, "lamp") == ["lamp-1"]
    assert sys.modules[old.module_name] is module
    assert EVENTS == ["start lamp-1"]
    assert observer.errors[-1] == (str(path.resolve()), error)


async def test_deleted_file_reload_keeps_the_old_photon(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    path.unlink()
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("lamp")
    assert loader.photons["lamp"] is old
    assert answers(loader, "lamp") == ["lamp-1"]


@pytest.mark.parametrize(
    "broken",
    [{"init": "raise ValueError('init')"}, {"start": "raise ValueError('start')"}],
    ids=["__init__", "photon_start"],
)
async def test_failing_new_instance_restarts_the_old_version(
    loader: Loader, write_photon: WritePhoton, broken: dict[str, str]
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    module = sys.modules[old.module_name]
    rewrite(path, versioned("lamp", "2", **broken))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(path)
    assert isinstance(caught.value.__cause__, PhotonStartError)
    assert isinstance(caught.value.__cause__.__cause__, ValueError)
    assert loader.photons["lamp"] is old
    assert old.started
    assert answers(loader, "lamp") == ["lamp-1"]
    assert sys.modules[old.module_name] is module
    assert len(loader.plugin_manager.hook.version_of.get_hookimpls()) == 1
    assert loader.plugin_manager.get_plugin("lamp") is old.instance


async def test_state_is_carried_across_a_reload(loader: Loader, write_photon: WritePhoton) -> None:
    counter = """
        from luminal import IPhoton, hookimpl

        class Counter(IPhoton, name="counter"):
            def __init__(self):
                self.count = 0
                self.generation = {generation}

            @hookimpl
            def photon_export_state(self):
                return {{"count": self.count + 1}}

            @hookimpl
            def photon_import_state(self, state):
                self.count = state["count"]

            async def finalize(self):
                pass
        """
    path = write_photon("counter.py", counter.format(generation=1))
    handler = await load(loader, path)
    handler.instance.count = 41
    rewrite(path, counter.format(generation=2))
    new = await loader.reload_photon(handler)
    assert isinstance(new, Handler)
    assert new.instance.count == 42
    assert new.instance.generation == 2


async def test_state_survives_a_failed_reload_too(
    loader: Loader, write_photon: WritePhoton
) -> None:
    counter = """
        from luminal import IPhoton, hookimpl

        class Counter(IPhoton, name="counter"):
            def __init__(self):
                self.count = 0

            @hookimpl
            def photon_export_state(self):
                return self.count

            @hookimpl
            def photon_import_state(self, state):
                self.count = state

            @hookimpl
            def photon_start(self):
                {start}

            async def finalize(self):
                pass
        """
    path = write_photon("counter.py", counter.format(start="pass"))
    handler = await load(loader, path)
    handler.instance.count = 7
    rewrite(path, counter.format(start="raise RuntimeError('no')"))
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon(handler)
    assert handler.started
    assert handler.instance.count == 7


STATEFUL = """
    import asyncio
    from luminal import IPhoton, hookimpl

    class Counter(IPhoton, name="counter"):
        def __init__(self):
            self.count = 0

        @hookimpl
        async def photon_export_state(self):
            {export}
            return self.count

        @hookimpl
        async def photon_import_state(self, state):
            {import_}
            self.count = state

        @hookimpl
        async def photon_start(self):
            {start}

        async def finalize(self):
            pass
"""

HANGS = "await asyncio.Event().wait()"
CANCELS = "raise asyncio.CancelledError('the photon cancelled itself')"

QUICK = {"start_timeout": 0.5, "finalize_timeout": 0.5, "stop_timeout": 0.5}


def stateful(export: str = "pass", import_: str = "pass", start: str = "pass") -> str:
    return STATEFUL.format(export=export, import_=import_, start=start)


def causes(error: BaseException) -> list[type[BaseException]]:
    chain: list[type[BaseException]] = []
    cause: BaseException | None = error
    while cause is not None:
        chain.append(type(cause))
        cause = cause.__cause__
    return chain


@pytest.mark.parametrize("luminal_loader_kwargs", [QUICK], ids=["quick"])
@pytest.mark.parametrize("export", [HANGS, CANCELS], ids=["hangs", "cancels"])
async def test_an_export_that_hangs_or_cancels_itself_fails_the_reload_with_nothing_changed(
    loader: Loader, write_photon: WritePhoton, export: str
) -> None:
    path = write_photon("counter.py", stateful(export=export))
    handler = await load(loader, path)
    instance = handler.instance
    rewrite(path, stateful())
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(handler)
    assert causes(caught.value)[1] in (TimeoutError, PhotonBaseExceptionError)
    assert loader.photons["counter"] is handler
    assert handler.instance is instance
    assert loader.plugin_manager.get_plugin("counter") is instance


@pytest.mark.parametrize("luminal_loader_kwargs", [QUICK], ids=["quick"])
@pytest.mark.parametrize(
    ("import_", "start"),
    [(HANGS, "pass"), (CANCELS, "pass"), ("pass", CANCELS)],
    ids=["import-hangs", "import-cancels", "start-cancels"],
)
async def test_an_import_or_start_that_hangs_or_cancels_itself_rolls_back_with_the_state(
    loader: Loader, write_photon: WritePhoton, import_: str, start: str
) -> None:
    path = write_photon("counter.py", stateful())
    handler = await load(loader, path)
    handler.instance.count = 7
    rewrite(path, stateful(import_=import_, start=start))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(handler)
    assert causes(caught.value)[1] is PhotonStartError
    assert causes(caught.value)[2] in (TimeoutError, PhotonBaseExceptionError)
    assert loader.photons["counter"] is handler
    assert handler.started
    assert handler.instance.count == 7
    assert loader.plugin_manager.get_plugin("counter") is handler.instance


# Ignores its cancellation for a while (a photon's bug), then ends: the test leaves no task.
SWALLOWS = (
    "try:\n                await asyncio.Event().wait()\n"
    "            except asyncio.CancelledError:\n                await asyncio.sleep(1.5)"
)


@pytest.mark.parametrize("luminal_loader_kwargs", [QUICK], ids=["quick"])
async def test_an_import_that_goes_on_when_cancelled_is_reported_as_left_running(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """What cannot be stopped is reported: the rollback happens within the bounds, and the
    failure names the task still running."""
    path = write_photon("counter.py", stateful())
    handler = await load(loader, path)
    rewrite(path, stateful(import_=SWALLOWS))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(handler)
    assert "task 'counter-photon_import_state' is left running" in str(caught.value)
    assert loader.photons["counter"] is handler
    assert handler.started
    [left] = [task for task in asyncio.all_tasks() if task.get_name().endswith("import_state")]
    await asyncio.wait({left}, timeout=10)  # it ends on its own


async def test_reload_photons_rolls_back_as_a_whole_on_bad_code(
    loader: Loader, write_photon: WritePhoton
) -> None:
    paths = [write_photon(f"{name}.py", versioned(name, "1")) for name in ("a", "b", "c")]
    olds = [await load(loader, path) for path in paths]
    modules = {handler.module_name: sys.modules[handler.module_name] for handler in olds}
    rewrite(paths[0], versioned("a", "2"))
    rewrite(paths[1], versioned("b", "2") + "def broken(:\n")
    rewrite(paths[2], versioned("c", "2"))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photons(olds)
    assert sorted(caught.value.paths) == sorted(str(path.resolve()) for path in paths)
    for old in olds:
        assert loader.photons[old.name] is old
        assert old.started
        assert answers(loader, old.name) == [f"{old.name}-1"]
        assert sys.modules[old.module_name] is modules[old.module_name]
    assert EVENTS == ["start a-1", "start b-1", "start c-1"]


async def test_reload_photons_rolls_back_photons_already_swapped(
    loader: Loader, write_photon: WritePhoton
) -> None:
    paths = [write_photon(f"{name}.py", versioned(name, "1")) for name in ("a", "b", "c")]
    olds = [await load(loader, path) for path in paths]
    rewrite(paths[0], versioned("a", "2"))
    rewrite(paths[1], versioned("b", "2"))
    rewrite(paths[2], versioned("c", "2", start="raise RuntimeError('c refuses')"))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photons(["a", "b", "c"])
    assert isinstance(caught.value.__cause__, PhotonStartError)
    for old in olds:
        assert loader.photons[old.name] is old
        assert old.started
        assert answers(loader, old.name) == [f"{old.name}-1"]
    assert len(loader.plugin_manager.hook.version_of.get_hookimpls()) == 3
    assert "start a-2" in EVENTS
    assert EVENTS.index("finalize a-2") < EVENTS.index("start a-1", 1)


async def test_reload_photons_returns_every_fresh_handler(
    loader: Loader, write_photon: WritePhoton
) -> None:
    pair = write_photon("pair.py", versioned("left", "1") + versioned("right", "1"))
    solo = write_photon("solo.py", versioned("solo", "1"))
    await loader.load_photon(pair)
    await load(loader, solo)
    rewrite(pair, versioned("left", "2") + versioned("right", "2"))
    rewrite(solo, versioned("solo", "2"))
    fresh = await loader.reload_photons(["left", "right", solo])
    assert sorted(handler.name for handler in fresh) == ["left", "right", "solo"]
    assert all(loader.photons[handler.name] is handler for handler in fresh)
    assert answers(loader, "solo") == ["solo-2"]


async def test_reload_that_takes_another_files_name_is_refused(
    loader: Loader, write_photon: WritePhoton
) -> None:
    first = write_photon("first.py", versioned("first", "1"))
    second = write_photon("second.py", versioned("second", "1"))
    await load(loader, first)
    old = await load(loader, second)
    rewrite(second, versioned("first", "2"))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(old)
    assert isinstance(caught.value.__cause__, PhotonNameConflictError)
    assert loader.photons["second"] is old
    assert answers(loader, "second") == ["second-1"]
    assert answers(loader, "first") == ["first-1"]


async def test_reload_of_a_package_picks_up_submodule_changes(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("pkg/__init__.py", "from .lamp import *\n")
    lamp = write_photon("pkg/lamp.py", versioned("lamp", "1"))
    await load(loader, photon_dir / "pkg" / "__init__.py")
    rewrite(lamp, versioned("lamp", "2"))
    await loader.reload_photon("lamp")
    assert answers(loader, "lamp") == ["lamp-2"]


@pytest.mark.parametrize("bad", [42, None, b"lamp.py"])
async def test_reload_rejects_wrong_types(
    loader: Loader, write_photon: WritePhoton, bad: Any
) -> None:
    await load(loader, write_photon("lamp.py", versioned("lamp", "1")))
    with pytest.raises(TypeError):
        await loader.reload_photon(bad)
    with pytest.raises(TypeError):
        await loader.reload_photons([bad])
    with pytest.raises(TypeError):
        await loader.reload_photons(bad)
    with pytest.raises(TypeError):
        await loader.reload_photons("lamp")


async def test_reload_of_unknown_photons_raises_photon_not_found(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    old = await load(loader, write_photon("lamp.py", versioned("lamp", "1")))
    for unknown in ("nobody", photon_dir / "missing.py"):
        with pytest.raises(PhotonNotFoundError):
            await loader.reload_photon(unknown)
        with pytest.raises(PhotonNotFoundError):
            await loader.reload_photons(["lamp", unknown])
    assert loader.photons["lamp"] is old
    assert EVENTS == ["start lamp-1"]
    await loader.reload_photon(old)
    with pytest.raises(PhotonNotFoundError):
        await loader.reload_photon(old)


async def test_concurrent_reloads_of_one_file_serialise(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    await load(loader, path)
    rewrite(path, versioned("lamp", "2"))
    results = await asyncio.gather(
        *(loader.reload_photon("lamp") for _ in range(10)),
        *(loader.reload_photon(path) for _ in range(5)),
        *(loader.load_photon(path) for _ in range(5)),
        return_exceptions=True,
    )
    assert [result for result in results if isinstance(result, BaseException)] == []
    handler = loader.photons["lamp"]
    assert handler.started
    assert answers(loader, "lamp") == ["lamp-2"]
    assert len(loader.plugin_manager.hook.version_of.get_hookimpls()) == 1
    assert EVENTS.count("start lamp-2") - EVENTS.count("finalize lamp-2") == 1
    assert EVENTS.count("start lamp-1") == EVENTS.count("finalize lamp-1") == 1


async def test_concurrent_reloads_by_stale_handler_raise_only_not_found(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    results = await asyncio.gather(
        *(loader.reload_photon(old) for _ in range(20)), return_exceptions=True
    )
    errors = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(error, PhotonNotFoundError) for error in errors)
    assert len(errors) == 19
    assert loader.photons["lamp"].started
    assert len(loader.plugin_manager.hook.version_of.get_hookimpls()) == 1


async def test_unload_by_a_handler_a_reload_replaced_does_not_unload_the_new_version(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    rewrite(path, versioned("lamp", "2"))
    reloaded, unloaded = await asyncio.gather(
        loader.reload_photon(old), loader.unload_photon(old), return_exceptions=True
    )
    assert isinstance(reloaded, Handler)
    assert isinstance(unloaded, PhotonNotFoundError)
    assert loader.photons["lamp"] is reloaded
    assert answers(loader, "lamp") == ["lamp-2"]


async def test_failed_reload_keeps_the_running_package_s_own_submodule_code(
    loader: Loader, write_photon: WritePhoton
) -> None:
    init = write_photon(
        "lazy/__init__.py",
        """
        from luminal import IPhoton, hookimpl

        class Lazy(IPhoton, name="lazy"):
            @hookimpl
            def late_value(self):
                from . import late
                return late.VALUE
        """,
    )
    late = write_photon("lazy/late.py", "VALUE = 1\n")
    handler = await loader.load_photon(init)
    assert isinstance(handler, Handler)
    await handler.start()
    late.write_text("VALUE = 2\n")
    init.write_text(init.read_text() + "\ndef broken(:\n")
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon(handler)
    method = handler.instance.late_value
    assert method() == 1


async def test_a_reload_puts_its_module_in_place_of_the_old_one(
    loader: Loader, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key deleted and added again takes a new slot each time: sys.modules would grow.
    path = write_photon("lamp.py", versioned("lamp", "1"))
    old = await load(loader, path)
    monkeypatch.setitem(sys.modules, "luminal_test_imported_later", types.ModuleType("later"))
    position = list(sys.modules).index(old.module_name)
    rewrite(path, versioned("lamp", "2"))
    new = await loader.reload_photon(old)
    assert isinstance(new, Handler)
    assert list(sys.modules).index(new.module_name) == position
    assert answers(loader, "lamp") == ["lamp-2"]


_PLAIN = """
from luminal import IPhoton

class Aliased(IPhoton, name="aliased"):
    async def finalize(self):
        pass
"""


def _aliases(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """Per kind, the directory to load and another ``Path`` spelling of its one source."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "aliased.py").write_text(_PLAIN)
    (tmp_path / "package" / "aliased").mkdir(parents=True)
    (tmp_path / "package" / "aliased" / "__init__.py").write_text(_PLAIN)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    real = tmp_path / "real"
    return {
        "relative": (real, Path(os.path.relpath(real / "aliased.py"))),
        "symlink": (real, tmp_path / "link" / "aliased.py"),
        "dot-dot": (real, real / ".." / "real" / "aliased.py"),
        "package-init": (tmp_path / "package", tmp_path / "package" / "aliased" / "__init__.py"),
    }


@pytest.mark.parametrize("kind", ["relative", "symlink", "dot-dot", "package-init"])
def test_a_path_spelt_otherwise_reloads_and_unloads(tmp_path: Path, kind: str) -> None:
    # The locks were taken for the Path as given until the registry gave that text back,
    # which it never does for another spelling: the loop spun without yielding, so no
    # timeout of the host could cut it. Run on a loop of its own thread, to fail, not hang.
    directory, alias = _aliases(tmp_path)[kind]
    outcome: list[object] = []

    async def scenario() -> None:
        async with Loader() as loader:
            (handler,) = await loader.load_photons(directory, recursive=True)
            await handler.start()
            await loader.reload_photon(alias)
            outcome.append(await loader.unload_photon(alias))
            outcome.append(sorted(loader.photons))

    thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), f"reload/unload by {alias} never returned"
    assert outcome == [True, []]


IMPORT_ENTERED = threading.Event()
IMPORT_GATE = threading.Event()

HELD_AT_IMPORT = """
from tests.test_loader_reload import IMPORT_ENTERED, IMPORT_GATE
{package_import}
IMPORT_ENTERED.set()
IMPORT_GATE.wait(30)
from luminal import IPhoton

class Held(IPhoton, name="held"):
    version = "{version}"

    async def finalize(self):
        pass
"""


@pytest.mark.parametrize("as_package", [False, True], ids=["module", "package"])
async def test_a_reload_cancelled_while_importing_leaves_the_old_modules_in_place(
    loader: Loader, photon_dir: Path, as_package: bool
) -> None:
    # The old version keeps running, but its modules were left out of sys.modules (stashed
    # for the reload, or overwritten by the new one and dropped with it once the abandoned
    # import thread was done), against the registry's agreement with sys.modules.
    source = photon_dir / ("held/__init__.py" if as_package else "held.py")
    source.parent.mkdir(exist_ok=True)
    package_import = "from . import sub" if as_package else ""
    if as_package:
        (photon_dir / "held" / "sub.py").write_text("")
    IMPORT_GATE.set()
    source.write_text(HELD_AT_IMPORT.format(version=1, package_import=package_import))
    (handler,) = await loader.load_photons(photon_dir, recursive=True)
    await handler.start()
    old_modules = {name: sys.modules[name] for name in sys.modules if handler.module_name in name}
    IMPORT_ENTERED.clear()
    IMPORT_GATE.clear()
    source.write_text(HELD_AT_IMPORT.format(version=2, package_import=package_import))

    reload = asyncio.ensure_future(loader.reload_photon("held"))
    await wait_for(IMPORT_ENTERED.is_set)
    reload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reload
    IMPORT_GATE.set()
    await wait_for(lambda: not any(t.name == "luminal-import" for t in threading.enumerate()))
    await wait_for(lambda: all(sys.modules.get(name) is m for name, m in old_modules.items()))

    assert loader.photons["held"] is handler
    assert handler.photon_class is not None
    assert getattr(handler.photon_class, "version", None) == "1"
    assert [n for n in sys.modules if handler.module_name in n] == sorted(old_modules)
    source.write_text(HELD_AT_IMPORT.format(version=3, package_import=package_import))
    reloaded = await loader.reload_photon("held")
    assert isinstance(reloaded, Handler)
    assert reloaded.photon_class is not None
    assert getattr(reloaded.photon_class, "version", None) == "3"
