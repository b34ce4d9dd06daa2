"""Watching installed photons: real wheels installed, upgraded, downgraded and uninstalled by
pip into a venv while a loader watches; an editable install's source saved."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import shutil
import sys
import threading
import types
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from luminal import EntryPointPolicy, InstalledUpdateError, Loader
from luminal.discovery import DEFAULT_GROUP
from luminal.managers import installed_watch
from luminal.testing import EventRecorder
from tests.distributions import install_distribution, install_editable
from tests.watch_support import DEADLINE, HostSpecs, greetings, wait_for
from tests.wheels import Environment, build_wheel, photon_module

ACME = "acme-photons"
OTHER = "from luminal import IPhoton\nclass Other(IPhoton, name='other'): pass\n"


def acme_files(version: str, **extra: str | bytes) -> dict[str, str | bytes]:
    return {
        "acme_util.py": f"VERSION = {version!r}\n",
        "acme_photons/__init__.py": photon_module("acme", version),
        **extra,
    }


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Versions of acme-photons: 2.0 drops the ``old`` photon and adds ``more``; 3.0 fails to
    import; 4.0 and 5.0 carry different compiled extension modules."""
    where = tmp_path_factory.mktemp("wheels")
    old = {"acme_old/__init__.py": photon_module("old", "1.0", word="old")}
    more = {"acme_more/__init__.py": photon_module("more", "2.0", word="more")}
    main = {"acme": "acme_photons:Photon"}
    one, two = {**main, "old": "acme_old"}, {**main, "more": "acme_more"}
    return {
        "1.0": build_wheel(where, ACME, "1.0", one, acme_files("1.0", **old)),
        "2.0": build_wheel(where, ACME, "2.0", two, acme_files("2.0", **more)),
        "3.0": build_wheel(
            where, ACME, "3.0", main, {**acme_files("3.0"), "acme_photons/__init__.py": "1/0\n"}
        ),
        "4.0": build_wheel(where, ACME, "4.0", main, acme_files("4.0", **_extension(b"four"))),
        "5.0": build_wheel(where, ACME, "5.0", main, acme_files("5.0", **_extension(b"five"))),
        "other": build_wheel(where, "other-photons", "1.0", {"other": "other_photon"}, {
            "other_photon.py": OTHER,
        }),
    }  # fmt: skip


def install_by_hand(
    site: Path, wheel: Path, entry_points: str | None = None, replacing: str = ""
) -> None:
    """Install ``wheel`` into ``site`` as an installer that does not parse its
    ``entry_points.txt`` would, that file being ``entry_points`` if given (pip 26 installs an
    unparsable one; older pips refuse it, and to upgrade over it, so pip cannot be the one
    here), over the ``replacing`` metadata directory, moved aside meanwhile as pip does. Its
    ``RECORD`` naming its ``INSTALLER`` comes last."""
    stash = site / f"~{replacing[1:]}"
    if replacing:
        (site / replacing).rename(stash)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        [record] = [name for name in archive.namelist() if name.endswith(".dist-info/RECORD")]
    metadata = site / Path(record).parent
    rows = (metadata / "RECORD").read_text().splitlines()
    if entry_points is not None:
        (metadata / "entry_points.txt").write_text(entry_points)
        name = f"{metadata.name}/entry_points.txt"
        digest = base64.urlsafe_b64encode(hashlib.sha256(entry_points.encode()).digest())
        rows = [row for row in rows if not row.startswith(f"{name},")]
        rows.append(f"{name},sha256={digest.rstrip(b'=').decode()},{len(entry_points)}")
    (metadata / "INSTALLER").write_text("by-hand\n")
    (metadata / "RECORD").write_text("\n".join([*rows, f"{metadata.name}/INSTALLER,,", ""]))
    if replacing:
        shutil.rmtree(stash)


def _extension(content: bytes) -> dict[str, str | bytes]:
    return {f"acme_photons/_speedups{_extension_suffix()}": content}


def _extension_suffix() -> str:
    import importlib.machinery

    return importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    """A fresh venv whose site-packages is on this process's ``sys.path`` (restored after)."""
    environment = Environment(tmp_path / "venv")
    monkeypatch.setattr(sys, "path", [str(environment.site_packages), *sys.path])
    yield environment
    for name in [name for name in sys.modules if name.split(".")[0].startswith(("acme", "other"))]:
        del sys.modules[name]


@pytest.fixture
async def host(recorder: EventRecorder) -> AsyncIterator[Loader]:
    async with Loader(logging=True, finalize_timeout=5.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        yield loader


def versions(loader: Loader) -> dict[str, str]:
    return {
        name: handler.origin.version
        for name, handler in loader.photons.items()
        if handler.origin is not None and handler.started
    }


async def test_upgrade_downgrade_uninstall_and_reinstall_apply_live(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    assert versions(host) == {"acme": "1.0", "old": "1.0"}
    assert greetings(host) == ["acme 1.0 ada", "old 1.0 ada"]
    old_util = sys.modules["acme_util"]
    old_module = sys.modules[host.photons["acme"].module_name]

    venv.install(wheels["2.0"])
    await wait_for(lambda: versions(host) == {"acme": "2.0", "more": "2.0"})
    assert greetings(host) == ["acme 2.0 ada", "more 2.0 ada"]
    assert all(module is not old_util for module in sys.modules.values())
    assert all(module is not old_module for module in sys.modules.values())
    assert sys.modules["acme_util"].VERSION == "2.0"
    [(before, after)] = recorder.reloaded
    assert (before.origin and before.origin.version, after.origin and after.origin.version) == (
        "1.0",
        "2.0",
    )
    assert [handler.name for handler in recorder.unloaded] == ["old"]

    venv.uninstall(ACME)
    await wait_for(lambda: not host.photons)
    assert "acme_util" not in sys.modules or sys.modules["acme_util"] is not old_util

    venv.install(wheels["2.0"])
    await wait_for(lambda: versions(host) == {"acme": "2.0", "more": "2.0"})
    assert recorder.errors == []


async def test_new_distribution_loads_and_policy_applies_to_it(
    host: Loader, venv: Environment, wheels: dict[str, Path]
) -> None:
    policy = EntryPointPolicy(block_names=["old"])
    await host.watch_photons(None, entry_points=True, entry_point_policy=policy)
    assert host.photons == {}

    venv.install(wheels["other"])
    await wait_for(lambda: versions(host) == {"other": "1.0"})
    venv.install(wheels["1.0"])
    await wait_for(lambda: versions(host) == {"other": "1.0", "acme": "1.0"})


async def test_a_version_that_fails_to_import_leaves_the_old_running(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    venv.install(wheels["2.0"])
    await host.watch_photons(None, entry_points=True)

    venv.install(wheels["3.0"])
    await wait_for(lambda: any(isinstance(e, InstalledUpdateError) for _, e in recorder.errors))
    refused = [e for _, e in recorder.errors if isinstance(e, InstalledUpdateError)]
    assert (refused[0].distribution, refused[0].old_version, refused[0].new_version) == (
        ACME,
        "2.0",
        "3.0",
    )
    assert "2.0 -> 3.0" in str(refused[0])
    assert "failed to load" in str(refused[0])
    assert versions(host) == {"acme": "2.0", "more": "2.0"}
    assert greetings(host) == ["acme 2.0 ada", "more 2.0 ada"]

    venv.install(wheels["2.0"])  # fixed: applies again
    await wait_for(lambda: len(recorder.reloaded) == 2)
    assert versions(host) == {"acme": "2.0", "more": "2.0"}


def waiting_for_installer(caplog: pytest.LogCaptureFixture, count: int) -> bool:
    return sum("still at work on" in r.getMessage() for r in caplog.records) >= count


@pytest.mark.parametrize("stashed", ["metadata", "site-packages"])
async def test_an_upgrade_applies_once_pip_has_finished_never_half_way(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
    stashed: str,
) -> None:
    """pip's steps, one at a time: it moves the old metadata aside (``~…``; the whole
    directory when all its files are the distribution's), extracts the new wheel (whose own
    ``RECORD`` comes with it), compiles, then writes ``INSTALLER`` and its final ``RECORD``
    and deletes what it moved aside. Neither the gap nor the wheel's ``RECORD`` is a state to
    apply: one reload, no unload, once pip is done."""
    caplog.set_level(logging.DEBUG, logger="luminal.managers.installed_watch")
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    site = venv.site_packages
    old = site / "acme_photons-1.0.dist-info" if stashed == "metadata" else site
    stash = old.with_name(f"~{old.name[1:]}")
    old.rename(stash)
    await wait_for(lambda: waiting_for_installer(caplog, 2) or recorder.unloaded)
    assert recorder.unloaded == []
    assert versions(host) == {"acme": "1.0", "old": "1.0"}

    with zipfile.ZipFile(wheels["2.0"]) as wheel:
        wheel.extractall(site)
    new = site / "acme_photons-2.0.dist-info"
    count = sum("still at work on" in r.getMessage() for r in caplog.records)
    await wait_for(lambda: waiting_for_installer(caplog, count + 2) or recorder.reloaded)
    assert recorder.reloaded == []
    assert versions(host) == {"acme": "1.0", "old": "1.0"}

    (new / "INSTALLER").write_text("pip\n")
    record = (new / "RECORD").read_text() + f"{new.name}/INSTALLER,,\n"
    (new / "RECORD").write_text(record)
    shutil.rmtree(stash)
    await wait_for(lambda: versions(host) == {"acme": "2.0", "more": "2.0"})
    assert len(recorder.reloaded) == 1
    assert [handler.name for handler in recorder.unloaded] == ["old"]
    assert recorder.errors == []


async def test_an_upgrade_whose_entry_points_cannot_be_read_leaves_the_old_running(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    """The new version opens the group's section but no entry point of it can be read (pip 26
    installs it: only console scripts are its concern): that is a broken version, not one
    without photons, so the running ones stay."""
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    install_by_hand(
        venv.site_packages,
        wheels["2.0"],
        "[luminal.photons\nacme = acme_photons:Photon\n",
        replacing="acme_photons-1.0.dist-info",
    )
    await wait_for(lambda: recorder.errors or recorder.unloaded)
    assert recorder.unloaded == []
    [(_, error)] = recorder.errors
    assert isinstance(error, InstalledUpdateError)
    assert "1.0 -> 2.0" in str(error)
    assert "entry_points.txt" in str(error)
    assert versions(host) == {"acme": "1.0", "old": "1.0"}

    install_by_hand(venv.site_packages, wheels["2.0"], replacing="acme_photons-2.0.dist-info")
    await wait_for(lambda: versions(host) == {"acme": "2.0", "more": "2.0"})


async def test_a_new_distribution_whose_entry_points_cannot_be_read_is_reported(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    await host.watch_photons(None, entry_points=True)
    install_by_hand(venv.site_packages, wheels["other"], "[luminal.photons\nother = other_photon\n")
    await wait_for(lambda: recorder.errors)
    [(_, error)] = recorder.errors
    assert isinstance(error, InstalledUpdateError)
    assert "entry_points.txt" in str(error)
    assert host.photons == {}


async def test_a_new_distribution_none_of_whose_photons_loads_is_not_said_to_be_live(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="luminal")
    await host.watch_photons(None, entry_points=True)
    venv.install(wheels["3.0"])  # its one photon fails to import
    await wait_for(lambda: any("3.0 was installed" in r.getMessage() for r in caplog.records))
    [installed] = [r.getMessage() for r in caplog.records if "3.0 was installed" in r.getMessage()]
    assert installed == "acme-photons 3.0 was installed: none of its photons loaded"
    assert len(recorder.errors) == 1
    assert host.photons == {}


async def test_a_changed_extension_module_is_refused_and_reported(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    venv.install(wheels["4.0"])
    await host.watch_photons(None, entry_points=True)
    assert versions(host) == {"acme": "4.0"}

    venv.install(wheels["5.0"])
    await wait_for(lambda: recorder.errors)
    [(_, error)] = recorder.errors
    assert isinstance(error, InstalledUpdateError)
    assert "4.0 -> 5.0" in str(error)
    assert "_speedups" in str(error)
    assert versions(host) == {"acme": "4.0"}
    assert recorder.reloaded == []


def install_edit_photon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install ``edit-photon`` editable, its package and a helper in a ``src`` directory of a
    project outside the watched tree, into a ``site-packages`` on ``sys.path``; return ``src``."""
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    src = tmp_path / "project" / "src"
    files = {
        "edit_photon/__init__.py": photon_module("edit", "1.0", word="edit"),
        "acme_util.py": "VERSION = '1.0'\n",
    }
    install_editable(site_dir, src, "edit-photon", {"edit": "edit_photon:Photon"}, files)
    return src


async def test_editable_source_outside_the_watched_tree_goes_live(
    host: Loader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    photon_dir: Path,
    recorder: EventRecorder,
) -> None:
    src = install_edit_photon(tmp_path, monkeypatch)
    await host.watch_photons(photon_dir, entry_points=True)
    assert greetings(host) == ["edit 1.0 ada"]

    module = src / "edit_photon" / "__init__.py"
    module.write_text(module.read_text().replace('f"edit', 'f"saved'))
    await wait_for(lambda: greetings(host) == ["saved 1.0 ada"])
    assert len(recorder.reloaded) == 1
    for name in [name for name in sys.modules if name.startswith(("edit_photon", "acme_util"))]:
        del sys.modules[name]


async def test_an_editable_source_directory_deleted_and_restored_is_followed_again(
    host: Loader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorder: EventRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``rm -rf src && git checkout src``: the directory the editable install's source lives
    in is re-created, and the next save of it still goes live. The checkout rewrote the
    helper ``acme_util.py`` as it was: that reloads nothing."""
    src = install_edit_photon(tmp_path, monkeypatch)
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["edit 1.0 ada"]

    caplog.set_level(logging.WARNING, logger="luminal.watcher")
    shutil.copytree(src, tmp_path / "checked-in")
    shutil.rmtree(src)
    await wait_for(lambda: "was deleted or renamed" in caplog.text)
    assert greetings(host) == ["edit 1.0 ada"]  # still installed: it keeps running
    shutil.copytree(tmp_path / "checked-in", src)
    await wait_for(lambda: "is back" in caplog.text)
    module = src / "edit_photon" / "__init__.py"
    module.write_text(module.read_text().replace('f"edit', 'f"saved'))
    await wait_for(lambda: greetings(host) == ["saved 1.0 ada"])
    assert len(recorder.reloaded) == 1
    for name in [name for name in sys.modules if name.startswith(("edit_photon", "acme_util"))]:
        del sys.modules[name]


async def test_an_editable_source_beside_its_egg_info_goes_live(
    host: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: EventRecorder
) -> None:
    # setuptools' editable install of a src/ layout: src/ is on sys.path with the project's
    # *.egg-info in it, so holding metadata does not make a directory an installed one.
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    src = tmp_path / "project" / "src"
    files = {
        "egg_photon/__init__.py": photon_module("egg", "1.0", word="egg"),
        "acme_util.py": "VERSION = '1.0'\n",
    }
    install_editable(
        site_dir, src, "egg-photon", {"egg": "egg_photon:Photon"}, files, egg_info=True
    )
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["egg 1.0 ada"]

    module = src / "egg_photon" / "__init__.py"
    module.write_text(module.read_text().replace('f"egg', 'f"saved'))
    await wait_for(lambda: greetings(host) == ["saved 1.0 ada"])
    assert len(recorder.reloaded) == 1
    for name in [name for name in sys.modules if name.startswith(("egg_photon", "acme_util"))]:
        del sys.modules[name]


class GatedObservers:
    """An observer factory whose observer of ``gated`` waits in ``schedule`` until ``gate`` is
    set; it keeps every observer it made and those stopped."""

    def __init__(self, gated: Path) -> None:
        self.entered, self.gate = threading.Event(), threading.Event()
        self.made: list[BaseObserver] = []
        self.stopped: list[BaseObserver] = []
        factory = self

        class Gated(Observer):  # type: ignore[misc,valid-type]
            def schedule(self, handler: Any, path: str, **kwargs: Any) -> Any:
                if Path(path) == gated:
                    factory.entered.set()
                    factory.gate.wait(DEADLINE)
                return super().schedule(handler, path, **kwargs)

            def stop(self) -> None:
                factory.stopped.append(self)
                super().stop()

        self._observer_class = Gated

    def __call__(self) -> BaseObserver:
        observer: BaseObserver = self._observer_class()
        self.made.append(observer)
        return observer


async def test_stopping_while_an_editable_source_starts_being_watched_leaves_no_observer(
    host: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch is stopped while its worker starts watching a newly installed editable
    source: what that step starts meanwhile is stopped too."""
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    src = tmp_path / "project" / "src"
    observers = GatedObservers(src)
    await host.watch_photons(None, entry_points=True, observer_factory=observers)
    environment = list(observers.made)
    files = {"gate_photon/__init__.py": photon_module("gate", "1.0", word="gate").replace(
        "import acme_util", "acme_util = None"
    )}  # fmt: skip
    install_editable(site_dir, src, "gate-photon", {"gate": "gate_photon:Photon"}, files)
    await wait_for(observers.entered.is_set)

    stopping = asyncio.create_task(host.stop_watching_photons())
    await wait_for(lambda: all(observer in observers.stopped for observer in environment))
    observers.gate.set()
    await stopping
    assert [observer for observer in observers.made if observer.is_alive()] == []
    for name in [name for name in sys.modules if name.startswith("gate_photon")]:
        del sys.modules[name]


async def test_a_distribution_installed_without_a_record_goes_live_once_all_is_quiet(
    host: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: EventRecorder
) -> None:
    """Debian's packages (``apt install python3-...``) leave no ``RECORD``, as a restart's
    load accepts: it is applied once the installer is given up on, as a hand-unzipped wheel."""
    monkeypatch.setattr(installed_watch, "RECORD_PATIENCE", 4)
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    await host.watch_photons(None, entry_points=True)
    staging = tmp_path / "staging"
    files = {"deb_photon.py": photon_module("deb", "1.0", word="deb")}
    dist_info = install_distribution(staging, "deb-photon", {"deb": "deb_photon:Photon"}, files)
    (dist_info / "RECORD").unlink()
    (staging / "acme_util.py").write_text("VERSION = '1.0'\n")
    for name in ["acme_util.py", "deb_photon.py", dist_info.name]:  # the metadata comes last
        (staging / name).rename(site_dir / name)

    await wait_for(lambda: greetings(host) == ["deb 1.0 ada"])
    assert recorder.errors == []
    for name in [name for name in sys.modules if name.startswith(("deb_photon", "acme_util"))]:
        del sys.modules[name]


async def test_a_stop_given_up_on_abandons_an_upgrade_whose_import_never_returns(
    host: Loader, venv: Environment, wheels: dict[str, Path], tmp_path: Path
) -> None:
    """The second Ctrl-C of ``luminal run`` while an upgrade's import hangs: the stop returns
    (it hung for good before), and the old version, its modules in ``sys.modules``, runs."""
    gate: Any = types.ModuleType("luminal_test_install_gate")
    gate.importing, gate.resume = threading.Event(), threading.Event()
    sys.modules[gate.__name__] = gate
    hang = "import luminal_test_install_gate as gate\ngate.importing.set()\ngate.resume.wait(60)\n"
    files = acme_files("2.0", **{"acme_photons/__init__.py": hang + photon_module("acme", "2.0")})
    hanging = build_wheel(tmp_path / "hanging", ACME, "2.0", {"acme": "acme_photons:Photon"}, files)
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    try:
        venv.install(hanging)
        await wait_for(gate.importing.is_set)
        stopping = asyncio.ensure_future(asyncio.wait_for(host.stop_watching_photons(), 0.5))
        await wait_for(stopping.done)
        with pytest.raises(asyncio.TimeoutError):
            stopping.result()
        assert versions(host) == {"acme": "1.0", "old": "1.0"}
        assert greetings(host) == ["acme 1.0 ada", "old 1.0 ada"]
        assert sys.modules["acme_util"].VERSION == "1.0"
    finally:
        gate.resume.set()
        del sys.modules[gate.__name__]


async def test_an_upgrade_beside_a_leftover_metadata_directory_is_applied(
    host: Loader, venv: Environment, wheels: dict[str, Path], tmp_path: Path
) -> None:
    """A ``*.dist-info`` of an older version left beside the installed one (a pip killed or
    run by hand): ``pip install -U`` still goes live, with the version a restart would load
    (either copy of the metadata may win: they declare the same entry points)."""
    venv.install(wheels["2.0"])
    leftover = venv.site_packages / "acme_photons-1.5.dist-info"
    shutil.copytree(venv.site_packages / "acme_photons-2.0.dist-info", leftover)
    for name, old, new in [
        ("METADATA", "Version: 2.0", "Version: 1.5"),
        ("RECORD", "-2.0.", "-1.5."),
    ]:
        (leftover / name).write_text((leftover / name).read_text().replace(old, new))
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["acme 2.0 ada", "more 2.0 ada"]

    more = {"acme_more/__init__.py": photon_module("more", "2.5", word="more")}
    entry_points = {"acme": "acme_photons:Photon", "more": "acme_more"}
    venv.install(build_wheel(tmp_path, ACME, "2.5", entry_points, acme_files("2.5", **more)))
    await wait_for(lambda: greetings(host) == ["acme 2.5 ada", "more 2.5 ada"])
    [winner] = importlib_metadata.entry_points(group=DEFAULT_GROUP, name="acme")
    assert versions(host) == {"acme": winner.dist.version, "more": winner.dist.version}


async def test_watch_photons_needs_a_directory_or_entry_points(host: Loader) -> None:
    with pytest.raises(TypeError, match="entry_points=True"):
        await host.watch_photons(None)
    with pytest.raises(TypeError, match="entry_points must be a bool"):
        await host.watch_photons(None, entry_points="yes")  # type: ignore[arg-type]


def inotify_watch_count() -> int:
    """How many inotify watches this process holds (``/proc/self/fdinfo``)."""
    count = 0
    for info in Path("/proc/self/fdinfo").iterdir():
        with contextlib.suppress(OSError):
            count += info.read_text().count("inotify wd:")
    return count


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="Linux's inotify only")
async def test_the_environment_is_watched_by_its_own_entries_not_recursively(
    host: Loader, venv: Environment
) -> None:
    for index in range(200):  # an installed package's directory tree
        (venv.site_packages / "bigpackage" / f"sub{index}").mkdir(parents=True)
    before = inotify_watch_count()
    await host.watch_photons(None, entry_points=True)
    assert inotify_watch_count() - before < 100  # a watch per sys.path directory, not per folder


async def test_a_direct_url_json_nested_past_the_parser_is_no_editable_install(
    host: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.loads raised RecursionError out of the watch's scan: watch_photons (luminal run) failed.
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), *sys.path])
    files = {
        "nest_photon/__init__.py": photon_module("nest", "1.0", word="nest"),
        "acme_util.py": "VERSION = '1.0'\n",
    }
    src = tmp_path / "project" / "src"
    entry_points = {"nest": "nest_photon:Photon"}
    dist_info = install_editable(site_dir, src, "nest-photon", entry_points, files)
    (dist_info / "direct_url.json").write_text("[" * 100_000 + "]" * 100_000)
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["nest 1.0 ada"]
    for name in [name for name in sys.modules if name.startswith(("nest_photon", "acme_util"))]:
        del sys.modules[name]
