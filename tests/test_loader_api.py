"""``Loader``'s documented signatures and the seed's internal steps, each on real files."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import pytest

from luminal import Handler, IPhoton, Loader, PhotonNotFoundError
from luminal.testing import WritePhoton

_ = inspect.Parameter.empty

SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "load_photon": [
        ("photon_path", _),
        ("photon_base", IPhoton),
        ("other_classes", None),
        ("recursive", False),
    ],
    "load_photons": [
        ("photons_directory", _),
        ("photon_base", IPhoton),
        ("other_classes", None),
        ("recursive", False),
    ],
    "unload_photon": [("photon", _), ("force_stop", False)],
    "unload_photons": [("photons", _), ("force_stop", False)],
    "reload_photon": [("photon", _)],
    "reload_photons": [("photons", _)],
    "_validate_module": [
        ("imported_module", _),
        ("photon_path", _),
        ("photon_base", _),
        ("other_classes", ()),
    ],
    "_import_module": [("module_path", _)],
    "_scan_module": [("path", _)],
    "_find_modules": [("path", _)],
    "_check_photon": [("photon", _)],
    "_emit_photon": [
        ("photon_path", _),
        ("photon_base", IPhoton),
        ("other_classes", ()),
        ("recursive", False),
    ],
    "_emit_photons": [
        ("photons_directory", _),
        ("photon_base", IPhoton),
        ("other_classes", ()),
        ("recursive", False),
    ],
    "_absorb_photon": [("photon", _), ("force_stop", False), ("suppress_finalizer_log", False)],
    "_absorb_photons": [("photons", _), ("force_stop", False)],
    "_revert_photon": [("validated_photon", _), ("validated_modules", _)],
    "_reload_photon": [("photon", _)],
    "_reload_photons": [("photons", _)],
}

ONE = "from luminal import IPhoton\nclass One(IPhoton, name='one'):\n    pass\n"
TWO = (
    "from luminal import IPhoton\n"
    "class First(IPhoton, name='first'):\n    pass\n"
    "class Second(IPhoton, name='second'):\n    pass\n"
)


def test_constructor_has_the_seed_signature() -> None:
    parameters = inspect.signature(Loader).parameters
    assert [(name, parameters[name].default) for name in list(parameters)[:2]] == [
        ("logging", False),
        ("suppress_errors", False),
    ]


@pytest.mark.parametrize("method_name", sorted(SIGNATURES))
def test_method_has_the_seed_signature(method_name: str) -> None:
    method = getattr(Loader, method_name)
    assert inspect.iscoroutinefunction(method)
    parameters = list(inspect.signature(method).parameters.values())[1:]
    expected = SIGNATURES[method_name]
    assert [(parameter.name, parameter.default) for parameter in parameters[: len(expected)]] == (
        expected
    )
    assert all(parameter.default is not _ for parameter in parameters[len(expected) :])


async def test_scan_module_tells_files_packages_and_package_directories(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    one = write_photon("one.py", ONE)
    write_photon("packages/alpha/__init__.py", ONE)
    write_photon("packages/beta/__init__.py", TWO)
    packages = photon_dir / "packages"
    assert await loader._scan_module(str(one)) == (str(one.resolve()), False, False)
    alpha = packages / "alpha"
    assert await loader._scan_module(alpha) == (str(alpha.resolve()), True, False)
    assert await loader._scan_module(packages) == (str(packages.resolve()), True, True)
    assert await loader._scan_module(photon_dir) == (str(photon_dir.resolve()), True, False)
    with pytest.raises(ModuleNotFoundError):
        await loader._scan_module(photon_dir / "missing.py")
    with pytest.raises(ModuleNotFoundError):
        await loader._scan_module(write_photon("notes.txt", "not python"))


async def test_find_modules_lists_sources_and_packages_only(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("b.py", ONE)
    write_photon("a/__init__.py", ONE)
    write_photon("notes.txt", "")
    write_photon("__init__.py", "")
    write_photon(".hidden.py", "")
    found, packages_only = await loader._find_modules(photon_dir)
    root = photon_dir.resolve()
    assert found == [(str(root / "a"), True), (str(root / "b.py"), False)]
    assert packages_only is False
    assert await loader._find_modules(photon_dir / "a") == ([], False)
    assert await loader._find_modules(photon_dir / "missing") == ([], False)
    assert await loader._find_modules(photon_dir / "b.py") == ([], False)


async def test_check_photon_finds_handlers_by_handler_name_and_path(
    loader: Loader, write_photon: WritePhoton
) -> None:
    one = await loader.load_photon(write_photon("one.py", ONE))
    two_path = write_photon("two.py", TWO)
    two = await loader.load_photon(two_path)
    assert isinstance(one, Handler)
    assert await loader._check_photon(one) is one
    assert await loader._check_photon("one") is one
    assert await loader._check_photon(two_path) == two
    with pytest.raises(PhotonNotFoundError):
        await loader._check_photon("nobody")
    with pytest.raises(TypeError):
        await loader._check_photon(3)  # type: ignore[arg-type]


async def test_import_module_imports_under_a_private_name(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("one.py", ONE)
    module = await loader._import_module(path)
    try:
        assert sys.modules[module.__name__] is module
        assert module.__name__ != "one"
        assert module.__file__ == str(path.resolve())
        assert module.One.photon_name == "one"
    finally:
        del sys.modules[module.__name__]
    with pytest.raises(ModuleNotFoundError):
        await loader._import_module(photon_dir / "missing.py")


async def test_validate_module_makes_one_handler_per_photon_class(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("two.py", TWO + "class Helper:\n    pass\n")
    module = await loader._import_module(path)
    try:
        handlers = await loader._validate_module(module, str(path), IPhoton)
        assert sorted(handler.name for handler in handlers) == ["first", "second"]
        assert all(handler.filepath == str(path) for handler in handlers)
        extra = await loader._validate_module(module, str(path), IPhoton, ["Helper"])
        assert sorted(handler.name for handler in extra) == ["Helper", "first", "second"]
        assert await loader._validate_module(module, str(path), Handler) == []
        assert dict(loader.photons) == {}
    finally:
        del sys.modules[module.__name__]


async def test_emit_photon_and_emit_photons_return_handler_lists(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    one = write_photon("one.py", ONE)
    write_photon("two.py", TWO)
    assert [handler.name for handler in await loader._emit_photon(str(one))] == ["one"]
    emitted = await loader._emit_photons(str(photon_dir))
    assert sorted(handler.name for handler in emitted) == ["first", "one", "second"]
    assert await loader._emit_photon(one) == [loader.photons["one"]]


async def test_absorb_photon_and_photons(loader: Loader, write_photon: WritePhoton) -> None:
    one = write_photon("one.py", ONE)
    two = write_photon("two.py", TWO)
    await loader.load_photon(one)
    await loader.load_photon(two)
    assert await loader._absorb_photon("one", force_stop=True) is True
    assert await loader._absorb_photons(["first", "second"], force_stop=True) == [
        str(two.resolve()),
        str(two.resolve()),
    ]
    assert dict(loader.photons) == {}


async def test_reload_internals_return_fresh_handlers(
    loader: Loader, write_photon: WritePhoton
) -> None:
    one = await loader.load_photon(write_photon("one.py", ONE))
    fresh = await loader._reload_photon("one")
    assert isinstance(fresh, Handler)
    assert fresh is not one
    assert await loader._reload_photons([fresh]) == [loader.photons["one"]]


@pytest.mark.parametrize(
    "seconds", [0, -1.0, float("nan"), float("inf"), pytest.param(10**400, id="10**400")]
)
@pytest.mark.parametrize("keyword", ["finalize_timeout", "stop_timeout", "start_timeout"])
def test_timeouts_must_be_positive_and_finite(keyword: str, seconds: float) -> None:
    timeouts: dict[str, Any] = {keyword: seconds}
    with pytest.raises(ValueError, match=keyword):
        Loader(**timeouts)


@pytest.mark.parametrize("seconds", [True, "10", None])
@pytest.mark.parametrize("keyword", ["finalize_timeout", "stop_timeout", "start_timeout"])
def test_a_timeout_that_is_no_number_is_a_type_error(keyword: str, seconds: object) -> None:
    # True was taken for one second; a string was a ValueError, unlike acall's timeout.
    timeouts: dict[str, Any] = {keyword: seconds}
    with pytest.raises(TypeError, match=keyword):
        Loader(**timeouts)


@pytest.mark.parametrize("keyword", ["logging", "suppress_errors"])
@pytest.mark.parametrize("value", ["no", 0, None])
def test_a_flag_of_the_constructor_that_is_no_bool_is_a_type_error(
    keyword: str, value: object
) -> None:
    # suppress_errors="no" was taken for True: every load failure became a mere report.
    flags: dict[str, Any] = {keyword: value}
    with pytest.raises(TypeError, match=keyword):
        Loader(**flags)


def test_a_plugin_manager_that_is_no_plugin_manager_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="plugin_manager"):
        Loader(plugin_manager="luminal")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "seconds", [-0.5, float("nan"), float("inf"), pytest.param(10**400, id="10**400")]
)
async def test_a_debounce_that_is_no_finite_delay_is_refused_before_watching(
    loader: Loader, photon_dir: Path, seconds: float
) -> None:
    """An infinite debounce (or one too large for a float) never applied a save."""
    with pytest.raises(ValueError, match="debounce"):
        await loader.watch_photons(photon_dir, debounce=seconds)
    await loader.watch_photons(photon_dir, debounce=0.01)  # the refused call left none running
    await loader.stop_watching_photons()
