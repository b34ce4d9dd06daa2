"""Watching keeps photons running through moves, renames, re-watching, a tree's directory going
and coming back, and re-locking."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from luminal import Loader, PhotonNameConflictError, PhotonTrustError, TrustPolicy
from luminal.testing import EventRecorder
from luminal.trust import write_lock
from tests.watch_support import HostSpecs, greeter, greetings, wait_for


@pytest.fixture
def luminal_loader_kwargs() -> dict[str, Any]:
    """This module's loader logs what it does, as ``luminal run``'s does."""
    return {"logging": True, "finalize_timeout": 2.0, "stop_timeout": 2.0}


@pytest.fixture
def watching(luminal_loader: Loader, recorder: EventRecorder) -> Loader:
    """The plugin's loader with the watch tests' host specs and a recorder, not watching yet."""
    luminal_loader.plugin_manager.add_hookspecs(HostSpecs)
    luminal_loader.plugin_manager.register(recorder)
    return luminal_loader


def running_from(loader: Loader, name: str) -> Path | None:
    handler = loader.photons.get(name)
    return Path(handler.filepath) if handler is not None and handler.started else None


def conflicts(recorder: EventRecorder, path: Path) -> int:
    return sum(
        1
        for where, error in recorder.errors
        if where == str(path) and isinstance(error, PhotonNameConflictError)
    )


async def test_a_photon_moved_to_another_watched_tree_keeps_running(
    watching: Loader, trees: tuple[Path, Path]
) -> None:
    first, second = trees
    (first / "mover.py").write_text(greeter("moving", name="mover"))
    await watching.watch_photons(first, more_directories=[second], debounce=0.01)
    (first / "mover.py").rename(second / "mover.py")
    await wait_for(lambda: running_from(watching, "mover") == second / "mover.py")
    assert greetings(watching) == ["moving ada"]


async def test_a_copy_into_another_tree_before_the_delete_ends_running_from_the_copy(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, second = trees
    (first / "mover.py").write_text(greeter("moving", name="mover"))
    await watching.watch_photons(first, more_directories=[second], debounce=0.01)
    shutil.copy(first / "mover.py", second / "mover.py")
    await wait_for(lambda: conflicts(recorder, second / "mover.py") == 1)
    (first / "mover.py").unlink()
    await wait_for(lambda: running_from(watching, "mover") == second / "mover.py")
    assert greetings(watching) == ["moving ada"]


async def test_a_rename_inside_one_tree_keeps_the_photon_running(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    (first / "old_name.py").write_text(greeter("renamed", name="renamed"))
    await watching.watch_photons(first, debounce=0.01)
    (first / "old_name.py").rename(first / "new_name.py")
    await wait_for(lambda: running_from(watching, "renamed") == first / "new_name.py")
    assert recorder.errors == []


async def test_create_before_delete_inside_one_tree_ends_running_from_the_new_file(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    (first / "a.py").write_text(greeter("copied", name="copied"))
    await watching.watch_photons(first, debounce=0.01)
    shutil.copy(first / "a.py", first / "b.py")
    await wait_for(lambda: conflicts(recorder, first / "b.py") == 1)
    (first / "a.py").unlink()
    await wait_for(lambda: running_from(watching, "copied") == first / "b.py")


async def test_watching_again_brings_the_tree_to_what_is_on_disk(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    changed, deleted = first / "changed.py", first / "deleted.py"
    changed.write_text(greeter("before", name="changed"))
    deleted.write_text(greeter("deleted", name="deleted"))
    await watching.watch_photons(first, debounce=0.01)
    await watching.stop_watching_photons()
    changed.write_text(greeter("after", name="changed"))
    deleted.unlink()
    (first / "new.py").write_text(greeter("new", name="new"))
    await watching.watch_photons(first, debounce=0.01)
    assert greetings(watching) == ["after ada", "new ada"]
    assert [new.name for _, new in recorder.reloaded] == ["changed"]
    assert all(handler.started for handler in watching.photons.values())


async def test_watching_a_tree_loaded_before_reloads_its_changes_and_starts_it(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    path = first / "early.py"
    path.write_text(greeter("early", name="early"))
    await watching.load_photons(first)
    path.write_text(greeter("edited", name="early"))
    await watching.watch_photons(first, debounce=0.01)
    assert greetings(watching) == ["edited ada"]
    assert watching.photons["early"].started


async def test_a_deleted_and_recreated_watched_directory_is_followed_again(
    watching: Loader, trees: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    await watching.watch_photons(first, debounce=0.01)
    with caplog.at_level(logging.WARNING, logger="luminal"):
        shutil.rmtree(first)
        await wait_for(lambda: watching.photons == {})
        await wait_for(lambda: any("deleted or renamed" in r.getMessage() for r in caplog.records))
        first.mkdir()
        (first / "two.py").write_text(greeter("two", name="two"))
        await wait_for(lambda: greetings(watching) == ["two ada"])
    (first / "two.py").write_text(greeter("two, edited,", name="two"))
    await wait_for(lambda: greetings(watching) == ["two, edited, ada"])


async def test_a_renamed_watched_directory_unloads_its_photons_like_a_move_out(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder, tmp_path: Path
) -> None:
    first, _ = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    (first / "pkg").mkdir()
    (first / "pkg" / "__init__.py").write_text(greeter("pkg", name="pkg"))
    await watching.watch_photons(first, debounce=0.01)
    first.rename(tmp_path / "elsewhere")
    await wait_for(lambda: watching.photons == {})
    assert {handler.name for handler in recorder.unloaded} == {"one", "pkg"}
    (tmp_path / "elsewhere").rename(first)
    await wait_for(lambda: greetings(watching) == ["one ada", "pkg ada"])


async def test_re_locking_lets_refused_files_go_live_without_another_save(
    trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    pinned, fresh = first / "pinned.py", first / "fresh.py"
    pinned.write_text(greeter("pinned", name="pinned"))
    lock_file = write_lock(first)
    policy = TrustPolicy(lock_file=lock_file)
    async with Loader(logging=True, trust=policy, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        await loader.watch_photons(first, debounce=0.01)
        fresh.write_text(greeter("fresh", name="fresh"))
        pinned.write_text(greeter("pinned, edited,", name="pinned"))
        await wait_for(
            lambda: (
                {path for path, error in recorder.errors if isinstance(error, PhotonTrustError)}
                >= {str(fresh)}
            )
        )
        await wait_for(lambda: len(recorder.errors) >= 2)
        assert greetings(loader) == ["pinned ada"]
        write_lock(first)
        await wait_for(lambda: greetings(loader) == ["fresh ada", "pinned, edited, ada"])
        await loader.stop_watching_photons()


async def test_a_file_refused_for_its_permissions_goes_live_once_they_are_fixed(
    trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    shared = first / "shared.py"
    async with Loader(trust=TrustPolicy(), stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        await loader.watch_photons(first, debounce=0.01)
        outside = first.parent / "shared.py"
        outside.write_text(greeter("shared", name="shared"))
        outside.chmod(0o666)
        outside.rename(shared)  # arrives writable by everyone
        await wait_for(
            lambda: any(
                isinstance(error, PhotonTrustError) and error.rule == "writable"
                for _, error in recorder.errors
            )
        )
        shared.chmod(0o644)  # no save: the content was never the problem
        await wait_for(lambda: greetings(loader) == ["shared ada"])
        await loader.stop_watching_photons()


async def test_a_lock_file_in_a_missing_directory_does_not_stop_watching(
    trees: tuple[Path, Path],
    recorder: EventRecorder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    policy = TrustPolicy(lock_file=tmp_path / "missing" / "luminal.lock")
    async with Loader(trust=policy, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        with caplog.at_level(logging.WARNING, logger="luminal"):
            await loader.watch_photons(first, debounce=0.01)
        assert any("cannot watch" in record.getMessage() for record in caplog.records)
        assert [type(error) for _, error in recorder.errors] == [PhotonTrustError]
        await loader.stop_watching_photons()


async def test_a_reload_refused_for_a_name_goes_live_when_the_name_is_freed(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    (first / "a.py").write_text(greeter("from a", name="wanted"))
    (first / "c.py").write_text(greeter("from c", name="other"))
    await watching.watch_photons(first, debounce=0.01)
    (first / "c.py").write_text(greeter("from c", name="wanted"))
    await wait_for(
        lambda: any(
            isinstance(error.__cause__, PhotonNameConflictError) for _, error in recorder.errors
        )
    )
    (first / "a.py").unlink()
    await wait_for(lambda: running_from(watching, "wanted") == first / "c.py")
    assert greetings(watching) == ["from c ada"]


SLOW_TO_FINALIZE = """
import asyncio
from luminal import IPhoton

class Slow(IPhoton, name="slow"):
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def finalize(self):
        self.entered.set()
        await self.gate.wait()
"""


async def test_a_load_refused_for_a_name_goes_live_when_it_comes_with_the_names_holder_delete(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    # git rewrites files it need not change (``reset --hard`` after ``cp``): the refused file,
    # unchanged, comes in the batch that unloads the holder of its name.
    first, _ = trees
    (first / "a.py").write_text(greeter("first", name="same"))
    (first / "b.py").write_text(greeter("second", name="same"))
    (first / "slow.py").write_text(SLOW_TO_FINALIZE)
    await watching.watch_photons(first, debounce=0.01)
    assert conflicts(recorder, first / "b.py") == 1
    watch, slow = watching._watch, type(watching.photons["slow"].instance)
    assert watch is not None

    # Its reload holds the worker until the gate opens (the new version's is open).
    (first / "slow.py").write_text(SLOW_TO_FINALIZE + "Slow.gate.set()\n")
    await wait_for(slow.entered.is_set)
    (first / "a.py").unlink()
    (first / "b.py").touch()
    await wait_for(lambda: {first / "a.py", first / "b.py"} <= watch.dirty.get(first, set()))
    slow.gate.set()
    await wait_for(lambda: running_from(watching, "same") == first / "b.py")
    assert greetings(watching) == ["second ada"]


async def test_two_photons_that_swap_names_both_reload(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    # A branch switch can swap two photons' names: each new version collides with the other's
    # running one, whichever reloads first.
    first, _ = trees
    (first / "a.py").write_text(greeter("from a", name="left"))
    (first / "b.py").write_text(greeter("from b", name="right"))
    await watching.watch_photons(first, debounce=0.01)
    (first / "a.py").write_text(greeter("from a", name="right"))
    await wait_for(lambda: recorder.errors != [])
    (first / "b.py").write_text(greeter("from b", name="left"))
    await wait_for(lambda: running_from(watching, "left") == first / "b.py")
    assert running_from(watching, "right") == first / "a.py"
