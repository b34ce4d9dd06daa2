"""A reload or unload whose caller is cancelled after it began stopping or starting photons
leaves every photon in a state the loader, the plugin manager and the photon agree on: a reload
is rolled back (the old version runs again, with its state), an unload is finished."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from luminal import Handler, HandlerState, Loader, PhotonNotFoundError, hookspec
from luminal.testing import WritePhoton

# Set by a photon when it reaches a step named in HOLD (``"start user-1"``), where it then
# waits for the test to cancel its caller; each hold is taken once.
REACHED = threading.Event()
HOLD: set[str] = set()
# A step named "wait NAME-VERSION" in HOLD waits until the test sets RELEASED instead.
RELEASED = threading.Event()

PHOTON = """
    import asyncio
    from luminal import IPhoton, hookimpl
    from tests.test_cancelled_operations import HOLD, REACHED, RELEASED

    class {cls}(IPhoton, name="{name}"{requires}):
        version = "{version}"

        def __init__(self):
            self.served = 0

        @hookimpl
        def answer(self, name):
            if name == "{name}":
                return "{name}-{version}"

        @hookimpl
        def photon_export_state(self):
            return {{"from": "{version}"}}

        @hookimpl
        def photon_import_state(self, state):
            self.served = state

        @hookimpl
        async def photon_start(self):
            if "start {name}-{version}" in HOLD:
                HOLD.discard("start {name}-{version}")
                REACHED.set()
                await asyncio.sleep(30)
            if "wait {name}-{version}" in HOLD:
                HOLD.discard("wait {name}-{version}")
                REACHED.set()
                while not RELEASED.is_set():
                    await asyncio.sleep(0.01)

        async def finalize(self):
            if "finalize {name}-{version}" in HOLD:
                HOLD.discard("finalize {name}-{version}")
                REACHED.set()
                await asyncio.sleep(30)
"""


class AnswerSpecs:
    @hookspec
    def answer(self, name: str) -> str:  # type: ignore[empty-body]
        """The named photon's version tag."""


def photon(name: str, version: str, *, requires: tuple[str, ...] = ()) -> str:
    return PHOTON.format(
        cls=name.capitalize(),
        name=name,
        version=version,
        requires=f", requires={list(requires)!r}" if requires else "",
    )


@pytest.fixture
def loader(luminal_loader: Loader) -> Loader:
    REACHED.clear()
    HOLD.clear()
    RELEASED.clear()
    luminal_loader.plugin_manager.add_hookspecs(AnswerSpecs)
    return luminal_loader


async def cancelled_when_reached(operation: Callable[[], Awaitable[object]]) -> None:
    """Run ``operation`` until a photon sets ``REACHED``, then cancel it; it must end cancelled."""
    task = asyncio.ensure_future(operation())
    reached = asyncio.ensure_future(asyncio.to_thread(REACHED.wait, 10))
    done, _ = await asyncio.wait({task, reached}, return_when=asyncio.FIRST_COMPLETED)
    assert task not in done, f"the operation ended before it was cancelled: {task}"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await reached


async def started(loader: Loader, path: Path) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    return handler


def answers(loader: Loader, name: str) -> list[str]:
    return [answer for answer in loader.plugin_manager.hook.answer(name=name) if answer]


@pytest.mark.parametrize("hold", ["finalize solo-1", "start solo-2"])
async def test_a_reload_cancelled_while_it_swaps_rolls_back_with_the_state(
    loader: Loader, write_photon: WritePhoton, hold: str
) -> None:
    # The old version stayed finalized and unregistered while the loader called it started
    # (cancelled in its finalizer), or no version ran at all (cancelled in the new start).
    await started(loader, write_photon("solo.py", photon("solo", "1")))
    write_photon("solo.py", photon("solo", "2"))
    HOLD.add(hold)

    await cancelled_when_reached(lambda: loader.reload_photon("solo"))

    running = loader.photons["solo"]
    assert running.state is HandlerState.STARTED
    assert answers(loader, "solo") == ["solo-1"]
    assert running.instance.served == {"from": "1"}
    assert loader.plugin_manager.is_registered(running.instance)
    write_photon("solo.py", photon("solo", "3"))
    reloaded = await loader.reload_photon("solo")
    assert isinstance(reloaded, Handler)
    assert answers(loader, "solo") == ["solo-3"]
    assert reloaded.instance.served == {"from": "1"}


async def provider_and_dependent(loader: Loader, write_photon: WritePhoton) -> None:
    """``base`` 1 and ``user`` (requiring it) running, and ``base`` 2 saved, to reload."""
    await started(loader, write_photon("base.py", photon("base", "1")))
    await started(loader, write_photon("user.py", photon("user", "1", requires=("base",))))
    write_photon("base.py", photon("base", "2"))


def assert_provider_and_dependent_back(loader: Loader) -> None:
    assert {name: h.state for name, h in loader.photons.items()} == {
        "base": HandlerState.STARTED,
        "user": HandlerState.STARTED,
    }
    assert answers(loader, "base") == ["base-1"]
    assert answers(loader, "user") == ["user-1"]
    assert loader.photons["user"].instance.served == {"from": "1"}


@pytest.mark.parametrize("hold", ["finalize user-1", "start base-2", "start user-1"])
async def test_a_provider_reload_cancelled_in_its_transaction_puts_every_photon_back(
    loader: Loader, write_photon: WritePhoton, hold: str
) -> None:
    await provider_and_dependent(loader, write_photon)
    HOLD.add(hold)

    await cancelled_when_reached(lambda: loader.reload_photon("base"))

    assert_provider_and_dependent_back(loader)


async def test_a_reload_cancelled_again_while_it_rolls_back_still_puts_every_photon_back(
    loader: Loader, write_photon: WritePhoton
) -> None:
    # A second cancellation ended the rollback half-way: the provider was loaded but stopped,
    # and its dependent stopped for good (start() said it was unloaded; load it again).
    await provider_and_dependent(loader, write_photon)
    HOLD.update({"start base-2", "wait base-1"})
    task = asyncio.ensure_future(loader.reload_photon("base"))
    for _ in range(2):  # in the new start, then in the old version's restart
        assert await asyncio.to_thread(REACHED.wait, 10)
        REACHED.clear()
        task.cancel()
    RELEASED.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert_provider_and_dependent_back(loader)


async def test_an_unload_cancelled_in_the_finalizer_still_unloads(
    loader: Loader, write_photon: WritePhoton
) -> None:
    # The photon was unregistered but stayed in loader.photons as started, with no way to
    # unload it but waiting out its finalizer again.
    handler = await started(loader, write_photon("solo.py", photon("solo", "1")))
    HOLD.add("finalize solo-1")

    await cancelled_when_reached(lambda: loader.unload_photon("solo"))

    assert "solo" not in loader.photons
    assert answers(loader, "solo") == []
    assert handler.state is HandlerState.STOPPED
    with pytest.raises(PhotonNotFoundError):
        await loader.unload_photon("solo")
    await started(loader, write_photon("solo.py", photon("solo", "2")))
    assert answers(loader, "solo") == ["solo-2"]


async def test_a_provider_unload_cancelled_while_a_dependent_stops_finishes_and_it_waits(
    loader: Loader, write_photon: WritePhoton
) -> None:
    await started(loader, write_photon("base.py", photon("base", "1")))
    dependent = await started(
        loader, write_photon("user.py", photon("user", "1", requires=("base",)))
    )
    HOLD.add("finalize user-1")

    await cancelled_when_reached(lambda: loader.unload_photons(["base"]))

    assert sorted(loader.photons) == ["user"]
    assert dependent.state is HandlerState.WAITING
    assert answers(loader, "base") == answers(loader, "user") == []
    await started(loader, write_photon("base.py", photon("base", "2")))
    assert answers(loader, "user") == ["user-1"]


async def test_a_provider_stop_cancelled_while_a_dependent_stops_finishes_and_all_start_again(
    loader: Loader, write_photon: WritePhoton
) -> None:
    base = await started(loader, write_photon("base.py", photon("base", "1")))
    await started(loader, write_photon("mid.py", photon("mid", "1", requires=("base",))))
    await started(loader, write_photon("top.py", photon("top", "1", requires=("mid",))))
    HOLD.add("finalize top-1")

    await cancelled_when_reached(base.stop)

    assert {name: handler.state for name, handler in loader.photons.items()} == {
        "base": HandlerState.LOADED,
        "mid": HandlerState.WAITING,
        "top": HandlerState.WAITING,
    }
    assert [answers(loader, name) for name in ("base", "mid", "top")] == [[], [], []]
    await base.start()
    assert [answers(loader, name) for name in ("base", "mid", "top")] == [
        ["base-1"],
        ["mid-1"],
        ["top-1"],
    ]
