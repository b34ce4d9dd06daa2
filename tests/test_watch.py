"""watch_photons keeps the loader in step with a directory: new, changed, deleted, moved files."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from luminal import (
    DirectoryNotFoundError,
    Loader,
    PhotonLoadError,
    PhotonReloadError,
    ThreadManagerAlreadyRunningError,
)
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greeter, greetings, wait_for


async def test_watch_loads_and_starts_the_tree(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("top.py", greeter("top", name="top"))
    write_photon("nested/inner.py", greeter("inner", name="inner"))
    write_photon("pkg/__init__.py", greeter("pkg", name="pkg"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["inner ada", "pkg ada", "top ada"]
    assert all(handler.started for handler in watching.photons.values())


async def test_watch_accepts_a_path_object(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(Path(photon_dir))
    assert greetings(watching) == ["hello ada"]


async def test_new_file_is_loaded_and_started(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    await watching.watch_photons(photon_dir)
    write_photon("late.py", greeter("late"))
    await wait_for(lambda: greetings(watching) == ["late ada"])


async def test_new_package_is_loaded_and_started(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    await watching.watch_photons(photon_dir)
    staging = photon_dir.parent / "staging"
    staging.mkdir()
    (staging / "__init__.py").write_text(greeter("pkg"))
    staging.rename(photon_dir / "pkg")
    await wait_for(lambda: greetings(watching) == ["pkg ada"])


async def test_changed_file_is_reloaded(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    path.write_text(greeter("howdy"))
    await wait_for(lambda: greetings(watching) == ["howdy ada"])
    [(old, new)] = recorder.reloaded
    assert not old.started
    assert new.started


async def test_deleted_file_is_unloaded(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    path.unlink()
    await wait_for(lambda: "greeter" not in watching.photons)
    assert greetings(watching) == []
    assert [handler.name for handler in recorder.unloaded] == ["greeter"]


async def test_moved_file_is_unloaded_and_loaded_again(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    moved = photon_dir / "sub" / "renamed.py"
    moved.parent.mkdir()
    path.rename(moved)
    await wait_for(
        lambda: (
            "greeter" in watching.photons
            and watching.photons["greeter"].filepath == str(moved)
            and watching.photons["greeter"].started
        )
    )
    assert greetings(watching) == ["hello ada"]


async def test_deleted_directory_unloads_its_photons(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("sub/one.py", greeter("one", name="one"))
    write_photon("sub/two.py", greeter("two", name="two"))
    await watching.watch_photons(photon_dir)
    (photon_dir / "sub").rename(photon_dir.parent / "outside")
    await wait_for(lambda: not watching.photons)


async def test_failed_reload_keeps_the_old_photon_until_fixed(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    path.write_text(greeter("broken") + "\ndef oops(:\n")
    await wait_for(lambda: recorder.errors)
    [(error_path, error)] = recorder.errors
    assert error_path == str(path)
    assert isinstance(error, PhotonReloadError)
    assert isinstance(error.__cause__, PhotonLoadError)
    assert any(
        record.levelno == logging.ERROR and str(path) in record.getMessage()
        for record in caplog.records
    )
    assert greetings(watching) == ["hello ada"]

    path.write_text(greeter("fixed"))
    await wait_for(lambda: greetings(watching) == ["fixed ada"])


async def test_new_broken_file_is_reported_then_loaded_when_fixed(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    await watching.watch_photons(photon_dir)
    path = write_photon("late.py", "raise RuntimeError('not yet')\n")
    await wait_for(lambda: recorder.errors)
    assert isinstance(recorder.errors[0][1], PhotonLoadError)
    assert "late" not in watching.photons
    path.write_text(greeter("late"))
    await wait_for(lambda: greetings(watching) == ["late ada"])


async def test_file_broken_at_start_is_reported_and_loaded_when_fixed(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("good.py", greeter("good", name="good"))
    path = write_photon("bad.py", "this is not python\n")
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["good ada"]
    assert [error_path for error_path, _ in recorder.errors] == [str(path)]
    path.write_text(greeter("bad", name="bad"))
    await wait_for(lambda: greetings(watching) == ["bad ada", "good ada"])


async def test_photon_that_fails_to_start_is_started_by_the_fixing_save(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    await watching.watch_photons(photon_dir)
    failing_start = greeter("late").replace(
        "async def finalize",
        "def __init__(self):\n        raise ValueError('no')\n\n    async def finalize",
    )
    path = write_photon("late.py", failing_start)
    await wait_for(lambda: recorder.errors)
    assert greetings(watching) == []
    path.write_text(greeter("late"))
    await wait_for(lambda: greetings(watching) == ["late ada"])


async def test_lifecycle_runs_on_the_callers_loop(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    probe = """
        import asyncio, threading
        from luminal import IPhoton, hookimpl

        class Probe(IPhoton, name="probe"):
            @hookimpl
            def photon_start(self):
                Probe.seen = (threading.get_ident(), asyncio.get_running_loop())

            @hookimpl
            def greet(self, who):
                return "{word} " + who

            async def finalize(self):
                pass
    """
    path = write_photon("probe.py", probe.format(word="one"))
    await watching.watch_photons(photon_dir)
    path.write_text(path.read_text().replace("one", "two"))
    await wait_for(lambda: greetings(watching) == ["two ada"])
    photon_class = watching.photons["probe"].photon_class
    assert getattr(photon_class, "seen", None) == (
        threading.get_ident(),
        asyncio.get_running_loop(),
    )


async def test_watch_rejects_bad_arguments(watching: Loader, photon_dir: Path) -> None:
    with pytest.raises(TypeError):
        await watching.watch_photons(42)  # type: ignore[arg-type]
    with pytest.raises(DirectoryNotFoundError):
        await watching.watch_photons(photon_dir / "missing")
    file_path = photon_dir / "file.py"
    file_path.write_text("")
    with pytest.raises(DirectoryNotFoundError):
        await watching.watch_photons(file_path)


async def test_watching_twice_raises(watching: Loader, photon_dir: Path, tmp_path: Path) -> None:
    await watching.watch_photons(photon_dir)
    with pytest.raises(ThreadManagerAlreadyRunningError):
        await watching.watch_photons(tmp_path)
