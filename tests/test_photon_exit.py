"""A photon that calls ``sys.exit()`` (argparse at import time does), or raises another
``BaseException`` that is not an ``Exception``, fails alone: the host and the other photons keep
running, and the exit is reported as the photon's error."""

from __future__ import annotations

import asyncio
import sys

import pytest

from luminal import (
    DirectoryLoadError,
    Handler,
    Loader,
    PhotonBaseExceptionError,
    PhotonExitError,
    PhotonHookError,
    PhotonLoadError,
    PhotonReloadError,
    PhotonStartError,
    PhotonStopError,
    hookspec,
)
from luminal.guard import guarded
from luminal.testing import EventRecorder, LeftoverCheck, WritePhoton
from tests.watch_support import wait_for

GOOD = """
from luminal import IPhoton

class Good(IPhoton, name="good"):
    async def finalize(self):
        pass
"""

EXITING = """
import sys
from luminal import IPhoton, hookimpl

class Exiting(IPhoton, name="exiting"):
    {body}
"""


def exiting(body: str) -> str:
    return EXITING.format(body=body)


async def test_sys_exit_at_import_fails_that_file_and_the_others_load(
    loader: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    write_photon("a_good.py", GOOD)
    bad = write_photon("b_exits.py", "import sys\nsys.exit('usage: b_exits [-h]')\n")
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(bad.parent)
    assert list(loader.photons) == ["good"]
    (error,) = caught.value.errors
    assert isinstance(error, PhotonLoadError)
    assert isinstance(error.__cause__, PhotonExitError)
    assert "sys.exit" in str(error)
    assert "usage: b_exits" in str(error)
    assert [path for path, _ in observer.errors] == [str(bad)]
    assert not any("b_exits" in name for name in sys.modules)


async def test_sys_exit_in_init_is_a_start_error(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("exits.py", exiting("def __init__(self):\n        sys.exit(3)"))
    handler = await loader.load_photon(path)
    assert not isinstance(handler, list)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, PhotonExitError)
    assert caught.value.__cause__.code == 3
    assert not handler.started


async def test_sys_exit_in_photon_start_is_a_start_error(
    loader: Loader, write_photon: WritePhoton
) -> None:
    body = "@hookimpl\n    async def photon_start(self):\n        sys.exit()\n\n"
    body += "    async def finalize(self):\n        pass"
    handler = await loader.load_photon(write_photon("exits.py", exiting(body)))
    assert not isinstance(handler, list)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, PhotonExitError)
    assert loader.plugin_manager.get_plugin("exiting") is None


async def test_sys_exit_in_the_finalizer_is_reported_and_the_photon_removed(
    loader: Loader,
    write_photon: WritePhoton,
    observer: EventRecorder,
    luminal_leftovers: LeftoverCheck,
) -> None:
    body = "async def finalize(self):\n        sys.exit('bye')"
    handler = await loader.load_photon(write_photon("exits.py", exiting(body)))
    assert not isinstance(handler, list)
    await handler.start()
    await loader.unload_photon(handler)
    assert dict(loader.photons) == {}
    errors = [error for _, error in observer.errors]
    assert any(
        isinstance(error, PhotonStopError) and isinstance(error.__cause__, PhotonExitError)
        for error in errors
    )
    luminal_leftovers.stop_errors.clear()  # the stop error this test expects


async def test_sys_exit_in_a_reload_rolls_back(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("exits.py", exiting("async def finalize(self):\n        pass"))
    handler = await loader.load_photon(path)
    assert not isinstance(handler, list)
    await handler.start()
    write_photon("exits.py", "import sys\nsys.exit(1)\n" + exiting("pass"))
    with pytest.raises(PhotonReloadError, match=r"sys\.exit") as caught:
        await loader.reload_photon("exiting")
    assert isinstance(caught.value.__cause__, PhotonLoadError)
    assert loader.photons["exiting"] is handler
    assert handler.started


async def test_a_keyboard_interrupt_in_a_reload_passes_through_once_the_old_version_runs(
    loader: Loader, write_photon: WritePhoton
) -> None:
    finalizer = "async def finalize(self):\n        pass"
    path = write_photon("exits.py", exiting(finalizer))
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    interrupting = "@hookimpl\n    def photon_start(self):\n        raise KeyboardInterrupt"
    write_photon("exits.py", exiting(f"{interrupting}\n\n    {finalizer}"))
    with pytest.raises(KeyboardInterrupt):
        await loader.reload_photon("exiting")
    # The new version is not registered; the old one, finalized for the swap, runs again (as
    # after a cancellation): a host that goes on has lost nothing, one that exits unloads it.
    registered = loader.plugin_manager.get_plugin("exiting")
    assert registered is not None
    assert "photon_start" not in vars(type(registered))
    assert loader.photons["exiting"].started
    assert loader.photons["exiting"].instance is registered


ESCAPING = """
import asyncio
from luminal import IPhoton, hookimpl

class Escape(BaseException):
    pass

class Escaping(IPhoton, name="escaping"):
    @hookimpl
    {kind}def {hook}(self{arguments}):
        raise {raised}

    async def finalize(self):
        pass
"""


def escaping(hook: str, raised: str = "Escape('out')", kind: str = "") -> str:
    arguments = ", question" if hook == "answer" else ""
    return ESCAPING.format(kind=kind, hook=hook, arguments=arguments, raised=raised)


class AnswerSpecs:
    @hookspec
    def answer(self, question: str) -> str:  # type: ignore[empty-body]
        """Answer the host's question."""


async def test_a_base_exception_at_import_fails_that_file_and_the_others_load(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("a_good.py", GOOD)
    write_photon("b_escapes.py", "class Escape(BaseException):\n    pass\nraise Escape('no')\n")
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(write_photon("x.txt", "").parent)
    assert list(loader.photons) == ["good"]
    (error,) = caught.value.errors
    assert isinstance(error.__cause__, PhotonBaseExceptionError)
    assert type(error.__cause__.__cause__).__name__ == "Escape"


@pytest.mark.parametrize(
    ("kind", "raised"),
    [
        ("", "Escape('out')"),
        ("async ", "Escape('out')"),
        ("", "asyncio.CancelledError()"),
        ("async ", "asyncio.CancelledError()"),
        ("async ", "GeneratorExit()"),
    ],
)
async def test_a_base_exception_in_photon_start_is_a_start_error(
    loader: Loader, write_photon: WritePhoton, kind: str, raised: str
) -> None:
    path = write_photon("escaping.py", escaping("photon_start", raised, kind))
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    with pytest.raises(PhotonStartError) as caught:
        await handler.start()
    assert isinstance(caught.value.__cause__, PhotonBaseExceptionError)
    assert loader.plugin_manager.get_plugin("escaping") is None
    assert not handler.started


@pytest.mark.parametrize(
    ("kind", "raised"),
    [
        ("", "Escape('out')"),
        ("async ", "Escape('out')"),
        ("", "asyncio.CancelledError()"),
        ("async ", "GeneratorExit()"),
    ],
)
async def test_a_base_exception_in_a_hook_call_is_isolated(
    loader: Loader, write_photon: WritePhoton, observer: EventRecorder, kind: str, raised: str
) -> None:
    loader.plugin_manager.add_hookspecs(AnswerSpecs)
    handler = await loader.load_photon(
        write_photon("escaping.py", escaping("answer", raised, kind))
    )
    assert isinstance(handler, Handler)
    await handler.start()
    assert await loader.acall("answer", question="q") == []
    if not kind:
        assert loader.call("answer", question="q") == []

    def reported() -> list[PhotonHookError]:
        return [error for _, error in observer.errors if isinstance(error, PhotonHookError)]

    # call() reports from a task of the loop: wait until every counted failure is reported
    await wait_for(lambda: len(reported()) == handler.hook_stats["answer"].errors)
    errors = reported()
    assert errors
    assert all(isinstance(error.cause, PhotonBaseExceptionError) for error in errors)
    assert handler.hook_stats["answer"].errors == len(errors)


def test_closing_a_coroutine_that_awaits_a_photon_is_not_the_photons_failure() -> None:
    """``close()`` ends the awaiting coroutine with ``GeneratorExit`` at its ``await``; unlike a
    ``GeneratorExit`` that the photon raises, it passes (else ``close()`` itself would raise)."""
    closed: list[str] = []

    async def photon_start() -> None:
        try:
            await asyncio.sleep(0)
        finally:
            closed.append("photon_start")

    awaiting = guarded(photon_start())
    awaiting.send(None)  # suspended in the photon's await
    awaiting.close()
    assert closed == ["photon_start"]
