"""Every path a user can pass is handled: empty paths, FIFOs, odd names, loops, build output."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from luminal import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    Loader,
    PhotonLoadError,
    PhotonNotFoundError,
)
from luminal.testing import EventRecorder, WritePhoton
from luminal.trust import read_lock, write_lock
from tests.watch_support import greeter, greetings, wait_for

PHOTON = (
    "from luminal import IPhoton\n\nclass {name}(IPhoton):\n    async def finalize(self): pass\n"
)
DEADLINE = 10.0


def write_bytes_named(name: bytes, text: str) -> None:
    """Write ``text`` to a file whose name is given as raw bytes."""
    with open(name, "w") as file:
        file.write(text)


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@pytest.fixture
def cwd_with_photon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a photon that leaves a marker if it is ever imported."""
    here = tmp_path / "cwd"
    here.mkdir()
    marker = tmp_path / "imported-from-cwd"
    (here / "bystander.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(here)
    return marker


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda loader: loader.load_photons(""), DirectoryNotFoundError),
        (lambda loader: loader.load_photon(""), PhotonNotFoundError),
        (lambda loader: loader.watch_photons(""), DirectoryNotFoundError),
        (lambda loader: loader.reload_photon(""), PhotonNotFoundError),
        (lambda loader: loader.unload_photon(""), PhotonNotFoundError),
        (lambda loader: loader.unload_photon("", force_stop=True), PhotonNotFoundError),
        (lambda loader: loader.reload_photons([""]), PhotonNotFoundError),
        (lambda loader: loader.unload_photons([""]), PhotonNotFoundError),
    ],
    ids=[
        "load_photons",
        "load_photon",
        "watch_photons",
        "reload_photon",
        "unload_photon",
        "unload_photon-force",
        "reload_photons",
        "unload_photons",
    ],
)
async def test_empty_path_is_not_found_never_the_current_directory(
    cwd_with_photon: Path,
    call: Callable[[Loader], Awaitable[object]],
    error: type[Exception],
) -> None:
    async with Loader() as loader:
        with pytest.raises(error):
            await call(loader)
        assert dict(loader.photons) == {}
    assert not cwd_with_photon.exists()


UNREACHABLE = {
    "nul-byte": "/tmp/nul\0byte.py",
    "name-too-long": "/tmp/" + "n" * 300 + ".py",
    "path-too-long": "/tmp/" + "/".join(["d" * 200] * 25) + ".py",
}


@pytest.mark.parametrize("spelling", sorted(UNREACHABLE))
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda loader, path: loader.load_photons(path[:-3]), DirectoryNotFoundError),
        (lambda loader, path: loader.load_photon(path), PhotonNotFoundError),
        (lambda loader, path: loader.watch_photons(path[:-3]), DirectoryNotFoundError),
        (lambda loader, path: loader.reload_photon(path), PhotonNotFoundError),
        (lambda loader, path: loader.unload_photon(path), PhotonNotFoundError),
    ],
    ids=["load_photons", "load_photon", "watch_photons", "reload_photon", "unload_photon"],
)
async def test_a_path_that_cannot_exist_is_not_found(
    photon_dir: Path,
    write_photon: WritePhoton,
    call: Callable[[Loader, str], Awaitable[object]],
    error: type[Exception],
    spelling: str,
) -> None:
    """A NUL byte or a name the system refuses as too long is a not-found error of the
    documented type, like any path with nothing there; what is loaded stays."""
    write_photon("kept.py", PHOTON.format(name="Kept"))
    async with Loader() as loader:
        await loader.load_photons(photon_dir)
        with pytest.raises(error):
            await call(loader, UNREACHABLE[spelling])
        assert list(loader.photons) == ["Kept"]


async def test_a_sub_directory_that_cannot_be_listed_is_reported_and_the_rest_loads(
    photon_dir: Path, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a directory without read permission is to another user (root reads any)."""
    write_photon("kept.py", PHOTON.format(name="Kept"))
    write_photon("closed/inner.py", PHOTON.format(name="Inner"))
    closed = photon_dir / "closed"
    scandir = os.scandir

    def refusing(path: Any = ".") -> Any:
        if os.fspath(path) == str(closed):
            raise PermissionError(13, "Permission denied", str(closed))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    async with Loader() as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir, recursive=True)
        [problem] = caught.value.errors
        assert isinstance(problem, PhotonLoadError)
        assert f"{closed}: it cannot be listed: Permission denied" in str(problem)
        assert list(loader.photons) == ["Kept"]


async def test_empty_path_among_more_directories_is_not_found(
    cwd_with_photon: Path, photon_dir: Path
) -> None:
    async with Loader() as loader:
        with pytest.raises(DirectoryNotFoundError):
            await loader.watch_photons(photon_dir, more_directories=[""])
    assert not cwd_with_photon.exists()


async def test_empty_path_for_a_loaded_package_in_the_current_directory_is_not_found(
    photon_dir: Path, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_photon("pack/__init__.py", PHOTON.format(name="Pack"))
    async with Loader() as loader:
        await loader.load_photon(photon_dir / "pack" / "__init__.py")
        monkeypatch.chdir(photon_dir / "pack")
        with pytest.raises(PhotonNotFoundError):
            await loader.unload_photon("", force_stop=True)
        assert list(loader.photons) == ["Pack"]


@needs_fifo
async def test_fifo_named_like_a_photon_is_skipped_with_a_report(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader, observer: EventRecorder
) -> None:
    write_photon("good.py", PHOTON.format(name="Good"))
    os.mkfifo(photon_dir / "pipe.py")
    with pytest.raises(DirectoryLoadError) as caught:
        await asyncio.wait_for(loader.load_photons(photon_dir), DEADLINE)
    assert list(loader.photons) == ["Good"]
    [error] = caught.value.errors
    assert "not a regular file (a FIFO)" in str(error)
    assert [path for path, _ in observer.errors] == [str(photon_dir / "pipe.py")]


@needs_fifo
async def test_fifo_inside_a_package_never_blocks_the_load(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader
) -> None:
    write_photon("pack/__init__.py", PHOTON.format(name="Pack"))
    os.mkfifo(photon_dir / "pack" / "pipe.py")
    handler = await asyncio.wait_for(
        loader.load_photon(photon_dir / "pack" / "__init__.py", recursive=True), DEADLINE
    )
    assert not isinstance(handler, list)
    assert handler.name == "Pack"


@needs_fifo
async def test_fifo_given_as_a_photon_file_is_a_load_error(
    photon_dir: Path, loader: Loader
) -> None:
    os.mkfifo(photon_dir / "pipe.py")
    with pytest.raises(PhotonLoadError, match="not a regular file"):
        await asyncio.wait_for(loader.load_photon(photon_dir / "pipe.py"), DEADLINE)


@needs_fifo
def test_locking_a_tree_with_fifos_does_not_block(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("good.py", PHOTON.format(name="Good"))
    write_photon("pack/__init__.py", PHOTON.format(name="Pack"))
    os.mkfifo(photon_dir / "pipe.py")
    os.mkfifo(photon_dir / "pack" / "pipe.py")
    pins = read_lock(write_lock(photon_dir))
    assert set(pins) == {photon_dir / "good.py", photon_dir / "pack"}


@needs_fifo
async def test_helper_that_is_a_fifo_is_refused_without_blocking(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader
) -> None:
    user = write_photon("user.py", "import helperpipe\n" + PHOTON.format(name="User"))
    os.mkfifo(photon_dir / "helperpipe.py")
    with pytest.raises(PhotonLoadError, match="not a regular file"):
        await asyncio.wait_for(loader.load_photon(user), DEADLINE)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
async def test_file_name_that_is_not_utf8_fails_alone(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader, observer: EventRecorder
) -> None:
    write_photon("good.py", PHOTON.format(name="Good"))
    bad = os.path.join(os.fsencode(photon_dir), b"caf\xe9.py")
    write_bytes_named(bad, PHOTON.format(name="Cafe"))
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(photon_dir)
    assert list(loader.photons) == ["Good"]
    [error] = caught.value.errors
    assert isinstance(error, PhotonLoadError)
    assert "not valid UTF-8" in str(error)
    assert "caf\\xe9.py" in str(error)
    assert len(observer.errors) == 1


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
async def test_photon_file_given_by_a_name_that_is_not_utf8_is_a_load_error(
    photon_dir: Path, loader: Loader
) -> None:
    bad = os.path.join(os.fsencode(photon_dir), b"caf\xe9.py")
    write_bytes_named(bad, PHOTON.format(name="Cafe"))
    with pytest.raises(PhotonLoadError, match="not valid UTF-8"):
        await loader.load_photon(os.fsdecode(bad))


async def test_directory_symlink_loop_terminates_and_is_reported(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader, observer: EventRecorder
) -> None:
    write_photon("nested/inner.py", PHOTON.format(name="Inner"))
    (photon_dir / "nested" / "loop").symlink_to(photon_dir, target_is_directory=True)
    (photon_dir / "nested" / "self").symlink_to(photon_dir / "nested", target_is_directory=True)
    with pytest.raises(DirectoryLoadError) as caught:
        await asyncio.wait_for(loader.load_photons(photon_dir, recursive=True), DEADLINE)
    assert list(loader.photons) == ["Inner"]
    assert len(caught.value.errors) == 2
    assert all("loops back" in str(error) for error in caught.value.errors)
    assert len(observer.errors) == 2


OUTPUT_DIRECTORIES = [
    "build/lib",
    "dist",
    "project.egg-info",
    ".venv/lib",
    "venv",
    "env",
    ".tox/py312",
    ".nox/tests",
    "lib/site-packages",
    "node_modules/pkg",
    ".hidden",
]


async def test_build_and_environment_output_is_never_a_photon_source(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader
) -> None:
    write_photon("real.py", PHOTON.format(name="Real"))
    for index, directory in enumerate(OUTPUT_DIRECTORIES):
        write_photon(f"{directory}/stale{index}.py", PHOTON.format(name=f"Stale{index}"))
        write_photon(f"{directory}/pkg{index}/__init__.py", PHOTON.format(name=f"Pkg{index}"))
    write_photon("env/pyvenv.cfg", "home = /usr/bin\n")
    handlers = await loader.load_photons(photon_dir, recursive=True)
    assert [handler.name for handler in handlers] == ["Real"]


async def test_project_directory_given_directly_loads_its_source_tree_not_build_lib(
    tmp_path: Path, loader: Loader
) -> None:
    for layout, package_parent in (("src", "src/"), ("flat", "")):
        project = tmp_path / layout
        (project / f"{package_parent}hello").mkdir(parents=True)
        (project / "pyproject.toml").write_text("[project]\nname = 'hello'\n")
        (project / f"{package_parent}hello" / "__init__.py").write_text(
            PHOTON.format(name=f"Fresh_{layout}")
        )
        stale = project / "build" / "lib" / "hello"
        stale.mkdir(parents=True)
        (stale / "__init__.py").write_text(PHOTON.format(name=f"Stale_{layout}"))
        handlers = await loader.load_photons(project, recursive=True)
        assert [handler.name for handler in handlers] == [f"Fresh_{layout}"]
        assert Path(handlers[0].filepath) == project / f"{package_parent}hello"


async def test_project_directory_runs_none_of_its_scripts_docs_or_tests(
    tmp_path: Path, loader: Loader
) -> None:
    marker = tmp_path / "script-ran"
    script = f"open({str(marker)!r}, 'a').close()\n"
    for layout, package_parent in (("src", "src/"), ("flat", "")):
        project = tmp_path / layout
        (project / f"{package_parent}hello").mkdir(parents=True)
        (project / f"{package_parent}hello" / "__init__.py").write_text(
            PHOTON.format(name=f"Hello_{layout}")
        )
        (project / "setup.py").write_text(script)
        (project / "noxfile.py").write_text(script)
        for folder in ("docs", "tests"):
            (project / folder).mkdir()
            (project / folder / "__init__.py").write_text(script)
            (project / folder / "conf.py").write_text(script)
        handlers = await loader.load_photons(project, recursive=True)
        assert [handler.name for handler in handlers] == [f"Hello_{layout}"]
        assert set(read_lock(write_lock(project))) == {Path(handlers[0].filepath)}
    assert not marker.exists()


@pytest.mark.parametrize(
    "call",
    [
        lambda loader: loader.unload_photon("missing.py", force_stop="yes"),
        lambda loader: loader.unload_photons(["missing.py"], force_stop=1),
        lambda loader: loader.unload_photons("missing.py"),
        lambda loader: loader.reload_photon(42),
        lambda loader: loader.reload_photons("missing.py"),
        lambda loader: loader.load_photon("missing.py", recursive="yes"),
        lambda loader: loader.load_photons("missing", other_classes="Photon"),
        lambda loader: loader.stop_watching_photons(halt_threads="yes"),
        lambda loader: loader.watch_photons("missing", debounce="fast"),
    ],
    ids=[
        "unload_photon",
        "unload_photons-flag",
        "unload_photons-list",
        "reload_photon",
        "reload_photons",
        "load_photon",
        "load_photons",
        "stop_watching_photons",
        "watch_photons",
    ],
)
async def test_argument_types_are_checked_before_any_lookup(
    loader: Loader, call: Callable[[Loader], Awaitable[object]]
) -> None:
    with pytest.raises(TypeError):
        await call(loader)


async def test_per_file_bookkeeping_is_released_on_unload(tmp_path: Path) -> None:
    directory = tmp_path / "many"
    directory.mkdir()
    count = 10_000
    for index in range(count):
        source = PHOTON.format(name=f"P{index}") if index % 10 else "syntax error here\n"
        (directory / f"p{index}.py").write_text(source)
    async with Loader(suppress_errors=True) as loader:
        handlers = await loader.load_photons(directory)
        assert len(handlers) == count - count // 10
        await loader.unload_photons(handlers, force_stop=True)
        assert dict(loader.photons) == {}
        assert loader._registry.idle


@needs_fifo
async def test_fifos_appearing_under_watching_never_stop_it(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("helpers.py", "WORD = 'hi'\n")
    write_photon("user.py", greeter("from user", name="user", extra="import helpers"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["from user ada"]

    (photon_dir / "helpers.py").unlink()
    os.mkfifo(photon_dir / "helpers.py")
    os.mkfifo(photon_dir / "pipe.py")
    write_photon("other.py", greeter("hello", name="other"))
    await wait_for(lambda: greetings(watching) == ["from user ada", "hello ada"])


async def test_failure_memory_of_a_deleted_file_is_released_under_watching(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("good.py", greeter("hi", name="good"))
    await watching.watch_photons(photon_dir)
    broken = write_photon("broken.py", "this is not python\n")
    await wait_for(lambda: any(path == str(broken) for path, _ in recorder.errors))
    watch = watching._watch
    assert watch is not None
    await wait_for(lambda: broken in watch.failures.loads)
    broken.unlink()
    await wait_for(lambda: broken not in watch.failures.loads)
    assert greetings(watching) == ["hi ada"]


async def test_watching_a_project_directory_never_runs_its_scripts(
    watching: Loader, tmp_path: Path, recorder: EventRecorder
) -> None:
    project = tmp_path / "project"
    package = project / "src" / "hello"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'hello'\n")
    (package / "__init__.py").write_text(greeter("hi", name="hello"))
    await watching.watch_photons(project)
    assert greetings(watching) == ["hi ada"]

    marker = tmp_path / "script-ran"
    (project / "setup.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (project / "loop").symlink_to(project, target_is_directory=True)
    (package / "__init__.py").write_text(greeter("hello", name="hello"))
    await wait_for(lambda: greetings(watching) == ["hello ada"])
    assert not marker.exists()
    assert not recorder.errors


async def test_socket_and_device_named_like_photons_are_skipped_with_a_report(
    tmp_path: Path, loader: Loader, observer: EventRecorder
) -> None:
    socket_module = pytest.importorskip("socket")
    if not hasattr(socket_module, "AF_UNIX") or not Path(os.devnull).exists():
        pytest.skip("needs Unix sockets and a null device")
    directory = tmp_path / "p"  # short: a Unix socket path is limited to about 100 bytes
    directory.mkdir()
    (directory / "good.py").write_text(PHOTON.format(name="Good"))
    (directory / "device.py").symlink_to(os.devnull)
    with socket_module.socket(socket_module.AF_UNIX) as server:
        server.bind(str(directory / "sock.py"))
        with pytest.raises(DirectoryLoadError) as caught:
            await asyncio.wait_for(loader.load_photons(directory), DEADLINE)
    assert list(loader.photons) == ["Good"]
    reasons = sorted(str(error).rpartition(": ")[2] for error in caught.value.errors)
    assert reasons == ["it is not a regular file (a device)", "it is not a regular file (a socket)"]
    assert sorted(path for path, _ in observer.errors) == [
        str(directory / "device.py"),
        str(directory / "sock.py"),
    ]


async def test_symlink_to_another_source_of_the_tree_loads_it_once(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader
) -> None:
    write_photon("real.py", PHOTON.format(name="Real"))
    (photon_dir / "alias.py").symlink_to(photon_dir / "real.py")
    handlers = await loader.load_photons(photon_dir)
    assert [handler.name for handler in handlers] == ["Real"]
