"""A reload finalizes the old version before creating the new: photons that bind a port in
``__init__`` (as the documented API invites) reload, directly and under watching."""

from __future__ import annotations

import socket
import textwrap
import threading
from pathlib import Path

import pytest

from luminal import Handler, Loader, PhotonReloadError, PhotonStartError, hookspec
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import replace_atomically, wait_for

EVENTS: list[str] = []

SERVER = """
    import socket
    from luminal import IPhoton, hookimpl
    from tests.test_reload_order import EVENTS

    class Server(IPhoton, name="server"):
        def __init__(self):
            self.socket = socket.socket()
            self.socket.bind(("127.0.0.1", {port}))
            self.socket.listen()
            EVENTS.append("init v{version}")
            {init}

        @hookimpl
        def server_version(self):
            return "v{version}"

        @hookimpl
        def photon_export_state(self):
            return {{"served": {version}}}

        @hookimpl
        def photon_import_state(self, state):
            EVENTS.append(f"import {{state['served']}} into v{version}")

        @hookimpl
        def photon_start(self):
            {start}

        async def finalize(self):
            self.socket.close()
            EVENTS.append("finalize v{version}")
"""


class ServerSpecs:
    @hookspec
    def server_version(self) -> str:  # type: ignore[empty-body]
        """The answering server's version."""


def server(port: int, version: int, *, init: str = "pass", start: str = "pass") -> str:
    return textwrap.dedent(SERVER.format(port=port, version=version, init=init, start=start))


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]
    return free


@pytest.fixture
def loader(luminal_loader: Loader) -> Loader:
    """The plugin's loader, with the server photons' host specs."""
    EVENTS.clear()
    luminal_loader.plugin_manager.add_hookspecs(ServerSpecs)
    return luminal_loader


CURRENT: list[Loader] = []


def answers() -> list[str]:
    """What the loader under test answers now; called from inside photons."""
    return versions(CURRENT[0])


def versions(loader: Loader) -> list[str]:
    answered: list[str] = loader.plugin_manager.hook.server_version()
    return answered


def accepts_connections(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


async def start_server(loader: Loader, path: Path) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    return handler


async def test_a_photon_that_binds_a_port_in_init_reloads(
    loader: Loader, write_photon: WritePhoton, port: int
) -> None:
    path = write_photon("server.py", server(port, 1))
    await start_server(loader, path)
    path.write_text(server(port, 2))
    new = await loader.reload_photon("server")
    assert isinstance(new, Handler)
    assert new.started
    assert EVENTS == ["init v1", "finalize v1", "init v2", "import 1 into v2"]
    assert versions(loader) == ["v2"]
    assert accepts_connections(port)


@pytest.mark.parametrize(
    ("broken", "new_version_ran"),
    [
        ({"init": "self.socket.close(); raise ValueError('init')"}, ["init v2"]),
        (
            {"start": "raise ValueError('start')"},
            ["init v2", "import 1 into v2", "finalize v2"],
        ),
    ],
    ids=["__init__", "photon_start"],
)
async def test_a_failed_new_version_gives_the_port_back_to_the_old_one(
    loader: Loader,
    write_photon: WritePhoton,
    port: int,
    broken: dict[str, str],
    new_version_ran: list[str],
) -> None:
    path = write_photon("server.py", server(port, 1))
    old = await start_server(loader, path)
    path.write_text(server(port, 2, **broken))
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon("server")
    assert isinstance(caught.value.__cause__, PhotonStartError)
    assert loader.photons["server"] is old
    assert old.started
    assert versions(loader) == ["v1"]
    assert accepts_connections(port)
    expected = ["init v1", "finalize v1", *new_version_ran, "init v1", "import 1 into v1"]
    assert list(EVENTS) == expected


async def test_a_failed_reload_stops_the_threads_the_new_init_spawned(
    loader: Loader, write_photon: WritePhoton, port: int
) -> None:
    spawn_then_fail = (
        "self.worker = self.spawn_thread(lambda stop: stop.wait(), name='v2-worker'); "
        "self.socket.close(); raise ValueError('after spawning')"
    )
    path = write_photon("server.py", server(port, 1))
    await start_server(loader, path)
    path.write_text(server(port, 2, init=spawn_then_fail))
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("server")
    assert not [thread for thread in threading.enumerate() if thread.name == "v2-worker"]
    assert versions(loader) == ["v1"]
    assert accepts_connections(port)


async def test_a_failed_reload_of_several_files_puts_every_old_version_back(
    loader: Loader, write_photon: WritePhoton, port: int
) -> None:
    other = write_photon("other.py", server(0, 10).replace('"server"', '"other"'))
    path = write_photon("server.py", server(port, 1))
    await start_server(loader, other)
    await start_server(loader, path)
    other.write_text(server(0, 11).replace('"server"', '"other"'))
    path.write_text(server(port, 2, start="raise RuntimeError('no')"))
    with pytest.raises(PhotonReloadError):
        await loader.reload_photons(["other", "server"])
    assert sorted(versions(loader)) == ["v1", "v10"]
    assert accepts_connections(port)


async def test_no_version_answers_hooks_between_the_old_finalize_and_the_new_start(
    loader: Loader, write_photon: WritePhoton, port: int
) -> None:
    CURRENT[:] = [loader]
    probe = (
        "from tests.test_reload_order import answers; EVENTS.append(f'hooks answer {answers()}')"
    )
    path = write_photon("server.py", server(port, 1))
    await start_server(loader, path)
    path.write_text(server(port, 2, init=probe, start=probe))
    await loader.reload_photon("server")
    assert EVENTS == [
        "init v1",
        "finalize v1",
        "init v2",
        "hooks answer []",
        "import 1 into v2",
        "hooks answer ['v2']",
    ]


async def test_a_port_binding_photon_reloads_on_save_under_watching(
    loader: Loader, photon_dir: Path, write_photon: WritePhoton, port: int
) -> None:
    path = write_photon("server.py", server(port, 1))
    await loader.watch_photons(photon_dir, debounce=0.01)
    assert versions(loader) == ["v1"]
    for version in (2, 3):
        replace_atomically(path, server(port, version))
        await wait_for(lambda version=version: versions(loader) == [f"v{version}"])  # type: ignore[misc]
    assert accepts_connections(port)
    assert EVENTS[:3] == ["init v1", "finalize v1", "init v2"]
    await loader.stop_watching_photons()


async def test_a_failing_save_of_a_port_binding_photon_rolls_back_under_watching(
    loader: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    port: int,
    observer: EventRecorder,
) -> None:
    path = write_photon("server.py", server(port, 1))
    await loader.watch_photons(photon_dir, debounce=0.01)
    replace_atomically(path, server(port, 2, start="raise RuntimeError('bad save')"))
    await wait_for(
        lambda: any(isinstance(error, PhotonReloadError) for _, error in observer.errors)
    )
    assert versions(loader) == ["v1"]
    assert accepts_connections(port)
    replace_atomically(path, server(port, 3))
    await wait_for(lambda: versions(loader) == ["v3"])
    assert accepts_connections(port)
    await loader.stop_watching_photons()
