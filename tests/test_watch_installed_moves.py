"""Watching installed photons across upgrades that move them: a photon whose module is renamed
or becomes a package, a source that two distributions name, a photon name that two
distributions provide, a switch between an editable and a regular install."""

from __future__ import annotations

import contextlib
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from luminal import InstalledUpdateError, Loader
from luminal.testing import EventRecorder
from tests.distributions import install_editable
from tests.watch_support import HostSpecs, greetings, wait_for
from tests.wheels import Environment, build_wheel

ACME = "acme-photons"
BROKEN = "raise ImportError('broken 2.0')\n"


def counting(name: str, word: str, cls: str = "Photon") -> str:
    """A photon counting its greetings, the count handed over as its state."""
    return textwrap.dedent(
        f"""
        from luminal import IPhoton, hookimpl

        class {cls}(IPhoton, name={name!r}):
            def __init__(self):
                self.count = 0

            @hookimpl
            def photon_export_state(self):
                return {{"count": self.count}}

            @hookimpl
            def photon_import_state(self, state):
                self.count = state["count"]

            @hookimpl
            def greet(self, who):
                self.count += 1
                return f"{word} {{who}} {{self.count}}"

            async def finalize(self):
                pass
        """
    )


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("wheels")
    one, two = {"acme": "acme_one:Photon"}, {"acme": "acme_two:Photon"}
    shared = {"acme/__init__.py": counting("a", "a", "A") + counting("extra", "extra", "Extra")}
    extra = {"extra": "acme:Extra"}
    projects: dict[str, tuple[str, str, Mapping[str, str], Mapping[str, str]]] = {
        "1.0": (ACME, "1.0", one, {"acme_one.py": counting("acme", "v1")}),
        "2.0": (ACME, "2.0", two, {"acme_two.py": counting("acme", "v2")}),
        "2.0-broken": (ACME, "2.0", two, {"acme_two.py": BROKEN}),
        "2.0-package": (ACME, "2.0", one, {"acme_one/__init__.py": counting("acme", "v2")}),
        "2.0-broken-package": (ACME, "2.0", one, {"acme_one/__init__.py": BROKEN}),
        "2.0-broken-start": (ACME, "2.0", two, {"acme_two.py": counting("acme", "v2").replace(
            "self.count = 0", "raise RuntimeError('broken 2.0')"
        )}),
        "shared": (ACME, "1.0", {"a": "acme:A"}, shared),
        "extra-1.0": ("extra-pack", "1.0", extra, {"extra_pack.py": "\n"}),
        "extra-1.1": ("extra-pack", "1.1", extra, {"extra_pack.py": "#\n"}),
        "aaa-dup": ("aaa-dup", "1.0", {"dup": "aaa_dup:Photon"}, {
            "aaa_dup.py": counting("dup", "aaa"),
        }),
        "bbb-dup": ("bbb-dup", "1.0", {"dup": "bbb_dup:Photon"}, {
            "bbb_dup.py": counting("dup", "bbb"),
        }),
        "ed-regular": ("ed-photon", "1.0", {"ed": "ed_photon:Photon"}, {
            "ed_photon/__init__.py": counting("ed", "regular"),
        }),
    }  # fmt: skip
    return {key: build_wheel(where / key, *project) for key, project in projects.items()}


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    """A fresh venv whose site-packages is on this process's ``sys.path`` (restored after)."""
    environment = Environment(tmp_path / "venv")
    monkeypatch.setattr(sys, "path", [str(environment.site_packages), *sys.path])
    yield environment
    prefixes = ("acme", "extra_pack", "aaa_dup", "bbb_dup", "ed_photon")
    for name in [name for name in sys.modules if name.split(".")[0].startswith(prefixes)]:
        del sys.modules[name]


@pytest.fixture
async def host(recorder: EventRecorder) -> AsyncIterator[Loader]:
    async with Loader(logging=True, finalize_timeout=5.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        yield loader


def origins(loader: Loader) -> dict[str, tuple[str, str]]:
    return {
        name: (handler.origin.distribution, handler.origin.version)
        for name, handler in loader.photons.items()
        if handler.origin is not None and handler.started
    }


@pytest.mark.parametrize("version", ["2.0", "2.0-package"])
async def test_an_upgrade_that_moves_a_photon_reloads_it_with_its_state(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    recorder: EventRecorder,
    version: str,
) -> None:
    """A module renamed, or a module turned into a package: a reload, not an unload and a
    load."""
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["v1 ada 1"]

    venv.install(wheels[version])
    await wait_for(lambda: origins(host).get("acme") == (ACME, "2.0"))
    assert greetings(host) == ["v2 ada 2"]
    [(before, after)] = recorder.reloaded
    assert before.filepath != after.filepath
    assert recorder.unloaded == []
    assert recorder.errors == []


@pytest.mark.parametrize("version", ["2.0-broken", "2.0-broken-package", "2.0-broken-start"])
async def test_a_moved_photon_that_fails_to_import_leaves_the_old_running(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    recorder: EventRecorder,
    version: str,
) -> None:
    venv.install(wheels["1.0"])
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["v1 ada 1"]

    venv.install(wheels[version])
    await wait_for(lambda: recorder.errors)
    [(_, error)] = recorder.errors
    assert isinstance(error, InstalledUpdateError)
    assert (error.distribution, error.old_version) == (ACME, "1.0")
    assert "failed to load" in str(error)
    assert "broken 2.0" in str(error)
    assert origins(host) == {"acme": (ACME, "1.0")}
    assert greetings(host) == ["v1 ada 2"]
    assert recorder.unloaded == []


async def test_a_source_two_distributions_name_keeps_the_photons_of_both(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    """``acme-photons`` declares ``a = acme:A``, ``extra-pack`` ``extra = acme:Extra``:
    upgrading ``extra-pack`` keeps ``a``, and uninstalling it unloads ``extra`` only."""
    venv.install(wheels["shared"])
    venv.install(wheels["extra-1.0"])
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["a ada 1", "extra ada 1"]

    venv.install(wheels["extra-1.1"])
    await wait_for(lambda: origins(host).get("extra") == ("extra-pack", "1.1"))
    assert origins(host) == {"a": (ACME, "1.0"), "extra": ("extra-pack", "1.1")}
    assert greetings(host) == ["a ada 2", "extra ada 2"]

    venv.uninstall("extra-pack")
    await wait_for(lambda: "extra" not in host.photons)
    assert origins(host) == {"a": (ACME, "1.0")}
    assert greetings(host) == ["a ada 3"]
    assert [handler.name for handler in recorder.unloaded] == ["extra"]
    assert recorder.errors == []


async def test_a_source_another_distribution_loaded_takes_a_new_one_s_photons(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    venv.install(wheels["shared"])
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["a ada 1"]

    venv.install(wheels["extra-1.0"])
    await wait_for(lambda: "extra" in origins(host))
    assert greetings(host) == ["a ada 2", "extra ada 1"]
    assert recorder.errors == []


async def test_a_photon_name_refused_loads_once_its_holder_is_uninstalled(
    host: Loader, venv: Environment, wheels: dict[str, Path], recorder: EventRecorder
) -> None:
    venv.install(wheels["aaa-dup"])
    venv.install(wheels["bbb-dup"])
    await host.watch_photons(None, entry_points=True)
    assert origins(host) == {"dup": ("aaa-dup", "1.0")}
    assert len(recorder.errors) == 1  # bbb-dup's dup: the name is taken

    venv.uninstall("aaa-dup")
    await wait_for(lambda: origins(host) == {"dup": ("bbb-dup", "1.0")})
    assert greetings(host) == ["bbb ada 1"]


async def test_switching_an_editable_install_to_a_regular_one_keeps_the_state(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorder: EventRecorder,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # install_editable adds the source
    source = tmp_path / "project" / "src"
    files = {"ed_photon/__init__.py": counting("ed", "editable")}
    install_editable(venv.site_packages, source, "ed-photon", {"ed": "ed_photon:Photon"}, files)
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["editable ada 1"]

    venv.install(wheels["ed-regular"])
    await wait_for(lambda: "site-packages" in host.photons["ed"].filepath)
    assert greetings(host) == ["regular ada 2"]
    [(before, after)] = recorder.reloaded
    assert Path(before.filepath).is_relative_to(source)
    assert Path(after.filepath).is_relative_to(venv.site_packages)
    assert recorder.errors == []


def build_editable_ed(where: Path, word: str) -> tuple[Path, Path]:
    """What ``pip install -e`` of ed-photon installs (a ``.pth`` naming its project), and the
    project's photon module."""
    files = {"ed_photon/__init__.py": counting("ed", word)}
    wheel = build_wheel(where, "ed-photon", "1.0", {"ed": "ed_photon:Photon"}, files, editable=True)
    return wheel, where / "ed-photon-1.0" / "ed_photon" / "__init__.py"


async def test_switching_a_regular_install_to_an_editable_one_keeps_the_state(
    host: Loader,
    venv: Environment,
    wheels: dict[str, Path],
    tmp_path: Path,
    recorder: EventRecorder,
) -> None:
    """``pip install -e .`` over the regular install while the host runs: the ``.pth`` file
    it adds names a directory the running interpreter never put on ``sys.path``."""
    editable, module = build_editable_ed(tmp_path / "project", "editable")
    venv.install(wheels["ed-regular"])
    await host.watch_photons(None, entry_points=True)
    assert greetings(host) == ["regular ada 1"]

    venv.install(editable)
    await wait_for(lambda: recorder.reloaded or recorder.errors)
    assert recorder.errors == []
    assert Path(host.photons["ed"].filepath) == module.parent
    assert greetings(host) == ["editable ada 2"]


async def test_an_editable_install_made_while_watching_goes_live_and_its_saves_reload(
    host: Loader, venv: Environment, tmp_path: Path, recorder: EventRecorder
) -> None:
    editable, module = build_editable_ed(tmp_path / "project", "editable")
    await host.watch_photons(None, entry_points=True)

    venv.install(editable)
    await wait_for(lambda: recorder.loaded or recorder.errors)
    assert recorder.errors == []
    assert greetings(host) == ["editable ada 1"]
    saved = module.read_text().replace("editable", "saved")
    for _ in range(20):  # its project is followed once the step that loaded it ends
        module.write_text(saved)
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: recorder.reloaded, timeout=0.5)
            break
    assert greetings(host) == ["saved ada 2"]
