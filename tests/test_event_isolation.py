"""Loader events are isolated calls: a photon's failing event hook never silences the others."""

from __future__ import annotations

import asyncio
import logging
import textwrap

import pytest

from luminal import Handler, Loader, PhotonHookError, PhotonLoadError, hookimpl
from luminal.testing import EventRecorder, WritePhoton

OBSERVING_PHOTON = """
    from luminal import IPhoton, hookimpl

    class {name}(IPhoton, name="{name}"):
        @hookimpl
        def {hook}(self, **kwargs):
            {body}

        async def finalize(self):
            pass
"""


PLAIN_PHOTON = """
    from luminal import IPhoton

    class {name}(IPhoton, name="{name}"):
        async def finalize(self):
            pass
"""


def plain_photon(name: str) -> str:
    return textwrap.dedent(PLAIN_PHOTON).format(name=name)


def observing_photon(name: str, hook: str, body: str) -> str:
    return textwrap.dedent(OBSERVING_PHOTON).format(name=name, hook=hook, body=body)


async def start(loader: Loader, handler: Handler | list[Handler]) -> Handler:
    assert isinstance(handler, Handler)
    await handler.start()
    return handler


async def test_a_photon_raising_in_an_event_hook_leaves_the_event_to_the_others(
    loader: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    hook = "luminal_photon_started"
    spoiler = await start(
        loader,
        await loader.load_photon(
            write_photon("spoiler.py", observing_photon("spoiler", hook, "raise ValueError(1)"))
        ),
    )
    late = await start(
        loader, await loader.load_photon(write_photon("late.py", plain_photon("late")))
    )
    assert [handler.name for handler in observer.started] == ["spoiler", "late"]
    errors = [error for _, error in observer.errors if isinstance(error, PhotonHookError)]
    assert [(error.photon_name, error.hook_name) for error in errors] == [("spoiler", hook)] * 2
    assert all(isinstance(error.__cause__, ValueError) for error in errors)
    assert late.started
    assert spoiler.hook_stats[hook].calls == 2  # its own start and late's
    assert spoiler.hook_stats[hook].errors == 2


async def test_a_photon_raising_in_its_error_hook_is_logged_not_reported_again(
    loader: Loader,
    write_photon: WritePhoton,
    observer: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = "luminal_photon_error"
    body = "raise ValueError('observer broke')"
    spoiler = await start(
        loader,
        await loader.load_photon(
            write_photon("spoiler.py", observing_photon("spoiler", hook, body))
        ),
    )
    with caplog.at_level(logging.ERROR), pytest.raises(PhotonLoadError):
        await loader.load_photon(write_photon("bad.py", "def broken(:\n"))
    assert [type(error) for _, error in observer.errors] == [PhotonLoadError]
    assert spoiler.hook_stats[hook].calls == 1
    assert spoiler.hook_stats[hook].errors == 1
    assert any("observer broke" in record.getMessage() for record in caplog.records)
    assert spoiler.started


async def test_a_failing_host_observer_is_logged_and_the_operation_goes_on(
    loader: Loader, write_photon: WritePhoton, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenObserver:
        @hookimpl
        def luminal_photon_loaded(self, handler: Handler) -> None:
            raise RuntimeError("host observer broke")

    loader.plugin_manager.register(BrokenObserver())
    with caplog.at_level(logging.ERROR):
        handler = await start(
            loader, await loader.load_photon(write_photon("a.py", plain_photon("a")))
        )
    assert handler.started
    assert any(
        record.exc_info and "host observer broke" in str(record.exc_info[1])
        for record in caplog.records
    )


class AsyncHostObserver:
    """A host plugin whose observers are ``async``, as the hook specs allow."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    @hookimpl
    async def luminal_photon_loaded(self, handler: Handler) -> None:
        await asyncio.sleep(0)
        self.loaded.append(handler.name)

    @hookimpl
    async def luminal_photon_unloaded(self, handler: Handler) -> str:
        await asyncio.sleep(0)
        return "host saw " + handler.name


async def test_a_hosts_async_observer_is_awaited(loader: Loader, write_photon: WritePhoton) -> None:
    host = AsyncHostObserver()
    loader.plugin_manager.register(host)
    await start(loader, await loader.load_photon(write_photon("a.py", plain_photon("a"))))
    assert host.loaded == ["a"]


async def test_acall_awaits_a_host_plugins_async_implementation(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.register(AsyncHostObserver())
    handler = await start(loader, await loader.load_photon(write_photon("a.py", plain_photon("a"))))
    assert await loader.acall("luminal_photon_unloaded", handler=handler) == ["host saw a"]
