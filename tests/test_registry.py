"""The registry: sources by path are its one state, and the name index follows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from luminal import Handler, IPhoton, PhotonNameConflictError, PhotonNotFoundError
from luminal.managers.registry import PhotonSource, Registry


class Lamp(IPhoton, name="lamp"):
    pass


class Switch(IPhoton, name="switch", requires=["lamp"]):
    pass


def source_at(path: Path, *names: str, photon_class: type = Lamp) -> PhotonSource:
    handlers = [Handler(False, name, str(path), "", photon_class) for name in names]
    return PhotonSource(path, f"module_{path.stem}", "", handlers, {}, {}, IPhoton, (), False)


def test_names_follow_the_source_registered_at_a_path(tmp_path: Path) -> None:
    registry = Registry()
    old = source_at(tmp_path / "a.py", "one", "two")
    registry.put(old)
    assert set(registry.photons) == {"one", "two"}
    new = source_at(tmp_path / "a.py", "two", "three")
    registry.put(new)
    assert dict(registry.photons) == {"two": new.handlers[0], "three": new.handlers[1]}
    registry.remove(old)  # no longer the registered version: nothing changes
    assert set(registry.photons) == {"two", "three"}
    registry.remove(new)
    assert dict(registry.photons) == {}
    assert dict(registry.sources) == {}


def test_requirers_index_only_the_photons_that_declare_requirements(tmp_path: Path) -> None:
    registry = Registry()
    registry.put(source_at(tmp_path / "lamp.py", "lamp"))
    switches = source_at(tmp_path / "switch.py", "switch", "dimmer", photon_class=Switch)
    registry.put(switches)
    assert dict(registry.requirers) == {
        "switch": switches.handlers[0],
        "dimmer": switches.handlers[1],
    }
    replaced = source_at(tmp_path / "switch.py", "switch")  # the new version requires nothing
    registry.put(replaced)
    assert dict(registry.requirers) == {}
    registry.put(switches)
    registry.remove(switches)
    assert dict(registry.requirers) == {}
    assert set(registry.photons) == {"lamp"}


def test_resolve_takes_a_handler_a_name_or_a_path(tmp_path: Path) -> None:
    registry = Registry()
    source = source_at(tmp_path / "a.py", "one", "two")
    registry.put(source)
    assert registry.resolve(source.handlers[0]) is source
    assert registry.resolve("two") is source
    assert registry.resolve(tmp_path / "a.py") is source
    assert registry.named(tmp_path / "a.py") == source.handlers
    assert registry.named("one") is source.handlers[0]
    stale = Handler(False, "one", str(tmp_path / "a.py"), "", Lamp)
    with pytest.raises(PhotonNotFoundError):
        registry.resolve(stale)
    with pytest.raises(PhotonNotFoundError):
        registry.resolve("")
    with pytest.raises(TypeError):
        registry.resolve(3)  # type: ignore[arg-type]


def test_a_name_held_by_another_source_is_a_conflict(tmp_path: Path) -> None:
    registry = Registry()
    registry.put(source_at(tmp_path / "a.py", "one"))
    other = source_at(tmp_path / "b.py", "one")
    conflict = registry.conflict(other.handlers)
    assert isinstance(conflict, PhotonNameConflictError)
    assert registry.conflict(other.handlers, replacing=[tmp_path / "a.py"]) is None


async def test_a_paths_lock_and_directory_are_forgotten_once_unused(tmp_path: Path) -> None:
    registry = Registry()
    path = tmp_path / "a.py"
    registry.give_directory(path, tmp_path)
    async with registry.locked([path]):
        assert not registry.idle
    assert registry.idle
    source = source_at(path, "one")
    async with registry.locked([path]):
        registry.put(source)
    assert not registry.idle
    registry.remove(source)
    async with registry.locked([path]):
        pass
    assert registry.idle
