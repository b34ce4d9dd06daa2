"""A host survives any photon: each fault is reported with its file and cause, and the registry,
the plugin manager and ``sys.modules`` keep agreeing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from luminal import (
    Handler,
    Loader,
    LuminalError,
    PhotonLoadError,
    PhotonReloadError,
    PhotonStartError,
    PhotonStopError,
    hookspec,
)
from luminal.testing import EventRecorder, LeftoverCheck, WritePhoton

BYSTANDER = """
from luminal import IPhoton, hookimpl

class Bystander(IPhoton, name="bystander"):
    @hookimpl
    def ping(self):
        return "bystander"

    async def finalize(self):
        pass
"""

FAULTY = """
import asyncio
from luminal import IPhoton, hookimpl

class Faulty(IPhoton, name="faulty"):
    {body}

    @hookimpl
    def ping(self):
        return "faulty"
"""


class HostSpecs:
    @hookspec
    def ping(self) -> str:  # type: ignore[empty-body]
        """Who answers."""


@pytest.fixture
async def host(loader: Loader, write_photon: WritePhoton) -> tuple[Loader, EventRecorder]:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    errors = EventRecorder()
    loader.plugin_manager.register(errors)
    bystander = await loader.load_photon(write_photon("bystander.py", BYSTANDER))
    assert isinstance(bystander, Handler)
    await bystander.start()
    return loader, errors


def assert_consistent(loader: Loader) -> None:
    registered = {
        name for name, _ in loader.plugin_manager.list_name_plugin() if name in loader.photons
    }
    assert registered == {name for name, handler in loader.photons.items() if handler.started}
    prefix = loader._namespace + "_"
    loaded = {name for name in sys.modules if name.startswith(prefix) and "." not in name}
    assert loaded == {handler.module_name for handler in loader.photons.values()}
    assert "bystander" in loader.plugin_manager.hook.ping()


def faulty(body: str) -> str:
    return FAULTY.format(body=body)


@pytest.mark.parametrize(
    ("source", "cause", "detail"),
    [
        ("class Broken(:\n    pass\n", SyntaxError, "line 1"),
        ("import luminal_no_such_module\n", ModuleNotFoundError, "luminal_no_such_module"),
        ("raise RuntimeError('boom at import')\n", RuntimeError, "boom at import"),
    ],
)
async def test_load_faults_are_reported_and_change_nothing(
    host: tuple[Loader, EventRecorder],
    write_photon: WritePhoton,
    source: str,
    cause: type[BaseException],
    detail: str,
) -> None:
    loader, errors = host
    path = write_photon("bad.py", source)
    with pytest.raises(PhotonLoadError) as caught:
        await loader.load_photon(path)
    assert isinstance(caught.value.__cause__, cause)
    assert str(path) in str(caught.value)
    assert detail in str(caught.value)
    assert errors.errors[-1][0] == str(path)
    assert list(loader.photons) == ["bystander"]
    assert_consistent(loader)


@pytest.mark.parametrize(
    "body",
    [
        "def __init__(self):\n        raise ValueError('bad init')",
        "@hookimpl\n    def photon_start(self):\n        raise ValueError('bad start')",
        "@hookimpl\n    async def photon_start(self):\n        raise ValueError('bad start')",
    ],
)
async def test_start_faults_leave_the_photon_loaded_and_unregistered(
    host: tuple[Loader, EventRecorder], write_photon: WritePhoton, body: str
) -> None:
    loader, errors = host
    path = write_photon("faulty.py", faulty(body))
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    with pytest.raises(PhotonStartError, match="faulty") as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, ValueError)
    assert errors.errors == [(str(path), caught.value)]
    assert caught.value.path == str(path)
    assert not handler.started
    assert loader.plugin_manager.get_plugin("faulty") is None
    assert loader.plugin_manager.hook.ping() == ["bystander"]
    assert_consistent(loader)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("async def finalize(self):\n        raise OSError('disk gone')", "raised OSError"),
        ("async def finalize(self):\n        await asyncio.Event().wait()", "did not finish"),
    ],
)
async def test_finalize_faults_still_remove_the_photon(
    host: tuple[Loader, EventRecorder],
    write_photon: WritePhoton,
    body: str,
    reason: str,
    luminal_leftovers: LeftoverCheck,
) -> None:
    loader, errors = host
    path = write_photon("faulty.py", faulty(body))
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    assert await loader.unload_photon(handler) is True
    assert "faulty" not in loader.photons
    reported = [error for where, error in errors.errors if where == str(path)]
    assert len(reported) == 1
    assert isinstance(reported[0], PhotonStopError)
    assert reason in str(reported[0])
    assert_consistent(loader)
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects


async def test_photon_that_deletes_its_own_file_unloads_and_cannot_reload(
    host: tuple[Loader, EventRecorder], write_photon: WritePhoton
) -> None:
    loader, errors = host
    path = write_photon(
        "selfdelete.py",
        faulty(
            "@hookimpl\n    def photon_start(self):\n        import os\n        os.remove(__file__)"
        ),
    )
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    assert not path.exists()
    assert "faulty" in loader.plugin_manager.hook.ping()
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(handler)
    assert isinstance(caught.value.__cause__, LuminalError | OSError)
    assert loader.photons["faulty"] is handler
    assert handler.started
    assert "faulty" in loader.plugin_manager.hook.ping()
    assert await loader.unload_photon(handler) is True
    assert any(where == str(path) for where, _ in errors.errors)
    assert_consistent(loader)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_file_is_reported_with_its_path(
    host: tuple[Loader, EventRecorder], write_photon: WritePhoton
) -> None:
    loader, _ = host
    path = write_photon("secret.py", faulty("pass"))
    path.chmod(0)
    with pytest.raises(PhotonLoadError, match="PermissionError") as caught:
        await loader.load_photon(path)
    assert str(path) in str(caught.value)
    assert_consistent(loader)


async def test_unreadable_file_in_directory_does_not_stop_the_others(
    loader: Loader, photon_dir: Path, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_photon("good.py", BYSTANDER)
    denied = write_photon("denied.py", faulty("pass"))
    real_open = os.open

    def open_denying(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if Path(path) == denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_denying)
    loader.plugin_manager.add_hookspecs(HostSpecs)
    with pytest.raises(LuminalError) as caught:
        await loader.load_photons(photon_dir)
    assert str(denied) in str(caught.value)
    assert "Permission denied" in str(caught.value)
    assert list(loader.photons) == ["bystander"]
