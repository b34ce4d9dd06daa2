"""``Handler``: the seed's signature and properties, and the lifecycle of one photon."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from luminal import (
    Handler,
    HandlerState,
    IPhoton,
    Loader,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonReentryError,
    PhotonStartError,
    hookimpl,
)
from luminal.testing import EventRecorder, WritePhoton


class Lamp(IPhoton, name="lamp"):
    """Counts its lifecycle calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def photon_start(self) -> None:
        self.calls.append("start")

    async def finalize(self) -> None:
        self.calls.append("finalize")


LAMP_SOURCE = """
    from luminal import IPhoton, hookimpl

    class Lamp(IPhoton, name="lamp"):
        def __init__(self):
            self.calls = []

        @hookimpl
        def photon_start(self):
            self.calls.append("start")

        async def finalize(self):
            self.calls.append("finalize")
"""

GATED_LAMP_SOURCE = (
    LAMP_SOURCE
    + """
        @hookimpl
        async def photon_export_state(self):
            from tests.test_handler import GATES

            GATES["exporting"].set()
            await GATES["go_on"].wait()
            return None
"""
)

GATES: dict[str, asyncio.Event] = {}
HANDLERS: list[Handler] = []


def make_handler(photon_class: type = Lamp) -> Handler:
    return Handler(False, "lamp", "/photons/lamp.py", "0" * 128, photon_class)


def test_constructor_has_the_seed_signature() -> None:
    parameters = list(inspect.signature(Handler).parameters)
    assert parameters[:5] == ["logging", "name", "filepath", "checksum", "instance"]


def test_properties_return_what_was_given() -> None:
    handler = make_handler()
    assert handler.name == "lamp"
    assert handler.filepath == "/photons/lamp.py"
    assert handler.checksum == "0" * 128
    assert handler.photon_class is Lamp
    assert handler.instance is None
    assert handler.state is HandlerState.LOADED
    assert handler.started is False
    assert handler.origin is None
    assert handler.module_name == Lamp.__module__


def test_str_names_the_handler_and_its_state() -> None:
    text = str(make_handler())
    assert text.startswith("Handler(")
    assert "'lamp'" in text
    assert "/photons/lamp.py" in text
    assert "'loaded'" in text
    assert repr(make_handler()) == text


async def test_get_checksum_is_the_sha512_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    payload = bytes(range(256)) * 9000
    path.write_bytes(payload)
    expected = hashlib.sha512(payload).hexdigest()
    assert await Handler._get_checksum(str(path)) == expected
    assert await Handler._get_checksum(str(path), block=7) == expected


async def test_get_checksum_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert await Handler._get_checksum(str(tmp_path / "missing.py")) is None


async def test_get_checksum_refuses_a_block_size_that_is_not_positive(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"not empty")
    for block in (0, -1):
        with pytest.raises(ValueError, match="block"):
            await Handler._get_checksum(str(path), block=block)
    for wrong in (1.5, "7", True):
        with pytest.raises(TypeError, match="block"):
            await Handler._get_checksum(str(path), block=wrong)  # type: ignore[arg-type]


async def test_get_checksum_refuses_a_file_descriptor_and_leaves_it_open(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"payload")
    descriptor = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match="filename"):
            await Handler._get_checksum(descriptor)  # type: ignore[arg-type]
        assert os.read(descriptor, 100) == b"payload"
    finally:
        os.close(descriptor)


async def test_start_creates_registers_and_starts_the_instance() -> None:
    handler = make_handler()
    await handler.start()
    assert isinstance(handler.instance, Lamp)
    assert handler.instance.calls == ["start"]
    assert handler.state is HandlerState.STARTED
    assert handler.plugin_manager.get_plugin("lamp") is handler.instance


async def test_start_twice_keeps_the_first_instance() -> None:
    handler = make_handler()
    await handler.start()
    first = handler.instance
    await handler.start()
    assert handler.instance is first
    assert first.calls == ["start"]


async def test_concurrent_starts_create_one_instance() -> None:
    created: list[object] = []

    class SlowStart(IPhoton):
        def __init__(self) -> None:
            created.append(self)

        @hookimpl
        async def photon_start(self) -> None:
            await asyncio.sleep(0)

    handler = make_handler(SlowStart)
    await asyncio.gather(*(handler.start() for _ in range(20)))
    assert handler.started
    assert created == [handler.instance]
    assert handler.plugin_manager.get_plugins() == {handler.instance}


async def test_stop_finalizes_and_unregisters() -> None:
    handler = make_handler()
    await handler.start()
    instance = handler.instance
    assert await handler._stop() is True
    assert instance.calls == ["start", "finalize"]
    assert handler.instance is None
    assert handler.state is HandlerState.LOADED
    assert not handler.plugin_manager.is_registered(instance)


async def test_force_stop_skips_the_finalizer() -> None:
    handler = make_handler()
    await handler.start()
    instance = handler.instance
    assert await handler._stop(force_stop=True) is True
    assert instance.calls == ["start"]


async def test_two_stops_at_once_finalize_the_photon_once() -> None:
    handler = make_handler()
    await handler.start()
    instance = handler.instance
    outcomes = await asyncio.gather(handler.stop(), handler.stop(), return_exceptions=True)
    assert instance.calls == ["start", "finalize"]
    assert outcomes[0] is True
    assert isinstance(outcomes[1], PhotonNotInitializedError)


async def test_a_stopped_photon_starts_again_on_a_fresh_instance(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", LAMP_SOURCE)
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    first = handler.instance
    assert await handler.stop() is True
    assert handler.state is HandlerState.LOADED
    assert loader.photons["lamp"] is handler
    assert loader.plugin_manager.get_plugin("lamp") is None
    await handler.start()
    assert handler.instance is not first
    assert loader.plugin_manager.get_plugin("lamp") is handler.instance
    assert await loader.unload_photon(handler) is True
    assert first.calls == ["start", "finalize"]
    assert handler.photon_class is None


async def test_a_stop_during_a_reload_waits_for_it_and_finds_the_handler_replaced(
    loader: Loader, write_photon: WritePhoton
) -> None:
    GATES.update(exporting=asyncio.Event(), go_on=asyncio.Event())
    path = write_photon("lamp.py", GATED_LAMP_SOURCE)
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    old = handler.instance
    reloading = asyncio.ensure_future(loader.reload_photon(handler))
    await asyncio.wait_for(GATES["exporting"].wait(), timeout=5)
    stopping = asyncio.ensure_future(handler.stop())  # runs before the reload goes on
    GATES["go_on"].set()
    new, stopped = await asyncio.gather(reloading, stopping, return_exceptions=True)
    assert isinstance(stopped, PhotonNotFoundError)
    assert old.calls == ["start", "finalize"]
    assert isinstance(new, Handler)
    assert new.started
    assert loader.plugin_manager.get_plugin("lamp") is new.instance


async def test_a_photon_stopping_itself_from_photon_start_is_refused_at_once(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "selfstop.py",
        """
        from luminal import IPhoton, hookimpl
        from tests.test_handler import HANDLERS

        class SelfStop(IPhoton, name="selfstop"):
            @hookimpl
            async def photon_start(self):
                await HANDLERS[0].stop()

            async def finalize(self):
                pass
        """,
    )
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    HANDLERS[:] = [handler]
    with pytest.raises(PhotonStartError) as caught:
        await asyncio.wait_for(handler.start(), timeout=5)
    assert isinstance(caught.value.__cause__, PhotonReentryError)
    assert handler.state is HandlerState.LOADED


async def test_a_force_stop_that_is_not_a_bool_is_refused_before_anything_stops() -> None:
    handler = make_handler()
    await handler.start()
    instance = handler.instance
    with pytest.raises(TypeError, match="force_stop"):
        await handler.stop(force_stop="no")  # type: ignore[arg-type]
    assert handler.started
    assert await handler.stop() is True
    assert instance.calls == ["start", "finalize"]


async def test_stop_of_a_never_started_photon_raises() -> None:
    with pytest.raises(PhotonNotInitializedError) as caught:
        await make_handler()._stop()
    assert caught.value.photon_name == "lamp"


async def test_stopping_helpers_report_success_without_an_instance() -> None:
    handler = make_handler()
    assert await handler._stop_photon_threads() is True
    assert await handler._stop_photon_processes() is True
    assert await handler._force_stop() is True


async def test_stop_photon_threads_stops_owned_threads() -> None:
    handler = make_handler()
    await handler.start()
    stopped = threading.Event()

    def work(stop: threading.Event) -> None:
        stop.wait(30)
        stopped.set()

    thread = handler.instance.spawn_thread(work)
    assert await handler._stop_photon_threads() is True
    assert stopped.is_set()
    assert not thread.is_alive()
    await handler._stop()


async def test_stop_photon_processes_terminates_child_processes() -> None:
    handler = make_handler()
    await handler.start()
    process = handler.instance.spawn_process([sys.executable, "-c", "import time; time.sleep(60)"])
    assert await handler._stop_photon_processes() is True
    assert process.poll() is not None
    await handler._stop()


async def test_clear_module_references_removes_the_module_and_submodules() -> None:
    name = "luminal_test_clear_refs"
    sys.modules[name] = ModuleType(name)
    sys.modules[name + ".sub"] = ModuleType(name + ".sub")
    sys.modules[name + "_other"] = ModuleType(name + "_other")
    handler = Handler(False, "x", "/x.py", "", Lamp, module_name=name)
    try:
        assert await handler._clear_module_references() is True
        assert name not in sys.modules
        assert name + ".sub" not in sys.modules
        assert name + "_other" in sys.modules
        assert await handler._clear_module_references() is False
    finally:
        sys.modules.pop(name + "_other", None)


async def test_init_error_raises_photon_start_error_and_registers_nothing() -> None:
    class Broken(IPhoton):
        def __init__(self) -> None:
            raise ValueError("no bulb")

    handler = make_handler(Broken)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.photon_name == "lamp"
    assert handler.state is HandlerState.LOADED
    assert handler.plugin_manager.get_plugins() == set()


SPAWNED: list[threading.Thread | subprocess.Popen[Any]] = []


class Spawner(IPhoton):
    """Spawns a thread and a process in ``__init__``, then raises."""

    def __init__(self) -> None:
        SPAWNED.append(self.spawn_thread(lambda stop: stop.wait(30)))
        SPAWNED.append(self.spawn_process([sys.executable, "-c", "import time; time.sleep(60)"]))
        raise ValueError("no bulb")


class OwnWay(type):
    """A metaclass that creates instances its own way, as a singleton or registry does."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)


class OwnWaySpawner(Spawner, metaclass=OwnWay):
    pass


@pytest.mark.parametrize("photon_class", [Spawner, OwnWaySpawner])
async def test_what_a_raising_init_spawned_is_stopped(photon_class: type) -> None:
    SPAWNED.clear()
    with pytest.raises(PhotonStartError):
        await make_handler(photon_class).start()
    thread, process = SPAWNED
    assert isinstance(thread, threading.Thread)
    assert isinstance(process, subprocess.Popen)
    assert not thread.is_alive()
    assert process.poll() is not None


class Refused(IPhoton):
    """Spawns a thread in ``__init__``; a hook implementation takes an argument no spec has."""

    def __init__(self) -> None:
        SPAWNED.append(self.spawn_thread(lambda stop: stop.wait(30)))

    @hookimpl
    def luminal_photon_started(self, handler: Handler, surprise: object) -> None:
        pass


async def test_what_init_spawned_is_stopped_when_a_hook_implementation_is_refused() -> None:
    SPAWNED.clear()
    with pytest.raises(PhotonStartError, match="surprise"):
        await make_handler(Refused).start()
    [thread] = SPAWNED
    assert isinstance(thread, threading.Thread)
    assert not thread.is_alive()


async def test_photon_start_error_unregisters_and_can_be_retried() -> None:
    attempts: list[int] = []

    class Flaky(IPhoton):
        @hookimpl
        async def photon_start(self) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise OSError("port busy")

    handler = make_handler(Flaky)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, OSError)
    assert handler.instance is None
    assert handler.plugin_manager.get_plugins() == set()
    await handler.start()
    assert handler.started
    assert len(attempts) == 2


async def test_a_cancelled_start_leaves_nothing_registered() -> None:
    began = asyncio.Event()

    class Slow(IPhoton):
        @hookimpl
        async def photon_start(self) -> None:
            began.set()
            await asyncio.Event().wait()

        async def finalize(self) -> None:
            pass

    handler = make_handler(Slow)
    starting = asyncio.ensure_future(handler.start())
    await asyncio.wait_for(began.wait(), timeout=5)
    assert handler.plugin_manager.get_plugins() != set()
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert handler.plugin_manager.get_plugins() == set()
    assert handler.instance is None
    assert not handler.started


async def test_hookimpl_with_an_argument_the_spec_lacks_is_refused_whole(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "bad_hook.py",
        """
        from luminal import IPhoton, hookimpl

        class BadHook(IPhoton):
            @hookimpl
            def luminal_photon_loaded(self, handler):
                pass

            @hookimpl
            def luminal_photon_started(self, handler, surprise):
                pass
        """,
    )
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert "surprise" in str(caught.value)
    assert handler.instance is None
    assert loader.plugin_manager.get_plugin("BadHook") is None
    for hook_name in ("luminal_photon_loaded", "luminal_photon_started"):
        caller = getattr(loader.plugin_manager.hook, hook_name)
        assert [impl.plugin_name for impl in caller.get_hookimpls()] == ["test-observer"]


async def test_start_after_unload_raises_photon_not_found(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("lamp.py", "from luminal import IPhoton\nclass Lamp(IPhoton): pass\n")
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await loader.unload_photon(handler, force_stop=True)
    assert handler.photon_class is None
    with pytest.raises(PhotonNotFoundError):
        await handler.start()
