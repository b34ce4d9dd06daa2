"""Stopping, halting and restarting the watcher; inotify exhaustion; a host that just exits."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.inotify import InotifyObserver

from luminal import Loader
from luminal.ownership import IMPORT_THREAD_NAME
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greeter, greetings, wait_for

GATE_MODULE = "luminal_test_watch_gate"

GATED = """
    import {gate}
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name="gated"):
        @hookimpl
        def greet(self, who):
            return {word!r} + " " + who

        async def finalize(self):
            {gate}.entered.set()
            await {gate}.release.wait()
"""


@pytest.fixture
def gate() -> Iterator[Any]:
    """A module photons import to block their finalizer (or, on a thread, their import) until
    the test releases it."""
    module: Any = types.ModuleType(GATE_MODULE)
    module.entered = asyncio.Event()
    module.release = asyncio.Event()
    module.importing = threading.Event()
    module.resume = threading.Event()
    sys.modules[GATE_MODULE] = module
    yield module
    module.release.set()
    module.resume.set()
    del sys.modules[GATE_MODULE]


def watcher_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before and not thread.name.startswith(("asyncio_", IMPORT_THREAD_NAME))
    ]


def import_threads() -> list[threading.Thread]:
    """The daemon threads of imports: each ends a moment after handing its import over."""
    return [thread for thread in threading.enumerate() if thread.name == IMPORT_THREAD_NAME]


async def test_stop_joins_the_observer_threads_and_watching_can_start_again(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    before = set(threading.enumerate())
    await watching.watch_photons(photon_dir)
    assert watcher_threads(before)
    await watching.stop_watching_photons()
    assert watcher_threads(before) == []

    await watching.watch_photons(photon_dir)
    path.write_text(greeter("again"))
    await wait_for(lambda: greetings(watching) == ["again ada"])
    await watching.stop_watching_photons(halt_threads=True)
    assert watcher_threads(before) == []
    await wait_for(lambda: import_threads() == [])


async def test_stop_when_not_watching_does_nothing(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("greeter.py", greeter("hello"))
    (handler,) = await watching.load_photons(photon_dir)
    await handler.start()
    before = set(threading.enumerate())
    await watching.stop_watching_photons()
    await watching.stop_watching_photons(halt_threads=True)
    assert watching.photons == {"greeter": handler}
    assert handler.started
    assert watcher_threads(before) == []
    await watching.watch_photons(photon_dir)
    await watching.stop_watching_photons()


async def test_stop_lets_the_reload_in_progress_finish(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, gate: Any
) -> None:
    path = write_photon("gated.py", GATED.format(gate=GATE_MODULE, word="old"))
    await watching.watch_photons(photon_dir)
    path.write_text(textwrap.dedent(GATED.format(gate=GATE_MODULE, word="new")))
    await asyncio.wait_for(gate.entered.wait(), timeout=15)

    stopping = asyncio.create_task(watching.stop_watching_photons())
    await asyncio.sleep(0)
    assert not stopping.done()
    gate.release.set()
    await asyncio.wait_for(stopping, timeout=15)
    assert greetings(watching) == ["new ada"]
    assert watching.photons["gated"].started


async def test_a_stop_given_up_on_abandons_an_import_that_never_returns(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, gate: Any
) -> None:
    """A saved version whose import never returns: the caller of a stop that gives up (the
    second Ctrl-C of ``luminal run``, a ``wait_for``) gets it back, the old version running and
    no observer thread left."""
    path = write_photon("greeter.py", greeter("old"))
    before = set(threading.enumerate())
    await watching.watch_photons(photon_dir)
    hang = f"import {GATE_MODULE}; {GATE_MODULE}.importing.set(); {GATE_MODULE}.resume.wait(60)"
    path.write_text(greeter("new", extra=hang))
    await wait_for(gate.importing.is_set)

    stopping = asyncio.ensure_future(asyncio.wait_for(watching.stop_watching_photons(), 0.5))
    await wait_for(stopping.done)
    with pytest.raises(asyncio.TimeoutError):
        stopping.result()
    assert greetings(watching) == ["old ada"]
    assert watcher_threads(before) == []


async def test_halt_drops_changes_still_waiting_for_their_debounce(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir, debounce=60.0)
    path.write_text(greeter("never"))
    watch_state = watching._watch
    assert watch_state is not None
    await wait_for(lambda: watch_state.pending)
    await asyncio.wait_for(watching.stop_watching_photons(halt_threads=True), timeout=15)
    assert recorder.reloaded == []
    assert greetings(watching) == ["hello ada"]


class ExhaustedInotifyObserver(InotifyObserver):
    """A real inotify observer whose kernel is out of watches, as on a huge tree."""

    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


class DeniedObserver(InotifyObserver):
    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "permission denied")


async def test_inotify_exhaustion_falls_back_to_polling_and_says_so(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    before = set(threading.enumerate())
    with caplog.at_level(logging.WARNING, logger="luminal.watcher"):
        await watching.watch_photons(photon_dir, observer_factory=ExhaustedInotifyObserver)
    assert any(
        record.levelno == logging.WARNING
        and "inotify" in record.getMessage()
        and "polling" in record.getMessage()
        for record in caplog.records
    )
    path.write_text(greeter("polled, with a longer word"))
    await wait_for(lambda: greetings(watching) == ["polled, with a longer word ada"])
    write_photon("late.py", greeter("late", name="late"))
    await wait_for(lambda: "late ada" in greetings(watching))
    await watching.stop_watching_photons()
    assert watcher_threads(before) == []


async def test_other_observer_errors_propagate_and_leave_nothing_watching(
    watching: Loader, photon_dir: Path
) -> None:
    with pytest.raises(PermissionError):
        await watching.watch_photons(photon_dir, observer_factory=DeniedObserver)
    await watching.watch_photons(photon_dir)


async def test_host_exits_without_stopping_the_watcher(
    photon_dir: Path, write_photon: WritePhoton, tmp_path: Path
) -> None:
    write_photon("greeter.py", greeter("hello"))
    host = tmp_path / "host.py"
    host.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from luminal import Loader

            async def main():
                loader = Loader()
                await loader.watch_photons({str(photon_dir)!r})
                print(sorted(loader.photons))

            asyncio.run(main())
            """
        )
    )
    project_root = str(Path(__file__).resolve().parents[1])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(host),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": project_root},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("the host did not exit while watching") from None
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert stdout.decode().strip() == "['greeter']"
