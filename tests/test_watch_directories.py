"""Watching several trees with one loader, project directories inside a tree, and trust rules
for sources that appear while watching."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from luminal import (
    DirectoryNotFoundError,
    Loader,
    PhotonTrustError,
    ThreadManagerAlreadyRunningError,
    TrustPolicy,
)
from luminal.ownership import IMPORT_THREAD_NAME
from luminal.testing import EventRecorder, WritePhoton
from tests.distributions import install_editable
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


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The watcher threads started since ``before`` (an import thread whose import is done
    waits a moment for the loader's next one: it is no watcher's)."""
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before and not thread.name.startswith(("asyncio_", IMPORT_THREAD_NAME))
    ]


async def test_one_loader_watches_several_trees_in_one_plugin_manager(
    watching: Loader, trees: tuple[Path, Path]
) -> None:
    first, second = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    (second / "two.py").write_text(greeter("two", name="two"))
    await watching.watch_photons(first, more_directories=[second])
    assert greetings(watching) == ["one ada", "two ada"]

    (second / "two.py").write_text(greeter("two, changed,", name="two"))
    await wait_for(lambda: greetings(watching) == ["one ada", "two, changed, ada"])
    (first / "late.py").write_text(greeter("late", name="late"))
    await wait_for(lambda: "late ada" in greetings(watching))
    (second / "two.py").unlink()
    await wait_for(lambda: greetings(watching) == ["late ada", "one ada"])


async def test_a_second_watch_call_still_raises_and_leaves_the_watch_alone(
    watching: Loader, trees: tuple[Path, Path]
) -> None:
    first, second = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    (second / "two.py").write_text(greeter("two", name="two"))
    await watching.watch_photons(first)
    with pytest.raises(ThreadManagerAlreadyRunningError):
        await watching.watch_photons(second)
    assert greetings(watching) == ["one ada"]
    (first / "one.py").write_text(greeter("one again", name="one"))
    await wait_for(lambda: greetings(watching) == ["one again ada"])

    await watching.stop_watching_photons()
    await watching.watch_photons(second, more_directories=[first])
    assert greetings(watching) == ["one again ada", "two ada"]


async def test_stopping_stops_every_tree(watching: Loader, trees: tuple[Path, Path]) -> None:
    first, second = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    before = set(threading.enumerate())
    await watching.watch_photons(first, more_directories=[second])
    assert len(new_threads(before)) >= 2  # an observer per tree
    await watching.stop_watching_photons()
    assert new_threads(before) == []
    assert greetings(watching) == ["one ada"]


@pytest.mark.parametrize(
    "relation", ["same", "inside", "outside"], ids=["same", "nested", "enclosing"]
)
async def test_overlapping_trees_are_refused_before_anything_loads(
    watching: Loader, trees: tuple[Path, Path], relation: str
) -> None:
    first, _ = trees
    inner = first / "inner"
    inner.mkdir()
    (inner / "one.py").write_text(greeter("one", name="one"))
    others = {"same": first, "inside": inner, "outside": first.parent}
    with pytest.raises(ValueError, match="overlap"):
        await watching.watch_photons(first, more_directories=[others[relation]])
    assert watching.photons == {}
    await watching.watch_photons(first)
    assert greetings(watching) == ["one ada"]


async def test_bad_extra_directories_raise_the_documented_errors(
    watching: Loader, trees: tuple[Path, Path]
) -> None:
    first, second = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    with pytest.raises(TypeError, match="collection"):
        await watching.watch_photons(first, more_directories=str(second))
    with pytest.raises(TypeError):
        await watching.watch_photons(first, more_directories=[42])  # type: ignore[list-item]
    with pytest.raises(DirectoryNotFoundError):
        await watching.watch_photons(first, more_directories=[second / "missing"])
    assert watching.photons == {}
    await watching.watch_photons(first, more_directories=(second,))
    assert greetings(watching) == ["one ada"]


async def test_editing_a_project_directory_inside_the_tree_loads_nothing(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, _ = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    project = first / "hello_dist"
    package = project / "src" / "hello"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'hello'\n")
    (package / "__init__.py").write_text(greeter("installed", name="hello"))
    await watching.watch_photons(first)
    assert greetings(watching) == ["one ada"]

    (package / "__init__.py").write_text(greeter("edited", name="hello"))
    (first / "one.py").write_text(greeter("one, changed,", name="one"))
    # Changes are applied in one ordered worker: once one.py's reload is seen, the package's
    # event (written first) has been handled too.
    await wait_for(lambda: greetings(watching) == ["one, changed, ada"])
    assert "hello" not in watching.photons
    assert recorder.errors == []


async def test_an_installed_project_inside_the_tree_is_not_the_tree_watch_s_to_reload(
    watching: Loader,
    trees: tuple[Path, Path],
    recorder: EventRecorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # plugins_example/hello_dist installed with pip install -e: its photons are the
    # entry points', which this host loads without watching installed photons.
    first, _ = trees
    (first / "one.py").write_text(greeter("one", name="one"))
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    project = first / "hello_dist"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'tree-hello'\n")
    files = {"tree_hello/__init__.py": greeter("installed", name="hello")}
    install_editable(site_dir, project / "src", "tree-hello", {"hello": "tree_hello"}, files)
    for handler in await watching.load_entry_points():
        await handler.start()
    await watching.watch_photons(first)
    assert greetings(watching) == ["installed ada", "one ada"]

    (project / "src" / "tree_hello" / "__init__.py").write_text(greeter("edited", name="hello"))
    (first / "one.py").write_text(greeter("one, changed,", name="one"))
    # One ordered worker: once one.py's reload is seen, the package's event was handled.
    await wait_for(lambda: "one, changed, ada" in greetings(watching))
    assert greetings(watching) == ["installed ada", "one, changed, ada"]
    assert recorder.errors == []


async def test_a_symlink_out_of_the_tree_that_appears_while_watching_is_refused(
    trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, second = trees
    (second / "outside.py").write_text(greeter("outside", name="outside"))
    async with Loader(trust=TrustPolicy(), stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        await loader.watch_photons(first)
        (first / "link.py").symlink_to(second / "outside.py")
        await wait_for(lambda: recorder.errors)
        [(_, error)] = recorder.errors
        assert isinstance(error, PhotonTrustError)
        assert error.rule == "symlink"
        assert loader.photons == {}


def running_from(loader: Loader) -> list[tuple[Path, bool]]:
    """Where each photon was loaded from, and whether it runs."""
    return [(Path(handler.filepath), handler.started) for handler in loader.photons.values()]


async def test_a_namespace_directory_that_gains_an_init_is_its_package_at_once(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    """A namespace directory's modules are photon files of their own; given an ``__init__.py``
    they are the package's modules and the package is the source, as a restart loads it;
    deleting the ``__init__.py`` turns it back."""
    module = write_photon("ns/mod.py", greeter("hello", name="nsmod"))
    await watching.watch_photons(photon_dir)
    assert running_from(watching) == [(module, True)]
    (module.parent / "__init__.py").write_text("")
    await wait_for(lambda: running_from(watching) == [(module.parent, True)])
    (module.parent / "__init__.py").unlink()
    await wait_for(lambda: running_from(watching) == [(module, True)])
    assert greetings(watching) == ["hello ada"]


async def test_a_package_that_loses_its_init_is_a_namespace_directory_at_once(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    init = write_photon("deep/ns/__init__.py", "")
    module = write_photon("deep/ns/mod.py", greeter("hello", name="nsmod"))
    await watching.watch_photons(photon_dir)
    assert running_from(watching) == [(init.parent, True)]
    init.unlink()
    await wait_for(lambda: running_from(watching) == [(module, True)])
    assert greetings(watching) == ["hello ada"]
