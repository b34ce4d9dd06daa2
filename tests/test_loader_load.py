"""``Loader.load_photon`` and ``load_photons``: return values, errors, paths and collisions."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from luminal import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    Handler,
    IPhoton,
    Loader,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
)
from luminal.testing import EventRecorder, WritePhoton

ONE = """
    from luminal import IPhoton

    class One(IPhoton, name="one"):
        pass
"""

TWO = """
    from luminal import IPhoton

    class First(IPhoton, name="first"):
        pass

    class Second(IPhoton, name="second"):
        pass
"""

NONE = """
    from luminal import IPhoton

    class NotAPhoton:
        pass
"""

COUNTED = """
    from pathlib import Path
    from luminal import IPhoton

    with open(Path(__file__).with_name("runs.txt"), "a") as runs:
        runs.write("run\\n")

    class Counted(IPhoton, name="counted"):
        pass
"""


async def test_one_photon_gives_its_handler(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("one.py", ONE)
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    assert handler.name == "one"
    assert handler.filepath == str(path.resolve())
    assert handler.started is False
    assert dict(loader.photons) == {"one": handler}


async def test_several_photons_give_a_list(loader: Loader, write_photon: WritePhoton) -> None:
    handlers = await loader.load_photon(write_photon("two.py", TWO))
    assert isinstance(handlers, list)
    assert sorted(handler.name for handler in handlers) == ["first", "second"]
    assert sorted(loader.photons) == ["first", "second"]


async def test_no_photon_gives_an_empty_list(loader: Loader, write_photon: WritePhoton) -> None:
    assert await loader.load_photon(write_photon("none.py", NONE)) == []
    assert dict(loader.photons) == {}


async def test_accepts_str_and_pathlike(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("one.py", ONE)
    handler = await loader.load_photon(str(path))
    assert await loader.load_photon(path) is handler


async def test_checksum_is_the_sha512_of_the_file(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("one.py", ONE)
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    assert handler.checksum == hashlib.sha512(path.read_bytes()).hexdigest()


async def test_no_bytecode_cache_is_written(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    await loader.load_photon(write_photon("one.py", ONE))
    assert not (photon_dir / "__pycache__").exists()


async def test_photons_mapping_is_read_only(loader: Loader, write_photon: WritePhoton) -> None:
    handler = await loader.load_photon(write_photon("one.py", ONE))
    photons: Any = loader.photons
    with pytest.raises(TypeError):
        photons["other"] = handler
    with pytest.raises(TypeError):
        del photons["one"]
    with pytest.raises(AttributeError):
        loader.photons = {}  # type: ignore[misc]
    assert dict(loader.photons) == {"one": handler}


async def test_missing_file_raises_photon_not_found(loader: Loader, photon_dir: Path) -> None:
    with pytest.raises(PhotonNotFoundError) as caught:
        await loader.load_photon(photon_dir / "missing.py")
    assert isinstance(caught.value, FileNotFoundError)


async def test_directory_raises_photon_not_found(loader: Loader, photon_dir: Path) -> None:
    with pytest.raises(PhotonNotFoundError, match="directory"):
        await loader.load_photon(photon_dir)


async def test_a_file_that_is_not_python_source_is_refused_unrun(
    loader: Loader, photon_dir: Path
) -> None:
    notes = photon_dir / "notes.txt"
    notes.write_text("raise SystemExit('this must never run')\n")
    with pytest.raises(PhotonLoadError, match=r"not a Python source file \(\.py\)"):
        await loader.load_photon(notes)
    assert dict(loader.photons) == {}


async def test_missing_directory_raises_directory_not_found(
    loader: Loader, photon_dir: Path
) -> None:
    with pytest.raises(DirectoryNotFoundError) as caught:
        await loader.load_photons(photon_dir / "missing")
    assert caught.value.path == str(photon_dir / "missing")


async def test_file_raises_directory_not_found(loader: Loader, write_photon: WritePhoton) -> None:
    with pytest.raises(DirectoryNotFoundError):
        await loader.load_photons(write_photon("one.py", ONE))


BAD_ARGUMENTS: list[dict[str, Any]] = [
    {"path": 42},
    {"path": b"photons"},
    {"path": None},
    {"photon_base": "IPhoton"},
    {"photon_base": IPhoton()},
    {"other_classes": "Photon"},
    {"other_classes": [1, 2]},
    {"other_classes": 7},
    {"recursive": 1},
    {"recursive": "yes"},
]


@pytest.mark.parametrize("bad", BAD_ARGUMENTS)
async def test_load_photon_rejects_wrong_argument_types(
    loader: Loader, write_photon: WritePhoton, bad: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {"path": write_photon("one.py", ONE), **bad}
    path = arguments.pop("path")
    with pytest.raises(TypeError):
        await loader.load_photon(path, **arguments)
    assert dict(loader.photons) == {}


@pytest.mark.parametrize("bad", BAD_ARGUMENTS)
async def test_load_photons_rejects_wrong_argument_types(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path, bad: dict[str, Any]
) -> None:
    write_photon("one.py", ONE)
    arguments: dict[str, Any] = {"path": photon_dir, **bad}
    path = arguments.pop("path")
    with pytest.raises(TypeError):
        await loader.load_photons(path, **arguments)
    assert dict(loader.photons) == {}


async def test_syntax_error_raises_photon_load_error_and_leaves_nothing(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon("broken.py", "from luminal import IPhoton\nclass Broken(IPhoton)\n")
    modules_before = set(sys.modules)
    with pytest.raises(PhotonLoadError) as caught:
        await loader.load_photon(path)
    assert isinstance(caught.value.__cause__, SyntaxError)
    assert caught.value.path == str(path.resolve())
    assert set(sys.modules) == modules_before
    assert dict(loader.photons) == {}
    assert [error for _, error in observer.errors] == [caught.value]


async def test_suppress_errors_returns_an_empty_list(write_photon: WritePhoton) -> None:
    path = write_photon("broken.py", "raise RuntimeError('boom')\n")
    async with Loader(suppress_errors=True) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer)
        assert loader.suppress_errors is True
        assert await loader.load_photon(path) == []
        assert isinstance(observer.errors[0][1], PhotonLoadError)
        with pytest.raises(PhotonNotFoundError):
            await loader.load_photon(path.with_name("missing.py"))


async def test_other_classes_and_photon_base(loader: Loader, write_photon: WritePhoton) -> None:
    path = write_photon(
        "custom.py",
        """
        from tests.test_loader_load import CustomBase

        class Custom(CustomBase):
            pass

        class Extra:
            pass

        class Ignored:
            pass
        """,
    )
    handlers = await loader.load_photon(path, CustomBase, ["Extra"])
    assert isinstance(handlers, list)
    assert sorted(handler.name for handler in handlers) == ["Custom", "Extra"]
    extra = loader.photons["Extra"]
    await extra.start()
    assert type(extra.instance).__name__ == "Extra"
    assert await loader.unload_photon(extra) is True


class CustomBase:
    """A host's own photon base class, not derived from IPhoton."""


async def test_a_photon_name_no_reference_could_name_falls_back_to_the_class_name(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """A class of a host's own base whose ``photon_name`` is empty is named by its class, as
    one whose ``photon_name`` is no ``str``: it can be reloaded and unloaded by name."""
    path = write_photon(
        "unnamed.py",
        """
        from tests.test_loader_load import CustomBase

        class Unnamed(CustomBase):
            photon_name = ""
        """,
    )
    await loader.load_photon(path, CustomBase)
    assert list(loader.photons) == ["Unnamed"]
    await loader.photons["Unnamed"].start()
    assert isinstance(await loader.reload_photon("Unnamed"), Handler)
    assert await loader.unload_photon("Unnamed") is True


async def test_package_with_recursive_loads_its_submodules(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("pkg/__init__.py", ONE)
    write_photon("pkg/deep/__init__.py", "")
    write_photon(
        "pkg/deep/inner.py",
        """
        from luminal import IPhoton

        class Inner(IPhoton, name="inner"):
            pass
        """,
    )
    init = photon_dir / "pkg" / "__init__.py"
    handlers = await loader.load_photon(init, recursive=True)
    assert isinstance(handlers, list)
    assert sorted(handler.name for handler in handlers) == ["inner", "one"]
    assert {handler.filepath for handler in handlers} == {str((photon_dir / "pkg").resolve())}
    inner = loader.photons["inner"]
    await inner.start()
    assert inner.instance.__module__ == inner.module_name + ".deep.inner"


async def test_package_without_recursive_loads_its_init_only(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("pkg/__init__.py", ONE)
    write_photon("pkg/sub.py", TWO)
    handler = await loader.load_photon(photon_dir / "pkg" / "__init__.py")
    assert isinstance(handler, Handler)
    assert handler.name == "one"


async def test_load_photons_loads_files_and_recurses_on_request(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("one.py", ONE)
    write_photon("two.py", TWO)
    write_photon("pkg/__init__.py", "from .inner import *\n")
    write_photon(
        "pkg/inner.py",
        "from luminal import IPhoton\n__all__ = ['Pkg']\nclass Pkg(IPhoton, name='pkg'): pass\n",
    )
    write_photon("folder/nested.py", "from luminal import IPhoton\nclass Nested(IPhoton): pass\n")
    write_photon(".hidden.py", "raise RuntimeError('never imported')\n")
    handlers = await loader.load_photons(photon_dir)
    assert sorted(handler.name for handler in handlers) == ["first", "one", "second"]
    more = await loader.load_photons(photon_dir, recursive=True)
    assert sorted(handler.name for handler in more) == [
        "Nested",
        "first",
        "one",
        "pkg",
        "second",
    ]
    assert sorted(loader.photons) == ["Nested", "first", "one", "pkg", "second"]


async def test_directory_of_packages_only_loads_them(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("alpha/__init__.py", ONE)
    write_photon("beta/__init__.py", TWO)
    handlers = await loader.load_photons(photon_dir)
    assert sorted(handler.name for handler in handlers) == ["first", "one", "second"]


async def test_every_spelling_of_a_file_names_the_same_photon(
    loader: Loader,
    write_photon: WritePhoton,
    photon_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_photon("counted.py", COUNTED)
    write_photon("sub/placeholder.txt", "")
    link = photon_dir.parent / "link"
    link.symlink_to(photon_dir, target_is_directory=True)
    monkeypatch.chdir(photon_dir.parent)
    handler = await loader.load_photon(path)
    spellings: list[str | os.PathLike[str]] = [
        "photons/counted.py",
        "./photons/../photons/counted.py",
        str(photon_dir / "sub" / ".." / "counted.py"),
        link / "counted.py",
        "link/counted.py",
        Path("photons", "counted.py"),
    ]
    for spelling in spellings:
        assert await loader.load_photon(spelling) is handler
    assert (photon_dir / "runs.txt").read_text() == "run\n"
    assert list(loader.photons) == ["counted"]


async def test_directory_spellings_do_not_import_again(
    loader: Loader,
    write_photon: WritePhoton,
    photon_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_photon("counted.py", COUNTED)
    link = photon_dir.parent / "link"
    link.symlink_to(photon_dir, target_is_directory=True)
    monkeypatch.chdir(photon_dir.parent)
    first = await loader.load_photons(photon_dir)
    for spelling in ["photons", "photons/", str(photon_dir) + os.sep, "link/", "photons/../link"]:
        assert await loader.load_photons(spelling) == first
    assert (photon_dir / "runs.txt").read_text() == "run\n"


async def test_name_collision_refuses_the_second_file_naming_both(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    first = write_photon("a.py", ONE)
    second = write_photon("b.py", ONE)
    handler = await loader.load_photon(first)
    modules_before = set(sys.modules)
    with pytest.raises(PhotonNameConflictError) as caught:
        await loader.load_photon(second)
    assert set(sys.modules) == modules_before
    error = caught.value
    assert str(first.resolve()) in str(error)
    assert str(second.resolve()) in str(error)
    assert error.photon_name == "one"
    assert error.existing_path == str(first.resolve())
    assert loader.photons["one"] is handler
    assert [reported for _, reported in observer.errors] == [error]


async def test_two_classes_with_one_name_in_a_file_are_refused(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "twins.py",
        """
        from luminal import IPhoton

        class A(IPhoton, name="twin"):
            pass

        class B(IPhoton, name="twin"):
            pass
        """,
    )
    with pytest.raises(PhotonNameConflictError):
        await loader.load_photon(path)
    assert dict(loader.photons) == {}


PHOTON_NAMED_PHOTON = """
    from luminal import IPhoton

    class Photon(IPhoton):
        number = {number}
"""


async def test_fifty_files_named_photon_load_one_and_report_the_rest(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton, photon_dir: Path
) -> None:
    for number in range(50):
        write_photon(f"photon_{number:02}.py", PHOTON_NAMED_PHOTON.format(number=number))
    write_photon("unique.py", ONE)
    modules_before = len(sys.modules)
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(photon_dir)
    assert len(sys.modules) == modules_before + 2
    error = caught.value
    assert len(error.errors) == 49
    assert all(isinstance(item, PhotonNameConflictError) for item in error.errors)
    assert sorted(handler.name for handler in error.handlers) == ["Photon", "one"]
    assert sorted(loader.photons) == ["Photon", "one"]
    assert len(observer.errors) == 49
    kept = loader.photons["Photon"]
    assert all(item.existing_path == kept.filepath for item in error.errors)  # type: ignore[attr-defined]


async def test_fifty_files_named_photon_with_suppress_errors(
    write_photon: WritePhoton, photon_dir: Path
) -> None:
    for number in range(50):
        write_photon(f"photon_{number:02}.py", PHOTON_NAMED_PHOTON.format(number=number))
    async with Loader(suppress_errors=True) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer)
        handlers = await loader.load_photons(photon_dir)
        assert [handler.name for handler in handlers] == ["Photon"]
        assert len(observer.errors) == 49


async def test_a_broken_file_does_not_stop_the_directory(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("a_good.py", ONE)
    write_photon("b_broken.py", "import module_that_does_not_exist_anywhere\n")
    write_photon("c_good.py", TWO)
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(photon_dir)
    assert [type(item.__cause__) for item in caught.value.errors] == [ModuleNotFoundError]
    assert sorted(loader.photons) == ["first", "one", "second"]
    assert sorted(handler.name for handler in caught.value.handlers) == ["first", "one", "second"]


async def test_helper_module_next_to_a_photon_is_importable(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    helper_name = f"helper_{photon_dir.parent.name}"
    write_photon(f"{helper_name}.py", "ANSWER = 42\n")
    path = write_photon(
        "uses_helper.py",
        f"""
        from luminal import IPhoton
        from {helper_name} import ANSWER

        class UsesHelper(IPhoton):
            answer = ANSWER
        """,
    )
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    assert handler.photon_class is not None
    assert handler.photon_class.answer == 42  # type: ignore[attr-defined]
    await loader.unload_photon(handler, force_stop=True)
    assert helper_name not in sys.modules


IMPORT_GATE = threading.Event()
THREADS: dict[str, int] = {}


async def test_import_runs_off_the_loop_and_instances_on_it(
    loader: Loader, write_photon: WritePhoton
) -> None:
    IMPORT_GATE.clear()
    THREADS.clear()
    path = write_photon(
        "slow.py",
        """
        import threading
        from luminal import IPhoton
        from tests.test_loader_load import IMPORT_GATE, THREADS

        THREADS["import"] = threading.get_ident()
        THREADS["released"] = IMPORT_GATE.wait(timeout=30)

        class Slow(IPhoton):
            def __init__(self):
                THREADS["init"] = threading.get_ident()
        """,
    )
    ticks = 0
    loading = True

    async def ticker() -> None:
        nonlocal ticks
        while loading:
            ticks += 1
            if ticks == 5:
                IMPORT_GATE.set()
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    handler = await loader.load_photon(path)
    loading = False
    await ticking
    assert isinstance(handler, Handler)
    assert THREADS["released"] is True
    assert ticks >= 5
    loop_thread = threading.get_ident()
    assert THREADS["import"] != loop_thread
    await handler.start()
    assert THREADS["init"] == loop_thread


async def test_a_blocking_import_does_not_stall_the_loop(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "blocking.py",
        """
        import time
        from luminal import IPhoton

        time.sleep(0.3)

        class Blocking(IPhoton):
            pass
        """,
    )
    ticks = 0
    loading = True

    async def ticker() -> None:
        nonlocal ticks
        while loading:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    await loader.load_photon(path)
    loading = False
    await ticking
    assert ticks > 2


async def test_concurrent_loads_of_one_file_import_it_once(
    loader: Loader, write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("counted.py", COUNTED)
    spellings: list[str | Path] = [
        path,
        str(path),
        photon_dir / ".." / "photons" / "counted.py",
    ] * 7
    results = await asyncio.gather(*(loader.load_photon(spelling) for spelling in spellings))
    assert all(result is results[0] for result in results)
    assert (photon_dir / "runs.txt").read_text() == "run\n"


async def test_a_file_read_in_short_pieces_loads_whole(
    loader: Loader, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read may return less than asked (network and FUSE file systems do): the source is read
    to its end, never run from a prefix that happens to compile."""
    path = write_photon(
        "pieces.py",
        "from luminal import IPhoton\n\n"
        + "# padding\n" * 200
        + "class Photon(IPhoton, name='pieces'):\n    pass\n",
    )
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda descriptor, size: real_read(descriptor, min(size, 10)))

    handler = await loader.load_photon(path)

    assert not isinstance(handler, list)
    assert handler.name == "pieces"
    assert handler.checksum == hashlib.sha512(path.read_bytes()).hexdigest()
