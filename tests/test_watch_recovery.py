"""What a user sees while editing: a fix back to the running version is said, a safe-write with a
gap keeps the photon's state, and an old collision is not reported again for unrelated edits."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from luminal import Loader, PhotonNameConflictError, PhotonReloadError
from luminal.managers import watching as watching_module
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greeter, greetings, replace_atomically, wait_for

COUNTER = """
    from luminal import IPhoton, hookimpl

    class Counter(IPhoton, name="counter"):
        def __init__(self):
            self.count = 0

        @hookimpl
        def greet(self, who):
            return "{word} " + str(self.count)

        @hookimpl
        def photon_export_state(self):
            return self.count + 1

        @hookimpl
        def photon_import_state(self, state):
            self.count = state

        async def finalize(self):
            pass
"""


def counter(word: str) -> str:
    return textwrap.dedent(COUNTER).replace("{word}", word)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


async def test_restoring_the_running_content_after_a_broken_save_says_so(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    with caplog.at_level(logging.INFO, logger="luminal"):
        replace_atomically(path, greeter("hello") + "\ndef broken(:\n")
        await wait_for(lambda: any(isinstance(e, PhotonReloadError) for _, e in recorder.errors))
        replace_atomically(path, greeter("hello"))
        await wait_for(
            lambda: any("back to the running version" in line for line in messages(caplog))
        )
    assert recorder.reloaded == []
    assert greetings(watching) == ["hello ada"]


async def test_a_delete_then_recreate_within_the_grace_delay_is_a_reload_with_state(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watching_module, "RECREATE_GRACE", 5.0)  # a slow machine is no race
    path = write_photon("counter.py", counter("first"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    watch = watching._watch
    assert watch is not None
    watching.photons["counter"].instance.count = 41
    path.unlink()
    await wait_for(lambda: path in watch.vanishing)
    path.write_text(counter("second"))
    await wait_for(lambda: greetings(watching) == ["second 42"])
    assert recorder.unloaded == []
    assert [new.name for _, new in recorder.reloaded] == ["counter"]


async def test_a_file_written_in_place_goes_live_once_its_writer_closes_it(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("counter.py", counter("first"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    watch = watching._watch
    assert watch is not None
    [watcher] = watch.watchers
    watching.photons["counter"].instance.count = 41
    with path.open("w", encoding="utf-8") as stream:  # empty until the writer is done
        await wait_for(lambda: path in watcher.waiting_for_close)
        assert (recorder.unloaded, recorder.reloaded, recorder.errors) == ([], [], [])
        stream.write(counter("second"))
    await wait_for(lambda: greetings(watching) == ["second 42"])
    assert recorder.unloaded == []
    assert [new.name for _, new in recorder.reloaded] == ["counter"]
    assert watcher.waiting_for_close == frozenset()


async def test_a_deleted_file_that_stays_away_is_unloaded_after_the_grace_delay(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("counter.py", counter("first"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    path.unlink()
    await wait_for(lambda: "counter" not in watching.photons)
    assert [handler.name for handler in recorder.unloaded] == ["counter"]
    assert recorder.reloaded == []


async def test_an_old_collision_is_not_reported_again_when_another_file_changes(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_photon("a.py", greeter("first", name="same"))
    clash = write_photon("b.py", greeter("second", name="same"))
    await watching.watch_photons(photon_dir, debounce=0.01)

    def clashes() -> int:
        return sum(
            1
            for where, error in recorder.errors
            if where == str(clash) and isinstance(error, PhotonNameConflictError)
        )

    assert clashes() == 1
    with caplog.at_level(logging.INFO, logger="luminal"):
        helper = write_photon("helper.py", "VALUE = 1\n")
        await wait_for(lambda: any(str(helper) in line for line in messages(caplog)))
        helper.write_text("VALUE = 2\n")
        write_photon("other.py", greeter("other", name="other"))
        await wait_for(lambda: "other ada" in greetings(watching))
    assert clashes() == 1
