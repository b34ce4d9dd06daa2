"""Applying one installed distribution's change to a loader: an install loads its photons, an
upgrade or downgrade replaces them in one reload transaction, an uninstall unloads them.

:class:`DistributionChanges` is what :class:`~luminal.managers.installed_watch.InstalledWatch`
runs for each distribution that changed. The sources a distribution's entry points name before
and after the change are replaced together (:class:`~luminal.managers.reload.ReloadTarget`), so
a photon whose module moved hands its state over and a failure puts every old photon back. A
source that several distributions name runs the union of their entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from luminal.discovery import (
    EntryPointPolicy,
    EntryPointSelection,
    EntryPointSource,
    find_photon_entry_points,
    locate_sources,
    normalize_distribution_name,
)
from luminal.errors import (
    EntryPointLoadError,
    InstalledUpdateError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonReloadError,
)
from luminal.managers.environment import (
    InstalledDistribution,
    extension_changes,
    opens_section,
    path_file_directories,
    purge_modules,
    top_level_names,
)
from luminal.managers.handler import Handler
from luminal.managers.installed import InstalledPhotons
from luminal.managers.operations import Operations
from luminal.managers.registry import PhotonSource
from luminal.managers.reload import ReloadTarget
from luminal.managers.starting import start_loaded
from luminal.photon import IPhoton

__all__ = ["DistributionChanges"]


class DistributionChanges:
    """The installed distributions of one entry-point group as last applied, and how a change
    of one is applied to the loader's operations."""

    def __init__(
        self,
        operations: Operations,
        group: str,
        policy: EntryPointPolicy | None,
        halted: Callable[[], bool],
    ) -> None:
        self._operations = operations
        self._registry = operations.registry
        self._reporter = operations.reporter
        self.group = group
        self._policy = policy
        self._halted = halted
        self.known: dict[str, InstalledDistribution] = {}
        self._waiting_names: dict[str, set[str]] = {}
        """Distributions (by key) refused for photon names that other sources held."""

    async def apply(
        self, key: str, old: InstalledDistribution | None, new: InstalledDistribution | None
    ) -> None:
        """Apply the change of distribution ``key`` from ``old`` to ``new`` (``None``: not
        installed); a failure is reported and the previous photons keep running."""
        self._waiting_names.pop(key, None)
        loaded = self._loaded_of(key)
        if new is None:
            self.known.pop(key, None)
            await self._uninstall(key, old, loaded)
            return
        self.known[key] = new
        if old is not None and loaded:
            changed = extension_changes(old, new)
            if changed:
                reason = f"its compiled extension modules changed ({', '.join(changed)})"
                await self._refuse(old, new, reason)
                return
        await self._follow_path_files(new)
        located, failed, declared = await self._located(key)
        if not declared and await asyncio.to_thread(opens_section, new, self.group):
            await self._unreadable(old, new, bool(loaded))
            return
        by_path: dict[Path, list[EntryPointSource]] = {}
        for source in located:
            by_path.setdefault(source.path, []).append(source)
        shared = {  # sources that other distributions' entry points loaded
            path: holder
            for path in by_path
            if (holder := self._registry.sources.get(path)) is not None
            and holder.entry_points is not None
        }
        olds = {**loaded, **shared}
        if olds:
            handlers = await self._upgrade(key, olds, by_path, failed, old, new)
        else:
            handlers = await self._install(key, located, failed)
        if handlers is not None:
            await start_loaded(handlers)
            outcome = "its photons are live" if handlers else "none of its photons loaded"
            self._reporter.log(logging.INFO, "%s was %s: %s", new.label, _what(old, new), outcome)

    async def _install(
        self, key: str, located: Sequence[EntryPointSource], failed: Iterable[EntryPointLoadError]
    ) -> list[Handler]:
        """Load the photons of a distribution none of whose sources is loaded; each failure is
        reported and the others load."""
        for error in failed:
            await self._reporter.report(key, InstalledUpdateError(str(error), key, "", ""))
        handlers, refused = await InstalledPhotons(self._operations).load_located(located, IPhoton)
        self.wait_for_names(refused)
        return handlers

    async def _follow_path_files(self, distribution: InstalledDistribution) -> None:
        """Append to ``sys.path`` what the distribution's ``.pth`` files name and it lacks, as
        a restart would: otherwise an editable install made while the host runs is not found."""
        known = {os.path.abspath(entry or ".") for entry in sys.path}
        for directory in await asyncio.to_thread(path_file_directories, distribution):
            if directory not in known:
                sys.path.append(directory)
                self._reporter.log(
                    logging.INFO, "%s: added %s to sys.path", distribution.label, directory
                )

    async def _located(
        self, key: str
    ) -> tuple[list[EntryPointSource], list[EntryPointLoadError], bool]:
        """The distribution's entry points the policy admits, located, and those that cannot
        be; and whether it declares any in the group (the policy aside)."""

        def find() -> tuple[list[EntryPointSource], list[EntryPointLoadError], bool]:
            declared = [
                entry
                for entry in find_photon_entry_points(self.group)
                if normalize_distribution_name(entry.distribution) == key
            ]
            policy = self._policy
            admitted = [e for e in declared if policy is None or policy.refusal(e) is None]
            return (*locate_sources(admitted), bool(declared))

        return await asyncio.to_thread(find)

    async def _upgrade(
        self,
        key: str,
        olds: Mapping[Path, PhotonSource],
        by_path: Mapping[Path, Sequence[EntryPointSource]],
        failed: Sequence[EntryPointLoadError],
        old: InstalledDistribution | None,
        new: InstalledDistribution,
    ) -> list[Handler] | None:
        """Replace the loaded sources of the distribution (and those it shares with others) by
        the new version's, in one reload transaction; ``None`` if refused (reported), as when
        an entry point of the new version cannot be found."""
        if failed:
            reason = "; ".join(str(error) for error in failed)
            await self._refuse(old, new, f"the new version failed to load: {reason}")
            return None
        targets = _targets(key, olds, by_path)
        names = set().union(*(_installed_names(source) for source in olds.values()))
        if old is not None:
            names |= top_level_names(old)
        purged = purge_modules(names | top_level_names(new))
        try:
            return await self._operations.reload_paths(sorted(olds), targets, report=False)
        except asyncio.CancelledError:
            sys.modules.update(purged)
            raise
        except PhotonReloadError as error:
            sys.modules.update(purged)
            self.wait_for_names([error], key)
            reason = f"the new version failed to load: {error}"
            await self._refuse(old, new, reason, error)
        except PhotonNotFoundError:
            pass  # unloaded meanwhile by the host
        return None

    async def _uninstall(
        self, key: str, old: InstalledDistribution | None, loaded: Mapping[Path, PhotonSource]
    ) -> None:
        """Unload the photons of an uninstalled distribution: a source that another
        distribution's entry points also name reloads with those only."""
        label = old.label if old is not None else key
        shared = {
            path: source for path, source in loaded.items() if _others(key, source.entry_points)
        }
        for path in sorted(set(loaded) - set(shared)):
            with contextlib.suppress(PhotonNotFoundError):
                await self._operations.unload_path(path, discard_unstarted=True)
        if shared:
            try:
                handlers = await self._operations.reload_paths(
                    sorted(shared), _targets(key, shared, {}), report=False
                )
            except PhotonReloadError as error:
                message = (
                    f"{label} was uninstalled, but the sources it shares with other "
                    f"distributions cannot reload without its photons: {error}"
                )
                update = InstalledUpdateError(message, key, old.version if old else "", "")
                update.__cause__ = error
                await self._reporter.report(key, update)
                return
            except PhotonNotFoundError:
                return
            await start_loaded(handlers)
        self._reporter.log(logging.INFO, "%s was uninstalled: its photons are unloaded", label)

    def wait_for_names(self, failures: Iterable[Exception], key: str = "") -> None:
        """Remember the distributions (``key``, or each entry point's) refused because another
        source held a photon name."""
        for failure in failures:
            conflict = failure.__cause__
            if isinstance(conflict, PhotonNameConflictError):
                if isinstance(failure, EntryPointLoadError):
                    key = normalize_distribution_name(failure.distribution)
                self._waiting_names.setdefault(key, set()).add(conflict.photon_name)

    async def retry_freed_names(self) -> None:
        """Apply again a distribution refused for a photon name that is free now, as watching
        a directory retries a load once the name it collided on is free."""
        photons = self._registry.photons
        freed = [
            key
            for key, names in sorted(self._waiting_names.items())
            if any(name not in photons for name in names)
        ]
        for key in freed:
            distribution = self.known.get(key)
            if distribution is None:
                self._waiting_names.pop(key, None)
            elif not self._halted():
                await self.apply(key, distribution, distribution)

    async def _unreadable(
        self, old: InstalledDistribution | None, new: InstalledDistribution, running: bool
    ) -> None:
        """Report a version that opens the group's section but none of whose entry points
        parses: a broken version, not one without photons, so what runs keeps running."""
        reason = f"no entry point of its {self.group!r} section in entry_points.txt parses"
        if running:
            await self._refuse(old, new, reason)
            return
        message = f"{new.label} was installed, but {reason}"
        error = InstalledUpdateError(message, new.name, "", new.version)
        await self._reporter.report(str(new.metadata), error)

    async def _refuse(
        self,
        old: InstalledDistribution | None,
        new: InstalledDistribution,
        reason: str,
        cause: Exception | None = None,
    ) -> None:
        before = old.version if old is not None else ""
        message = (
            f"{new.name} {before} -> {new.version} cannot be applied live: {reason}; "
            f"{new.name} {before} keeps running (restart the host to use {new.version})"
        )
        error = InstalledUpdateError(message, new.name, before, new.version)
        error.__cause__ = cause
        await self._reporter.report(str(new.metadata), error)

    def _loaded_of(self, key: str) -> dict[Path, PhotonSource]:
        return {
            path: source
            for path, source in self._registry.sources.items()
            if source.entry_points is not None
            and any(
                normalize_distribution_name(item.entry.distribution) == key
                for item in source.entry_points.sources
            )
        }


def _what(old: InstalledDistribution | None, new: InstalledDistribution) -> str:
    if old is None:
        return "installed"
    if old == new:
        return "loaded again (a photon name it wanted is free)"
    return f"changed from {old.version}"


def _others(key: str, selection: EntryPointSelection | None) -> list[EntryPointSource]:
    """The entry points of ``selection`` that distributions other than ``key`` declare."""
    if selection is None:
        return []
    return [
        item
        for item in selection.sources
        if normalize_distribution_name(item.entry.distribution) != key
    ]


def _targets(
    key: str,
    olds: Mapping[Path, PhotonSource],
    by_path: Mapping[Path, Sequence[EntryPointSource]],
) -> list[ReloadTarget]:
    """The sources that replace ``olds`` once distribution ``key`` declares the entry points
    ``by_path``: each with the entry points other distributions declare for it and the new
    ones; a source left with none goes."""
    targets: list[ReloadTarget] = []
    for path in sorted(olds.keys() | by_path.keys()):
        kept = _others(key, olds[path].entry_points) if path in olds else []
        entries = (*kept, *by_path.get(path, ()))
        if entries:
            targets.append(ReloadTarget(path, EntryPointSelection(entries)))
    return targets


def _installed_names(source: PhotonSource) -> set[str]:
    selection = source.entry_points
    if selection is None:
        return set()
    return {item.package.split(".", 1)[0] for item in selection.sources}
