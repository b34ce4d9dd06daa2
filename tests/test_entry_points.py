"""Photons from installed distributions: discovery, selection, isolation, reload, unload."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import site
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest

from luminal import (
    EntryPointGroupLoadError,
    EntryPointLoadError,
    EntryPointPolicy,
    Handler,
    Loader,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonOrigin,
    PhotonReloadError,
    PhotonTrustError,
    find_photon_entry_points,
    hookspec,
)
from luminal.discovery import DEFAULT_GROUP
from luminal.distributions import group_entry_points
from luminal.testing import EventRecorder, WritePhoton
from luminal.trust import TrustPolicy, write_lock
from tests.distributions import install_distribution, install_editable, loaded_files
from tests.isolation import child_env

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE_DISTRIBUTION = REPOSITORY / "plugins_example" / "hello_dist"


HELLO_PACKAGE = {
    "hello_photon/__init__.py": """
        from luminal import IPhoton, hookimpl

        from ._words import WORD

        class Hello(IPhoton, name="hello"):
            @hookimpl
            def greet(self, who):
                return f"{WORD} {who}"

        class Unnamed(IPhoton, name="unnamed"):
            '''A photon of the package that no entry point names.'''
    """,
    "hello_photon/_words.py": """
        WORD = "hello"
    """,
    "hello_photon/farewell.py": """
        from luminal import IPhoton, hookimpl

        class Bye(IPhoton, name="bye"):
            @hookimpl
            def greet(self, who):
                return f"bye {who}"

        class Ciao(IPhoton, name="ciao"):
            pass
    """,
}

SUNNY = "from luminal import IPhoton\nclass Sunny(IPhoton, name='sunny'): pass\n"

WEATHER_MODULE = {
    "weather_photon.py": """
        from luminal import IPhoton

        class Sunny(IPhoton, name="sunny"):
            pass
    """,
}


class HostSpecs:
    @hookspec
    def greet(self, who: str) -> str:  # type: ignore[empty-body]
        """Greet someone."""


def python_files(directory: Path) -> set[Path]:
    return {path.resolve() for path in directory.rglob("*.py")}


def install_hello(site_dir: Path) -> None:
    install_distribution(
        site_dir,
        "hello-photon",
        {"hello": "hello_photon:Hello", "farewell": "hello_photon.farewell"},
        HELLO_PACKAGE,
        version="2.1",
    )


def install_weather(site_dir: Path) -> None:
    install_distribution(site_dir, "Weather_Photon", {"weather": "weather_photon"}, WEATHER_MODULE)


def test_group_scan_answers_as_importlib_metadata_entry_points(
    site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later_site = tmp_path / "later-site-packages"
    later_site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site_dir), str(later_site), *sys.path])
    install_distribution(site_dir, "alpha", {"a": "alpha:A"}, {})
    install_distribution(site_dir, "beta", {"b": "beta:B"}, {}, group="luminal.photons.extra")
    # Names the group, but not as a section.
    gamma = install_distribution(site_dir, "gamma", {}, {})
    (gamma / "entry_points.txt").write_text("[x]\ngamma = g:main\n# luminal.photons\n")
    spaced = install_distribution(site_dir, "delta", {}, {})
    (spaced / "entry_points.txt").write_text("[ luminal.photons ]\nd = delta:D\n")
    # Installed twice: the first copy wins, though only the second declares a photon.
    install_distribution(site_dir, "dupe", {"old": "dupe:Old"}, {}, group="console_scripts")
    install_distribution(later_site, "dupe", {"new": "dupe:New"}, {}, version="2.0")
    # Installed twice, the first copy without metadata: the second one wins.
    install_distribution(site_dir, "revived", {"x": "revived:X"}, {})
    install_distribution(later_site, "revived", {"y": "revived:Y"}, {}, version="2.0")
    (site_dir / "revived-1.0.dist-info" / "METADATA").unlink()
    lonely = install_distribution(later_site, "lonely", {"z": "lonely:Z"}, {})
    (lonely / "METADATA").unlink()

    def described(entry_points: Iterable[Any]) -> list[tuple[str, str, str, str]]:
        return [
            (entry.name, entry.value, entry.group, str(entry.dist.locate_file("")))
            for entry in entry_points
        ]

    expected = described(importlib_metadata.entry_points(group="luminal.photons"))

    assert described(group_entry_points("luminal.photons")) == expected
    # importlib_metadata 10 prefers the "revived" copy with metadata; 9 the first on the path.
    revived = (
        "y" if int(importlib_metadata.version("importlib_metadata").split(".")[0]) >= 10 else "x"
    )
    assert [name for name, *_ in expected] == ["a", revived, "z"]


def test_scan_finds_entry_points_without_importing_them(site_dir: Path) -> None:
    install_hello(site_dir)
    install_weather(site_dir)

    entries = find_photon_entry_points()

    found = {(entry.name, entry.value, entry.distribution, entry.version) for entry in entries}
    assert found == {
        ("hello", "hello_photon:Hello", "hello-photon", "2.1"),
        ("farewell", "hello_photon.farewell", "hello-photon", "2.1"),
        ("weather", "weather_photon", "Weather_Photon", "1.0"),
    }
    assert not python_files(site_dir) & loaded_files()
    assert "hello_photon" not in sys.modules
    assert "weather_photon" not in sys.modules


METADATA_SHAPES: dict[str, tuple[str, str]] = {
    "plain": ("Metadata-Version: 2.1\nName: Odd_Photon\nVersion: 2.0\n\nName: body\n", "2.0"),
    "crlf line ends": ("Metadata-Version: 2.1\r\nName: Odd_Photon\r\nVersion: 2.0\r\n", "2.0"),
    "lower-case names, trailing blanks": ("name: Odd_Photon\nversion:\t2.0  \n", "2.0  "),
    "a name given twice": ("Name: Odd_Photon\nName: other\nVersion: 2.0\n", "2.0"),
    "a folded header before": ("Summary: one\n  two\nName: Odd_Photon\nVersion: 2.0\n", "2.0"),
    "a folded version": ("Name: Odd_Photon\nVersion: 2.0\n        .post1\n", "2.0\n.post1"),
    "a unix-from line first": ("From nobody\nName: Odd_Photon\nVersion: 2.0\n", "2.0"),
}


@pytest.mark.parametrize("shape", list(METADATA_SHAPES))
def test_distribution_name_and_version_are_read_as_importlib_metadata_reads_them(
    site_dir: Path, shape: str
) -> None:
    text, expected_version = METADATA_SHAPES[shape]
    dist_info = install_distribution(site_dir, "Odd_Photon", {"odd": "odd_photon"}, {})
    (dist_info / "METADATA").write_bytes(text.encode())
    [entry_point] = importlib_metadata.entry_points(group="luminal.photons")
    assert entry_point.dist is not None
    metadata = entry_point.dist.metadata

    [entry] = find_photon_entry_points()

    assert (entry.distribution, entry.version) == ("Odd_Photon", expected_version)
    assert (entry.distribution, entry.version) == (metadata["Name"], metadata["Version"])


async def test_class_entry_point_loads_that_class_and_module_entry_point_all_its_photons(
    loader: Loader, site_dir: Path
) -> None:
    install_hello(site_dir)

    handlers = await loader.load_entry_points()

    assert sorted(handler.name for handler in handlers) == ["bye", "ciao", "hello"]
    package_dir = (site_dir / "hello_photon").resolve()
    assert {handler.filepath for handler in handlers} == {str(package_dir)}
    origins = {handler.name: handler.origin for handler in handlers}
    assert origins["hello"] == PhotonOrigin("hello-photon", "2.1", "hello", "luminal.photons")
    assert (
        origins["bye"]
        == origins["ciao"]
        == PhotonOrigin("hello-photon", "2.1", "farewell", "luminal.photons")
    )
    assert "unnamed" not in loader.photons
    assert "hello_photon" not in sys.modules, "the installed name must stay free"


async def test_entry_point_photon_runs_with_relative_imports(
    loader: Loader, site_dir: Path
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    install_hello(site_dir)
    await loader.load_entry_points(names=["hello"])

    await loader.photons["hello"].start()

    assert loader.plugin_manager.hook.greet(who="ada") == ["hello ada"]


async def test_names_select_entry_points_and_nothing_else_is_imported(
    loader: Loader, site_dir: Path
) -> None:
    install_hello(site_dir)
    install_weather(site_dir)

    handlers = await loader.load_entry_points(names=["weather"])

    assert [handler.name for handler in handlers] == ["sunny"]
    assert not python_files(site_dir / "hello_photon") & loaded_files()


async def test_names_not_installed_are_skipped(loader: Loader, site_dir: Path) -> None:
    install_weather(site_dir)

    assert await loader.load_entry_points(names=["no-such-photon"]) == []
    assert dict(loader.photons) == {}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (EntryPointPolicy(block_distributions=["weather-photon"]), ["bye", "ciao", "hello"]),
        (EntryPointPolicy(block_names=["farewell"]), ["hello", "sunny"]),
        (EntryPointPolicy(allow_distributions=["WEATHER.photon"]), ["sunny"]),
        (EntryPointPolicy(allow_names=["hello", "weather"]), ["hello", "sunny"]),
        (
            EntryPointPolicy(allow_distributions=["hello-photon"], block_names=["hello"]),
            ["bye", "ciao"],
        ),
    ],
)
async def test_policy_allows_and_blocks_distributions_and_names(
    loader: Loader, site_dir: Path, policy: EntryPointPolicy, expected: list[str]
) -> None:
    install_hello(site_dir)
    install_weather(site_dir)

    handlers = await loader.load_entry_points(policy=policy)

    assert sorted(handler.name for handler in handlers) == expected


async def test_blocked_distribution_is_never_imported(loader: Loader, site_dir: Path) -> None:
    install_hello(site_dir)
    install_weather(site_dir)

    await loader.load_entry_points(policy=EntryPointPolicy(block_distributions=["hello_photon"]))

    assert not python_files(site_dir / "hello_photon") & loaded_files()


# Sorts after Weather_Photon, which therefore loads first and keeps the name "sunny".
BROKEN_DISTRIBUTION = "z-broken-photon"

BROKEN = {
    "not installed": ({"broken": "missing_module:Photon"}, {}, None),
    "import error": (
        {"broken": "broken_photon:Photon"},
        {"broken_photon.py": "import no_such_dependency_xyz\n"},
        PhotonLoadError,
    ),
    "syntax error": (
        {"broken": "broken_photon"},
        {"broken_photon.py": "def broken(:\n"},
        PhotonLoadError,
    ),
    "missing attribute": (
        {"broken": "broken_photon:Renamed"},
        {"broken_photon.py": "from luminal import IPhoton\nclass Photon(IPhoton): pass\n"},
        AttributeError,
    ),
    "not a photon": (
        {"broken": "broken_photon:helper"},
        {"broken_photon.py": "def helper():\n    return 1\n"},
        None,
    ),
    "plain class": (
        {"broken": "broken_photon:Plain"},
        {"broken_photon.py": "class Plain:\n    pass\n"},
        None,
    ),
    "module without photons": (
        {"broken": "broken_photon"},
        {"broken_photon.py": "VALUE = 1\n"},
        None,
    ),
    "name collision": (
        {"broken": "broken_photon:Sunny"},
        {"broken_photon.py": SUNNY},
        PhotonNameConflictError,
    ),
    "compiled module": ({"broken": "math:pi"}, {}, None),
}


@pytest.mark.parametrize("kind", list(BROKEN))
async def test_broken_distribution_is_reported_and_the_others_load(
    loader: Loader, site_dir: Path, observer: EventRecorder, kind: str
) -> None:
    entry_points, files, cause_type = BROKEN[kind]
    install_weather(site_dir)
    install_distribution(site_dir, BROKEN_DISTRIBUTION, entry_points, files, version="0.3")

    with pytest.raises(EntryPointGroupLoadError) as raised:
        await loader.load_entry_points()

    assert [handler.name for handler in raised.value.handlers] == ["sunny"]
    assert list(loader.photons) == ["sunny"]
    [error] = raised.value.errors
    assert isinstance(error, EntryPointLoadError)
    assert (error.distribution, error.version, error.entry_point) == (
        BROKEN_DISTRIBUTION,
        "0.3",
        "broken",
    )
    assert BROKEN_DISTRIBUTION in str(error)
    if cause_type is None:
        assert error.__cause__ is None
    else:
        assert isinstance(error.__cause__, cause_type)
    assert [reported for _, reported in observer.errors] == [error]
    assert "broken_photon" not in sys.modules


async def test_suppress_errors_reports_and_returns_what_loaded(site_dir: Path) -> None:
    install_weather(site_dir)
    install_distribution(site_dir, "broken-photon", {"broken": "missing_module"}, {})
    log = EventRecorder()
    async with Loader(suppress_errors=True) as loader:
        loader.plugin_manager.register(log)

        handlers = await loader.load_entry_points()

        assert [handler.name for handler in handlers] == ["sunny"]
    [(path, error)] = log.errors
    assert isinstance(error, EntryPointLoadError)
    assert path == "missing_module"


NOT_PHOTONS = {
    "helper": ("def helper():\n    return 1\n", "a function, not a class"),
    "Plain": ("class Plain:\n    pass\n", "class Plain is no subclass of luminal.IPhoton"),
    "Outer.Inner": (
        "from luminal import IPhoton\nclass Outer:\n    class Inner(IPhoton): pass\n",
        "class Outer.Inner is nested; photons are the classes at the top level of a module",
    ),
    "Base": (
        "import abc\nfrom luminal import IPhoton\n"
        "class Base(IPhoton, abc.ABC):\n    @abc.abstractmethod\n    def run(self): ...\n",
        "class Base is abstract (run not implemented)",
    ),
}


@pytest.mark.parametrize("attribute", list(NOT_PHOTONS))
async def test_an_entry_point_naming_no_photon_class_says_why(
    loader: Loader, site_dir: Path, attribute: str
) -> None:
    source, why = NOT_PHOTONS[attribute]
    entry_points = {"broken": f"broken_photon:{attribute}"}
    install_distribution(site_dir, BROKEN_DISTRIBUTION, entry_points, {"broken_photon.py": source})
    with pytest.raises(EntryPointGroupLoadError) as raised:
        await loader.load_entry_points()
    [error] = raised.value.errors
    assert str(error).endswith(f"{attribute!r} is not a photon: {why}")


async def test_a_broken_entry_point_does_not_take_down_its_package_siblings(
    loader: Loader, site_dir: Path, observer: EventRecorder
) -> None:
    install_distribution(
        site_dir,
        "hello-photon",
        {"hello": "hello_photon:Hello", "gone": "hello_photon:Gone"},
        HELLO_PACKAGE,
    )

    with pytest.raises(EntryPointGroupLoadError) as raised:
        await loader.load_entry_points()

    assert [handler.name for handler in raised.value.handlers] == ["hello"]
    assert [error.entry_point for error in raised.value.errors] == ["gone"]
    assert len(observer.errors) == 1


async def test_of_two_distributions_with_one_photon_name_the_first_by_name_loads(
    loader: Loader, site_dir: Path
) -> None:
    install_weather(site_dir)
    install_distribution(site_dir, "rival", {"rival": "rival_photon"}, {"rival_photon.py": SUNNY})

    with pytest.raises(EntryPointGroupLoadError) as raised:
        await loader.load_entry_points()

    assert list(loader.photons) == ["sunny"]
    [error] = raised.value.errors
    assert error.distribution == "Weather_Photon"
    assert isinstance(error.__cause__, PhotonNameConflictError)
    origin = loader.photons["sunny"].origin
    assert origin is not None
    assert origin.distribution == "rival"


async def test_photon_name_taken_by_a_loose_photon_is_reported(
    loader: Loader, site_dir: Path, write_photon: WritePhoton
) -> None:
    loose = write_photon("sunny.py", SUNNY)
    await loader.load_photon(loose)
    install_weather(site_dir)

    with pytest.raises(EntryPointGroupLoadError) as raised:
        await loader.load_entry_points()

    [error] = raised.value.errors
    assert isinstance(error.__cause__, PhotonNameConflictError)
    assert loader.photons["sunny"].filepath == str(loose.resolve())
    assert "weather_photon" not in sys.modules


async def test_trust_lock_file_refuses_unpinned_installed_photons(site_dir: Path) -> None:
    install_weather(site_dir)
    lock_file = write_lock(site_dir)
    install_hello(site_dir)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        with pytest.raises(EntryPointGroupLoadError) as raised:
            await loader.load_entry_points()

        assert list(loader.photons) == ["sunny"]
    assert {error.entry_point for error in raised.value.errors} == {"farewell", "hello"}
    assert all(isinstance(error.__cause__, PhotonTrustError) for error in raised.value.errors)


async def test_loading_twice_returns_the_loaded_photons(loader: Loader, site_dir: Path) -> None:
    install_weather(site_dir)
    [first] = await loader.load_entry_points()

    [again] = await loader.load_entry_points()

    assert again is first


async def test_namespace_package_entry_point_loads_its_module(
    loader: Loader, site_dir: Path
) -> None:
    install_distribution(
        site_dir,
        "acme-photons",
        {"rocket": "acme.photons.rocket:Rocket"},
        {
            "acme/photons/rocket.py": (
                "from luminal import IPhoton\nclass Rocket(IPhoton, name='rocket'): pass\n"
            )
        },
    )

    [handler] = await loader.load_entry_points()

    assert handler.filepath == str((site_dir / "acme" / "photons" / "rocket.py").resolve())


EDITABLE_FILES = {
    "editable_photon/__init__.py": """
        from luminal import IPhoton, hookimpl

        from ._words import WORD

        class Editable(IPhoton, name="editable"):
            @hookimpl
            def greet(self, who):
                return f"{WORD} {who}"

            async def finalize(self):
                pass
    """,
    "editable_photon/_words.py": 'WORD = "hello"\n',
}


@pytest.fixture
def editable_src(site_dir: Path, tmp_path: Path) -> Path:
    """An editable install of ``editable-photon`` whose files live in ``project/src``."""
    src = tmp_path / "project" / "src"
    install_editable(
        site_dir, src, "editable-photon", {"editable": "editable_photon:Editable"}, EDITABLE_FILES
    )
    return src


async def test_editable_install_is_loaded_from_its_project(
    loader: Loader, editable_src: Path
) -> None:
    [handler] = await loader.load_entry_points()

    assert handler.filepath == str((editable_src / "editable_photon").resolve())


async def test_editable_install_reloads_after_its_source_changed(
    loader: Loader, editable_src: Path
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    [handler] = await loader.load_entry_points()
    await handler.start()
    assert loader.plugin_manager.hook.greet(who="ada") == ["hello ada"]

    (editable_src / "editable_photon" / "_words.py").write_text('WORD = "howdy"\n')
    fresh = await loader.reload_photon(handler)

    assert isinstance(fresh, Handler)
    assert loader.plugin_manager.hook.greet(who="ada") == ["howdy ada"]
    assert fresh.checksum != handler.checksum
    assert fresh.origin == handler.origin
    assert fresh.origin is not None
    assert fresh.origin.distribution == "editable-photon"


async def test_reload_that_loses_the_named_class_rolls_back(
    loader: Loader, editable_src: Path
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    [handler] = await loader.load_entry_points()
    await handler.start()
    init_file = editable_src / "editable_photon" / "__init__.py"
    init_file.write_text(init_file.read_text().replace("class Editable", "class Renamed"))

    with pytest.raises(PhotonReloadError):
        await loader.reload_photon(handler)

    assert loader.photons["editable"] is handler
    assert handler.started
    assert loader.plugin_manager.hook.greet(who="ada") == ["hello ada"]


async def test_unload_releases_an_entry_point_photon(loader: Loader, editable_src: Path) -> None:
    [handler] = await loader.load_entry_points()
    await handler.start()
    module_name = handler.module_name

    assert await loader.unload_photon(handler) is True

    assert dict(loader.photons) == {}
    assert not [name for name in sys.modules if name.startswith(module_name)]
    [again] = await loader.load_entry_points()
    assert again.name == "editable"


async def test_load_photons_skips_a_distribution_project(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("loose.py", "from luminal import IPhoton\nclass Loose(IPhoton): pass\n")
    write_photon("project/pyproject.toml", "[project]\nname = 'packaged'\n")
    write_photon(
        "project/src/packaged/__init__.py",
        "from luminal import IPhoton\nclass Packaged(IPhoton): pass\n",
    )

    handlers = await loader.load_photons(photon_dir, recursive=True)

    assert [handler.name for handler in handlers] == ["Loose"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"names": "hello"}, "not a str"),
        ({"names": ["hello", 1]}, "names"),
        ({"group": ""}, "group"),
        ({"policy": {"block_names": ["x"]}}, "EntryPointPolicy"),
        ({"photon_base": "IPhoton"}, "photon_base"),
    ],
)
async def test_bad_arguments_raise_type_error(
    loader: Loader, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        await loader.load_entry_points(**arguments)  # type: ignore[arg-type]


def test_policy_rejects_a_single_string() -> None:
    with pytest.raises(TypeError, match="single str"):
        EntryPointPolicy(block_distributions="evil-photons")


PROBE = """
import asyncio, json, luminal

async def main():
    async with luminal.Loader() as loader:
        handlers = await loader.load_entry_points()
        answers = {}
        for handler in handlers:
            await handler.start()
            answers[handler.name] = {
                "filepath": handler.filepath,
                "distribution": handler.origin.distribution,
                "entry_point": handler.origin.entry_point,
            }
    print(json.dumps(answers))

asyncio.run(main())
"""


@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_example_distribution_installs_with_pip(tmp_path: Path, editable: bool) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # The new environment sees this one's packages (pluggy, hatchling, ...), so pip can build
    # offline without build isolation.
    Path(purelib, "_outer_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    install += ["--no-build-isolation", "--no-deps", "--quiet"]
    install += ["-e", str(EXAMPLE_DISTRIBUTION)] if editable else [str(EXAMPLE_DISTRIBUTION)]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, f"pip failed (is hatchling installed?):\n{installed.stderr}"

    probe = subprocess.run(
        [str(python), "-c", textwrap.dedent(PROBE)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
        env=child_env(),
    )

    answers = json.loads(probe.stdout.splitlines()[-1])
    assert sorted(answers) == ["farewell", "hello"]
    assert {answer["distribution"] for answer in answers.values()} == {"luminal-hello"}
    assert answers["hello"]["entry_point"] == "hello"
    source = Path(answers["hello"]["filepath"])
    if editable:
        assert source == (EXAMPLE_DISTRIBUTION / "src" / "luminal_hello").resolve()
    else:
        assert source.parent == Path(purelib).resolve()


SELF_IMPORTING = {
    "selfish_photon/__init__.py": """
        from luminal import IPhoton

        import selfish_photon.words

        class Selfish(IPhoton, name="selfish"):
            pass
    """,
    "selfish_photon/words.py": "WORD = 'me'\n",
}


@pytest.fixture
def installed_name_freed() -> Iterator[None]:
    """Removes what a photon package imported by its installed name (Luminal leaves it)."""
    yield
    for name in [name for name in sys.modules if name.partition(".")[0] == "selfish_photon"]:
        del sys.modules[name]


@pytest.mark.usefixtures("installed_name_freed")
async def test_a_package_importing_itself_by_its_installed_name_is_warned_about(
    site_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_distribution(site_dir, "selfish", {"selfish": "selfish_photon:Selfish"}, SELF_IMPORTING)
    install_weather(site_dir)

    with caplog.at_level(logging.WARNING, logger="luminal"):
        async with Loader(logging=True) as loader:
            handlers = await loader.load_entry_points()

    assert sorted(handler.name for handler in handlers) == ["selfish", "sunny"]
    warnings = [
        record.getMessage() for record in caplog.records if "installed name" in record.getMessage()
    ]
    assert len(warnings) == 1
    assert "'selfish_photon'" in warnings[0]


async def test_distribution_without_a_name_header_does_not_stop_discovery(
    loader: Loader, site_dir: Path
) -> None:
    install_weather(site_dir)
    dist_info = install_distribution(
        site_dir,
        "nameless",
        {"nameless": "nameless_photon"},
        {"nameless_photon.py": SUNNY.replace("sunny", "nameless")},
    )
    metadata = dist_info / "METADATA"
    metadata.write_text(
        "".join(
            line for line in metadata.read_text().splitlines(True) if not line.startswith("Name:")
        )
    )
    handlers = await loader.load_entry_points()
    assert sorted(handler.name for handler in handlers) == ["nameless", "sunny"]
    nameless = loader.photons["nameless"].origin
    assert nameless is not None
    assert nameless.distribution == ""


async def test_malformed_entry_point_never_stops_the_others(
    site_dir: Path, observer: EventRecorder
) -> None:
    install_weather(site_dir)
    install_distribution(site_dir, "garbled", {"garbled": "not a module reference!"}, {})
    async with Loader(suppress_errors=True) as loader:
        loader.plugin_manager.register(observer)
        handlers = await loader.load_entry_points()
        assert [handler.name for handler in handlers] == ["sunny"]


async def test_an_entry_points_file_that_cannot_be_parsed_never_stops_the_others(
    site_dir: Path,
) -> None:
    """A line without ``=`` makes importlib_metadata raise a ``TypeError`` while it parses the
    file: that distribution declares nothing, the others load, and so does the watch."""
    install_weather(site_dir)
    dist_info = install_distribution(site_dir, "garbled", {"garbled": "garbled_photon"}, {})
    (dist_info / "entry_points.txt").write_text("[luminal.photons]\ngarbled\n")
    async with Loader() as loader:
        handlers = await loader.load_entry_points()
        assert [handler.name for handler in handlers] == ["sunny"]
    async with Loader() as loader:
        await loader.watch_photons(None, entry_points=True)
        assert sorted(loader.photons) == ["sunny"]


def test_a_leftover_dist_info_beside_importlib_metadata_is_not_taken_for_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted upgrade can leave an old ``.dist-info`` beside the running one: the
    version is then asked of importlib_metadata itself."""
    from luminal.distributions import _importlib_metadata_version

    (tmp_path / "importlib_metadata").mkdir()
    monkeypatch.setattr(importlib_metadata, "__file__", str(tmp_path / "importlib_metadata/x.py"))
    (tmp_path / "importlib_metadata-7.1.0.dist-info").mkdir()
    assert _importlib_metadata_version() == "7.1.0"

    (tmp_path / "importlib_metadata-1.7.0.dist-info").mkdir()
    assert _importlib_metadata_version() == importlib_metadata.version("importlib_metadata")


def _damage(dist_info: Path, filename: str, how: str) -> None:
    """Make one metadata file of a distribution unreadable as text: bytes that are not UTF-8,
    a symlink loop, or a FIFO (a blocking read of it would never return)."""
    target = dist_info / filename
    if how == "not-utf8":
        target.write_bytes(target.read_bytes() + b"# caf\xe9\n")
        return
    target.unlink()
    if how == "loop":
        target.symlink_to(target)
    else:
        os.mkfifo(target)


@pytest.mark.parametrize("how", ["not-utf8", "loop", "fifo"])
@pytest.mark.parametrize("filename", ["METADATA", "entry_points.txt", "RECORD"])
async def test_a_damaged_distribution_never_stops_the_discovery_of_the_others(
    site_dir: Path, filename: str, how: str
) -> None:
    """What cannot be read is read as missing: a distribution whose ``entry_points.txt`` cannot
    be read declares nothing, one whose ``METADATA`` cannot has no name or version; nothing
    raises, nothing blocks, and both the loader and the watch see the others."""
    if how == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    install_weather(site_dir)
    damaged = install_distribution(
        site_dir, "damaged", {"damaged": "damaged_photon"}, {
            "damaged_photon.py": SUNNY.replace("sunny", "damaged"),
        },
    )  # fmt: skip
    _damage(damaged, filename, how)
    expected = ["sunny"] if filename == "entry_points.txt" else ["damaged", "sunny"]
    async with Loader() as loader:
        handlers = await asyncio.wait_for(loader.load_entry_points(), 30)
        names = sorted(handler.name for handler in handlers)
        assert names == expected
    async with Loader() as loader:
        await asyncio.wait_for(loader.watch_photons(None, entry_points=True), 30)
        assert sorted(loader.photons) == names
        await loader.stop_watching_photons()


def test_the_metadata_pip_moves_aside_during_an_upgrade_is_not_a_distribution(
    site_dir: Path,
) -> None:
    """pip renames the metadata of the version it replaces to ``~…`` while it writes the new
    one (and a killed pip leaves it there); a watch that took that copy for the distribution
    would reload half-written files, and discovery would load a version no longer installed."""
    from luminal.managers.environment import scan_group

    dist_info = install_distribution(site_dir, "Weather_Photon", {"weather": "weather_photon"}, {})
    dist_info.rename(site_dir / ("~" + dist_info.name[1:]))
    assert scan_group(DEFAULT_GROUP, [site_dir]) == {}
    assert find_photon_entry_points() == []
    dist_info = install_distribution(site_dir, "Weather_Photon", {"weather": "weather_photon"}, {})
    assert list(scan_group(DEFAULT_GROUP, [site_dir])) == ["weather-photon"]
