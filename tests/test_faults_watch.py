"""Faults that arrive through the watcher: half-written files and a directory that disappears."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from luminal import Handler, Loader, PhotonLoadError, PhotonReloadError
from luminal.testing import EventRecorder
from tests.watch_support import HostSpecs, greeter, greetings, wait_for


async def watching(loader: Loader, directory: Path) -> EventRecorder:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    recorder = EventRecorder()
    loader.plugin_manager.register(recorder)
    await loader.watch_photons(directory, debounce=0.01)
    return recorder


def errors_for(recorder: EventRecorder, path: Path) -> list[BaseException]:
    return [error for where, error in recorder.errors if where == str(path)]


async def test_half_written_save_keeps_the_old_photon_until_the_write_completes(
    loader: Loader, photon_dir: Path
) -> None:
    path = photon_dir / "greeter.py"
    path.write_text(greeter("hello"))
    recorder = await watching(loader, photon_dir)
    assert greetings(loader) == ["hello ada"]

    complete = greeter("howdy")
    half = len(complete) // 2
    with path.open("w") as stream:
        stream.write(complete[:half])
        stream.flush()
        await wait_for(lambda: errors_for(recorder, path))
        assert isinstance(errors_for(recorder, path)[0], PhotonReloadError)
        assert greetings(loader) == ["hello ada"]
        stream.write(complete[half:])
    await wait_for(lambda: greetings(loader) == ["howdy ada"])
    assert loader.photons["greeter"].started
    await loader.stop_watching_photons()


async def test_half_written_new_file_loads_once_complete(loader: Loader, photon_dir: Path) -> None:
    (photon_dir / "first.py").write_text(greeter("hello", name="first"))
    recorder = await watching(loader, photon_dir)
    path = photon_dir / "second.py"
    complete = greeter("hi", name="second")
    with path.open("w") as stream:
        stream.write(complete[: len(complete) // 2])
        stream.flush()
        await wait_for(lambda: errors_for(recorder, path))
        assert isinstance(errors_for(recorder, path)[0], PhotonLoadError)
        assert "second" not in loader.photons
        stream.write(complete[len(complete) // 2 :])
    await wait_for(lambda: greetings(loader) == ["hello ada", "hi ada"])
    await loader.stop_watching_photons()


async def test_removing_the_watched_directory_unloads_its_photons_only(
    loader: Loader, tmp_path: Path, photon_dir: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "steady.py").write_text(greeter("steady", name="steady"))
    steady = await loader.load_photon(elsewhere / "steady.py")
    assert isinstance(steady, Handler)
    await steady.start()
    (photon_dir / "one.py").write_text(greeter("one", name="one"))
    (photon_dir / "pack").mkdir()
    (photon_dir / "pack" / "__init__.py").write_text(greeter("pack", name="pack"))
    recorder = await watching(loader, photon_dir)
    assert greetings(loader) == ["one ada", "pack ada", "steady ada"]

    shutil.rmtree(photon_dir)
    await wait_for(lambda: set(loader.photons) == {"steady"})
    assert greetings(loader) == ["steady ada"]
    assert {handler.name for handler in recorder.unloaded} == {"one", "pack"}
    prefix = loader._namespace + "_"
    assert {name for name in sys.modules if name.startswith(prefix) and "." not in name} == {
        steady.module_name
    }
    await loader.stop_watching_photons()
    assert steady.started


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("replacing", [False, True], ids=["new", "replacing-a-photon"])
async def test_a_fifo_named_like_a_photon_while_watching_is_reported_as_at_load(
    loader: Loader, photon_dir: Path, replacing: bool
) -> None:
    # `mkfifo plugins/pipe.py` fails alone, reported with its reason as the initial load
    # reports it, never opened (a read would block) and never taken for a vanished file.
    pipe = photon_dir / "pipe.py"
    (photon_dir / "other.py").write_text(greeter("other", name="other"))
    if replacing:
        pipe.write_text(greeter("piped", name="piped"))
    recorder = await watching(loader, photon_dir)

    if replacing:
        pipe.unlink()
    os.mkfifo(pipe)
    await wait_for(lambda: errors_for(recorder, pipe))
    [error] = errors_for(recorder, pipe)
    assert isinstance(error, PhotonLoadError)
    assert "not a regular file (a FIFO)" in str(error)
    assert greetings(loader) == ["other ada"]

    pipe.unlink()
    pipe.write_text(greeter("fixed", name="piped"))
    await wait_for(lambda: greetings(loader) == ["fixed ada", "other ada"])
