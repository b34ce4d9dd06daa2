"""Hooks: host hook calls reach running photons only, ``acall`` awaits, loader events."""

from __future__ import annotations

import logging
from pathlib import Path

import pluggy
import pytest

from luminal import (
    FinalizerNotImplementedError,
    Handler,
    Loader,
    PhotonLoadError,
    PhotonReloadError,
    hookimpl,
    hookspec,
)
from luminal.testing import EventRecorder, WritePhoton


class HostSpecs:
    @hookspec
    def answer(self, question: str) -> str:  # type: ignore[empty-body]
        """Answer the host's question."""

    @hookspec(firstresult=True)
    def first_answer(self, question: str) -> str:  # type: ignore[empty-body]
        """The first photon's answer only."""


ANSWERING = """
    import asyncio
    from luminal import IPhoton, hookimpl

    class {name}(IPhoton, name="{name}"):
        @hookimpl{options}
        {kind}def answer(self, question):
            {pause}
            return "{name}: " + question

        {kind}def finalize(self):
            pass
"""


def answering(name: str, *, is_async: bool = False, options: str = "") -> str:
    return ANSWERING.format(
        name=name,
        kind="async " if is_async else "",
        pause="await asyncio.sleep(0)" if is_async else "pass",
        options=options,
    )


async def load(loader: Loader, path: Path) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    return handler


async def test_host_hook_reaches_running_photons_only(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    alpha = await load(loader, write_photon("alpha.py", answering("alpha")))
    beta = await load(loader, write_photon("beta.py", answering("beta")))
    assert loader.plugin_manager.hook.answer(question="q") == []
    await alpha.start()
    assert loader.plugin_manager.hook.answer(question="q") == ["alpha: q"]
    await beta.start()
    assert loader.plugin_manager.hook.answer(question="q") == ["beta: q", "alpha: q"]
    await loader.unload_photon(alpha)
    assert loader.plugin_manager.hook.answer(question="q") == ["beta: q"]
    await loader.unload_photon("beta")
    assert loader.plugin_manager.hook.answer(question="q") == []


async def test_started_photon_is_registered_under_its_name(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await load(loader, write_photon("alpha.py", answering("alpha")))
    assert loader.plugin_manager.get_plugin("alpha") is None
    await handler.start()
    assert loader.plugin_manager.get_plugin("alpha") is handler.instance
    assert isinstance(loader.plugin_manager, pluggy.PluginManager)
    assert loader.plugin_manager.project_name == "luminal"


async def test_acall_awaits_async_implementations_in_pluggy_order(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    for name, is_async in (("a", False), ("b", True), ("c", True), ("d", False)):
        await (
            await load(loader, write_photon(f"{name}.py", answering(name, is_async=is_async)))
        ).start()
    expected = ["d: q", "c: q", "b: q", "a: q"]
    assert await loader.acall("answer", question="q") == expected
    order = [impl.plugin_name for impl in loader.plugin_manager.hook.answer.get_hookimpls()]
    assert [f"{name}: q" for name in reversed(order)] == expected


async def test_acall_honours_tryfirst(loader: Loader, write_photon: WritePhoton) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    await (
        await load(
            loader, write_photon("a.py", answering("a", is_async=True, options="(tryfirst=True)"))
        )
    ).start()
    await (await load(loader, write_photon("b.py", answering("b", is_async=True)))).start()
    assert await loader.acall("answer", question="q") == ["a: q", "b: q"]


async def test_acall_runs_async_implementations_concurrently(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    # Each waits for the other to have started: awaited one after the other, they would
    # wait forever (the test's timeout would fail it).
    for name, other in (("ping", "pong"), ("pong", "ping")):
        path = write_photon(
            f"{name}.py",
            f"""
            import asyncio
            from luminal import IPhoton, hookimpl
            from tests.test_hooks import ARRIVED

            class Photon(IPhoton, name="{name}"):
                @hookimpl
                async def answer(self, question):
                    ARRIVED.setdefault("{name}", asyncio.Event()).set()
                    await ARRIVED.setdefault("{other}", asyncio.Event()).wait()
                    return "{name}"
            """,
        )
        await (await load(loader, path)).start()
    ARRIVED.clear()
    assert await loader.acall("answer", question="q") == ["pong", "ping"]


ARRIVED: dict[str, object] = {}


async def test_acall_of_a_firstresult_hook_awaits_the_one_result(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    path = write_photon(
        "first.py",
        """
        from luminal import IPhoton, hookimpl

        class First(IPhoton):
            @hookimpl
            async def first_answer(self, question):
                return "first: " + question
        """,
    )
    await (await load(loader, path)).start()
    assert await loader.acall("first_answer", question="q") == "first: q"


async def test_acall_of_an_unknown_hook_raises_attribute_error(loader: Loader) -> None:
    with pytest.raises(AttributeError, match="no_such_hook"):
        await loader.acall("no_such_hook")


async def test_reload_swaps_what_a_hook_returns(loader: Loader, write_photon: WritePhoton) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    path = write_photon("alpha.py", answering("alpha"))
    await (await load(loader, path)).start()
    path.write_text(path.read_text().replace('"alpha: "', '"ALPHA: "'))
    await loader.reload_photon("alpha")
    assert loader.plugin_manager.hook.answer(question="q") == ["ALPHA: q"]
    assert await loader.acall("answer", question="q") == ["ALPHA: q"]


async def test_loader_events_reach_an_observer(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon("alpha.py", answering("alpha"))
    handler = await load(loader, path)
    assert observer.events == [("loaded", (handler,))]
    await handler.start()
    assert observer.last() == ("started", (handler,))
    fresh = await loader.reload_photon(handler)
    assert isinstance(fresh, Handler)
    assert observer.names()[-2:] == ["started", "reloaded"]
    assert observer.last() == ("reloaded", (handler, fresh))
    path.write_text("syntax error here\n")
    with pytest.raises(PhotonReloadError) as caught:
        await loader.reload_photon(fresh)
    assert observer.last() == ("error", (str(path.resolve()), caught.value))
    await loader.unload_photon(fresh)
    assert observer.last() == ("unloaded", (fresh,))


async def test_load_error_reaches_the_observer_with_its_path(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon("broken.py", "raise ValueError('nope')\n")
    with pytest.raises(PhotonLoadError):
        await loader.load_photon(path)
    [(reported_path, error)] = observer.errors
    assert reported_path == str(path.resolve())
    assert isinstance(error, PhotonLoadError)
    assert isinstance(error.__cause__, ValueError)


async def test_running_photons_observe_events_too(
    loader: Loader, write_photon: WritePhoton
) -> None:
    watcher = await load(
        loader,
        write_photon(
            "watcher.py",
            """
            from luminal import IPhoton, hookimpl

            class Watcher(IPhoton, name="watcher"):
                def __init__(self):
                    self.seen = []

                @hookimpl
                async def luminal_photon_loaded(self, handler):
                    self.seen.append(handler.name)

                async def finalize(self):
                    pass
            """,
        ),
    )
    await watcher.start()
    await loader.load_photon(write_photon("alpha.py", answering("alpha")))
    assert watcher.instance.seen == ["alpha"]


async def test_a_failing_observer_does_not_break_the_loader(
    loader: Loader, write_photon: WritePhoton, caplog: pytest.LogCaptureFixture
) -> None:
    class Grumpy:
        @hookimpl
        def luminal_photon_loaded(self, handler: Handler) -> None:
            raise RuntimeError("grumpy")

    loader.plugin_manager.register(Grumpy())
    with caplog.at_level(logging.ERROR, logger="luminal"):
        handler = await load(loader, write_photon("alpha.py", answering("alpha")))
    assert loader.photons["alpha"] is handler
    assert any("grumpy" in str(record.exc_info) for record in caplog.records)


async def test_missing_finalizer_is_reported_to_the_observer(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "bare.py", "from luminal import IPhoton\nclass Bare(IPhoton, name='bare'): pass\n"
    )
    handler = await load(loader, path)
    await handler.start()
    assert await loader.unload_photon(handler) is True
    [(reported_path, error)] = observer.errors
    assert reported_path == str(path.resolve())
    assert isinstance(error, FinalizerNotImplementedError)
    assert observer.names()[-1] == "unloaded"
