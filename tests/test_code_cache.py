"""The code cache: a second load unmarshals, changed bytes are a new key, a corrupt entry is
rewritten, and under a trust policy a directory others may write is not used."""

from __future__ import annotations

import importlib.machinery
import logging
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from luminal import Handler, Loader, TrustPolicy
from luminal.codecache import CodeCache, default_directory
from luminal.testing import WritePhoton

PHOTON = """
    from luminal import IPhoton

    GENERATION = {generation}

    class Cached(IPhoton):
        pass
"""


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths compiled from source from now on."""
    compiled: list[str] = []
    original = importlib.machinery.SourceFileLoader.source_to_code

    def counting(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> CodeType:
        compiled.append(str(path))
        return original(self, data, path, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", counting)
    return compiled


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.code"))


async def load_generation(path: Path, cache: Path | bool | None, **kwargs: Any) -> int:
    async with Loader(code_cache=cache, **kwargs) as loader:
        handler = await loader.load_photon(path)
        assert isinstance(handler, Handler)
        generation: int = sys.modules[handler.module_name].GENERATION
    return generation


async def test_second_loader_unmarshals_instead_of_compiling(
    write_photon: WritePhoton, tmp_path: Path, compiles: list[str]
) -> None:
    cache = tmp_path / "cache"
    path = write_photon("cached.py", PHOTON.format(generation=1))
    assert await load_generation(path, cache) == 1
    assert compiles == [str(path)]
    (entry,) = entries(cache)
    assert await load_generation(path, cache) == 1
    assert compiles == [str(path)]
    assert entries(cache) == [entry]


async def test_entries_and_directory_are_owner_only(
    write_photon: WritePhoton, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    await load_generation(write_photon("cached.py", PHOTON.format(generation=1)), cache)
    assert cache.stat().st_mode & 0o777 == 0o700
    (entry,) = entries(cache)
    assert entry.stat().st_mode & 0o777 == 0o600


async def test_changed_bytes_are_a_new_key_never_stale(
    write_photon: WritePhoton, tmp_path: Path, compiles: list[str]
) -> None:
    cache = tmp_path / "cache"
    path = write_photon("cached.py", PHOTON.format(generation=1))
    assert await load_generation(path, cache) == 1
    stat = path.stat()
    write_photon("cached.py", PHOTON.format(generation=2))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert await load_generation(path, cache) == 2
    assert len(compiles) == 2
    assert len(entries(cache)) == 2


async def test_a_reloaded_version_is_compiled_and_not_stored(
    write_photon: WritePhoton, tmp_path: Path, compiles: list[str]
) -> None:
    cache = tmp_path / "cache"
    path = write_photon("cached.py", PHOTON.format(generation=1))
    async with Loader(code_cache=cache) as loader:
        handler = await loader.load_photon(path)
        assert isinstance(handler, Handler)
        (first_entry,) = entries(cache)
        write_photon("cached.py", PHOTON.format(generation=2))
        reloaded = await loader.reload_photon(handler)
        assert isinstance(reloaded, Handler)
        assert sys.modules[reloaded.module_name].GENERATION == 2
    assert compiles == [str(path), str(path)]
    assert entries(cache) == [first_entry]
    assert await load_generation(path, cache) == 2
    assert len(compiles) == 3
    assert len(entries(cache)) == 2


@pytest.mark.parametrize("damage", [b"", b"not a code cache entry", None])
async def test_corrupt_entry_is_ignored_and_rewritten(
    write_photon: WritePhoton, tmp_path: Path, compiles: list[str], damage: bytes | None
) -> None:
    cache = tmp_path / "cache"
    path = write_photon("cached.py", PHOTON.format(generation=1))
    await load_generation(path, cache)
    (entry,) = entries(cache)
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2] if damage is None else damage)
    assert await load_generation(path, cache) == 1
    assert len(compiles) == 2
    assert entry.read_bytes() == good
    assert await load_generation(path, cache) == 1
    assert len(compiles) == 2


@pytest.mark.parametrize("off", [False, None])
async def test_off_switch_compiles_every_time(
    write_photon: WritePhoton,
    tmp_path: Path,
    compiles: list[str],
    monkeypatch: pytest.MonkeyPatch,
    off: bool | None,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = write_photon("cached.py", PHOTON.format(generation=1))
    await load_generation(path, off)
    await load_generation(path, off)
    assert len(compiles) == 2
    assert not default_directory().exists()


async def test_default_is_the_per_user_directory(
    write_photon: WritePhoton, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    await load_generation(write_photon("cached.py", PHOTON.format(generation=1)), True)
    assert default_directory() == tmp_path / "xdg" / "luminal" / "code"
    assert len(entries(default_directory())) == 1


async def test_trust_refuses_a_directory_others_may_write(
    write_photon: WritePhoton,
    tmp_path: Path,
    compiles: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    path = write_photon("cached.py", PHOTON.format(generation=1))
    with caplog.at_level(logging.WARNING, logger="luminal.codecache"):
        assert await load_generation(path, cache, trust=TrustPolicy()) == 1
    assert entries(cache) == []
    assert len(compiles) == 1
    assert any("others may write" in record.getMessage() for record in caplog.records)
    await load_generation(path, cache)  # without a trust policy the directory is used
    assert len(entries(cache)) == 1


async def test_an_entry_copied_under_another_key_is_not_used(
    write_photon: WritePhoton, photon_dir: Path, tmp_path: Path, compiles: list[str]
) -> None:
    """An entry holds the code of its own key: one renamed to another source's key (whoever
    could write the directory) is ignored and rewritten, never run for that source."""
    cache = tmp_path / "cache"
    first = write_photon("first.py", PHOTON.format(generation=1))
    await load_generation(first, cache)
    (first_entry,) = entries(cache)
    second = write_photon("second.py", PHOTON.format(generation=2))
    await load_generation(second, cache)
    (second_entry,) = set(entries(cache)) - {first_entry}
    second_entry.write_bytes(first_entry.read_bytes())
    assert await load_generation(second, cache) == 2
    assert len(compiles) == 3


@pytest.mark.parametrize("owner_only", [False, True])
async def test_under_trust_an_entry_others_may_write_is_not_used(
    write_photon: WritePhoton, tmp_path: Path, compiles: list[str], owner_only: bool
) -> None:
    """The directory is checked once; each entry where it is read, so an entry that is not
    the user's own private file (planted, or in a directory swapped since) is not used."""
    cache = tmp_path / "cache"
    path = write_photon("cached.py", PHOTON.format(generation=1))
    await load_generation(path, cache, trust=TrustPolicy())
    (entry,) = entries(cache)
    entry.chmod(0o600 if owner_only else 0o666)
    assert await load_generation(path, cache, trust=TrustPolicy()) == 1
    assert len(compiles) == (1 if owner_only else 2)
    await load_generation(path, cache)  # without a trust policy the entry is used
    assert len(compiles) == (1 if owner_only else 2)


async def test_a_code_cache_path_that_cannot_exist_turns_the_cache_off(
    write_photon: WritePhoton, compiles: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_photon("cached.py", PHOTON.format(generation=1))
    with caplog.at_level(logging.WARNING, logger="luminal.codecache"):
        assert await load_generation(path, Path("/tmp/nul\0byte")) == 1
    assert len(compiles) == 1
    assert any("is off" in record.getMessage() for record in caplog.records)


async def test_helper_and_package_modules_go_through_the_cache(
    write_photon: WritePhoton, photon_dir: Path, tmp_path: Path, compiles: list[str]
) -> None:
    cache = tmp_path / "cache"
    write_photon("helper.py", "VALUE = 3\n")
    write_photon("pack/__init__.py", "from .inner import Inner\n")
    write_photon(
        "pack/inner.py",
        "import helper\nfrom luminal import IPhoton\n\n"
        "class Inner(IPhoton):\n    V = helper.VALUE\n",
    )
    for _ in range(2):
        async with Loader(code_cache=cache) as loader:
            handler = await loader.load_photon(photon_dir / "pack" / "__init__.py")
            assert isinstance(handler, Handler)
            assert getattr(handler.photon_class, "V", None) == 3
    assert len(compiles) == 3
    assert len(entries(cache)) == 3


def test_prune_keeps_the_directory_under_its_bound(tmp_path: Path) -> None:
    cache = CodeCache(tmp_path / "cache", max_bytes=0)
    code = cache.code(b"x = 1\n", "a.py", lambda: compile("x = 1\n", "a.py", "exec"))
    assert isinstance(code, CodeType)
    assert entries(tmp_path / "cache") == []


def test_bad_code_cache_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="code_cache"):
        Loader(code_cache=3)  # type: ignore[arg-type]
