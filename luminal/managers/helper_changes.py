"""The watch's memory of helper modules: what each changed to, and which users do not run it yet.

A changed helper reloads every user that is there in one atomic step. Users that were away then
(deleted, in their grace delay) are *behind*: reloaded, even unchanged, if they come back. A
helper whose users' reload failed (one of them broken on its own, say) is *held back*: they all
keep the helper they run, and the change is applied again, to all of them, once one of them
changes (its fix).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

from luminal.finders import SourceLoader
from luminal.managers.disk_state import current_checksum, source_present
from luminal.managers.registry import Registry

__all__ = ["HelperChanges"]


class HelperChanges:
    """The helper changes a watch applied, by helper location (a file or package directory)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.checksums: dict[Path, str] = {}
        """The content of each helper whose change was last applied."""
        self.behind: set[Path] = set()
        """Users that were away when their helper changed: reload them if they come back."""
        self._held_back: set[Path] = set()
        self._applying: dict[Path, set[Path]] = {}

    async def add_groups(
        self, paths: set[Path], gone: set[Path], groups: list[set[Path]], away: Iterable[Path]
    ) -> bool:
        """Add a group per helper that changed, or is held back and one of whose users the
        changed ``paths`` touch, to ``groups`` (its users there now); whether any was. A user
        that is away is left out (it would fail the group), and remembered. A helper ``away``
        (deleted, in its grace delay) is not changed yet: a safe-write with a gap brings it
        back, and if it stays away its deletion is applied once the delay is over."""
        changed = False
        users_of = self._registry.helper_users()
        imported = self._registry.helper_checksums()  # what runs, until a change is applied
        for unused in self.checksums.keys() - users_of.keys():
            del self.checksums[unused]  # gone from sys.modules: its next user reads it
        self._held_back &= users_of.keys()
        self._applying = {}
        away = set(away)
        for location, users in users_of.items():
            if location in away:
                # Maybe deleted for a moment: its users wait for its return or for the grace
                # delay to pass, but no source importing it meanwhile takes their copy.
                self._registry.set_aside_helper(location)
                continue
            retry = location in self._held_back and _touches(paths, users)
            if not (retry or _touches(paths, [location])):
                continue
            current = await asyncio.to_thread(current_checksum, location)
            if not retry and current is not None and self._runs(location, current, imported):
                continue
            if current is not None:
                self.checksums[location] = current
            changed = True
            there = {user for user in users - gone if source_present(user)}
            self.behind |= users - gone - there
            # Every source importing it from now on (its users' reload, a photon that starts
            # using it) runs the changed file anew: none takes the old one from sys.modules.
            self._registry.set_aside_helper(location)
            self._held_back.discard(location)
            self._applying[location] = there
            groups.append(there)
        return changed

    def _runs(self, location: Path, current: str, imported: Mapping[Path, str | None]) -> bool:
        """Whether the users of the helper at ``location`` run ``current`` already: the change
        applied last, else (a ``touch`` right after the tree loaded) the bytes their copy was
        compiled from (``imported``). A helper whose copies were set aside counts as changed:
        no import takes them any more."""
        copies = self._registry.helper_copies(location)
        if any(getattr(_loader_of(copy), "set_aside", False) for copy in copies):
            return False  # an import now runs another copy than theirs (it went meanwhile)
        return self.checksums.get(location, imported.get(location)) == current

    def failed(self, group: Iterable[Path]) -> None:
        """The reload of ``group`` failed: the helper changes it was to bring are held back."""
        failed = set(group)
        self._held_back.update(
            location for location, users in self._applying.items() if users & failed
        )

    def reloaded(self, paths: Iterable[Path]) -> None:
        """These sources were reloaded (or unloaded): none is behind its helpers any more."""
        self.behind.difference_update(paths)


def _touches(paths: Iterable[Path], sources: Iterable[Path]) -> bool:
    """Whether a changed path is one of ``sources`` or lies in one (a package)."""
    return any(path.is_relative_to(source) for source in sources for path in paths)


def _loader_of(module: ModuleType) -> SourceLoader | None:
    loader = getattr(module.__spec__, "loader", None)
    return loader if isinstance(loader, SourceLoader) else None
