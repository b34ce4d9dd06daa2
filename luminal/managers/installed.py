"""Loading photons from installed distributions' entry points into a loader.

:class:`InstalledPhotons` is what ``Loader.load_entry_points`` runs: it finds and locates the
group's entry points in one worker-thread call (:mod:`luminal.discovery`), imports every selected
source in another, and commits each through the loader like a loose photon package, so reload,
unload and checksum work the same.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from luminal.discovery import (
    EntryPointPolicy,
    EntryPointSelection,
    EntryPointSource,
    PhotonEntryPoint,
    find_photon_entry_points,
    locate_sources,
)
from luminal.errors import (
    EntryPointGroupLoadError,
    EntryPointLoadError,
    PhotonLoadError,
    PhotonNameConflictError,
)
from luminal.events import broadcast
from luminal.managers.handler import Handler, PhotonOrigin
from luminal.sources import ImportedSource, raise_load_error

if TYPE_CHECKING:
    from luminal.managers.loader import Loader, PhotonSource

__all__ = ["InstalledPhotons", "check_entry_point_arguments", "origin_of"]


class InstalledPhotons:
    """One ``load_entry_points`` call on a loader."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    async def load(
        self,
        group: str,
        wanted: list[str] | None,
        policy: EntryPointPolicy | None,
        photon_base: type,
    ) -> list[Handler]:
        """Find, import and commit the group's photons (see ``Loader.load_entry_points``)."""
        entries, located, errors = await asyncio.to_thread(_discover, group, wanted, policy)
        if wanted is not None:
            missing = sorted(set(wanted) - {entry.name for entry in entries})
            if missing:
                self._loader._log(
                    logging.WARNING,
                    "no entry point named %s in group %r (not installed, or refused by policy)",
                    ", ".join(missing),
                    group,
                )
        for error in errors:
            await self._loader._report(error.path or error.value, error)
        by_path: dict[Path, list[EntryPointSource]] = {}
        for source in located:
            by_path.setdefault(source.path, []).append(source)
        handlers, failed = await self._load_sources(by_path, photon_base)
        errors.extend(failed)
        if errors and not self._loader._suppress_errors:
            raise EntryPointGroupLoadError(group, errors, handlers)
        return handlers

    async def _load_sources(
        self, by_path: Mapping[Path, Sequence[EntryPointSource]], photon_base: type
    ) -> tuple[list[Handler], list[EntryPointLoadError]]:
        """Load sources with the photons their entry points name; report what fails.

        The sources are imported in one worker-thread call, as a directory's are, then
        validated and committed one by one in the order given. Reports and events are sent in
        that order, source by source, once the locks are released.
        """
        handlers: list[Handler] = []
        outcomes: list[tuple[Path, list[EntryPointLoadError], PhotonSource | None, bool]] = []
        async with self._loader._locked(by_path):
            pending = [path for path in by_path if path not in self._loader._sources]
            installed_names = {path: by_path[path][0].package for path in pending}
            imported_before = {name for name in installed_names.values() if name in sys.modules}
            imports = await self._loader._import_sources(
                pending,
                recursive=False,
                submodules={
                    path: EntryPointSelection(tuple(by_path[path])).submodules for path in pending
                },
            )
            for path, sources in by_path.items():
                loaded = self._loader._sources.get(path)
                if loaded is not None:
                    self._loader._log(
                        logging.WARNING,
                        "%s is already loaded; use reload_photon to refresh it",
                        path,
                    )
                    handlers.extend(loaded.handlers)
                    continue
                committed, errors = await self._commit_source(
                    path, sources, photon_base, imports[path]
                )
                if committed is not None:
                    handlers.extend(committed.handlers)
                installed_name = installed_names[path]
                imported_itself = (
                    installed_name not in imported_before and installed_name in sys.modules
                )
                outcomes.append((path, errors, committed, imported_itself))
            self._loader._remove_finders_when_idle()
        failed: list[EntryPointLoadError] = []
        for path, errors, committed, imported_itself in outcomes:
            for error in errors:
                await self._loader._report(str(path), error)
            failed.extend(errors)
            if imported_itself:
                self._loader._log(
                    logging.WARNING,
                    "photon package %s was imported by its installed name %r; that copy is not "
                    "reloaded (use relative imports inside the package)",
                    path,
                    installed_names[path],
                )
            for handler in committed.handlers if committed is not None else ():
                self._loader._log(logging.INFO, "loaded photon %s from %s", handler.name, path)
                await broadcast(
                    self._loader._plugin_manager, "luminal_photon_loaded", handler=handler
                )
        return handlers, failed

    async def _commit_source(
        self,
        path: Path,
        sources: Sequence[EntryPointSource],
        photon_base: type,
        imported: ImportedSource | Exception,
    ) -> tuple[PhotonSource | None, list[EntryPointLoadError]]:
        """Validate and commit one imported source with the photons its entry points name.

        An entry point that names no photon, or a photon whose name is taken, is dropped and the
        source imported again for the others: an import is cheap, and a partly broken
        distribution should not take its working photons down. Returns the committed source, if
        any, and the errors to report.
        """
        errors: list[EntryPointLoadError] = []
        remaining = list(sources)
        attempt: ImportedSource | Exception | None = imported
        while remaining:
            # The first attempt validates the batch's import; a retry imports the source again.
            given, attempt = attempt, None
            try:
                if isinstance(given, Exception):
                    raise_load_error(path, given)
                source = await self._loader._prepare_source(
                    path,
                    photon_base,
                    (),
                    False,
                    entry_points=EntryPointSelection(tuple(remaining)),
                    imported=given,
                )
            except EntryPointLoadError as error:
                kept = [item for item in remaining if not _raised_for(item, error)]
                remaining = kept if len(kept) < len(remaining) else []
                errors.append(error)
                continue
            except PhotonLoadError as error:
                for item in remaining:
                    failure = EntryPointLoadError(f"{item.entry}: {error}", item.entry, path)
                    failure.__cause__ = error
                    errors.append(failure)
                break
            conflict = self._loader._conflict(source.handlers)
            if conflict is None:
                self._loader._commit_source(source)
                return source, errors
            self._loader._drop_imported(source.module_name, source.modules, source.helpers)
            taken = next(
                (item for item in remaining if _names_photon(item, source, conflict)),
                remaining[0],
            )
            remaining.remove(taken)
            failure = EntryPointLoadError(f"{taken.entry}: {conflict}", taken.entry, path)
            failure.__cause__ = conflict
            errors.append(failure)
        return None, errors


def check_entry_point_arguments(
    group: object, names: object, policy: object, photon_base: object
) -> list[str] | None:
    """Check ``load_entry_points``' arguments; return ``names`` as a list."""
    if not isinstance(group, str) or not group:
        raise TypeError(f"group must be a non-empty str, not {group!r}")
    if policy is not None and not isinstance(policy, EntryPointPolicy):
        raise TypeError(f"policy must be an EntryPointPolicy, not {type(policy).__name__}")
    if not isinstance(photon_base, type):
        raise TypeError(f"photon_base must be a class, not {type(photon_base).__name__}")
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError("names must be a collection of entry-point names (str), not a str")
    wanted = list(names)
    if not all(isinstance(name, str) for name in wanted):
        raise TypeError("names must be a collection of entry-point names (str)")
    return wanted


def _discover(
    group: str, names: Iterable[str] | None, policy: EntryPointPolicy | None
) -> tuple[list[PhotonEntryPoint], list[EntryPointSource], list[EntryPointLoadError]]:
    """The group's selected entry points, those located and those that cannot be.

    Finding and locating run in one worker-thread call.
    """
    entries = find_photon_entry_points(group, names, policy)
    located, failed = locate_sources(entries)
    return entries, located, failed


def _raised_for(source: EntryPointSource, error: EntryPointLoadError) -> bool:
    return source.entry.name == error.entry_point and source.entry.value == error.value


def _names_photon(
    source: EntryPointSource, prepared: PhotonSource, conflict: PhotonNameConflictError
) -> bool:
    return any(
        handler.name == conflict.photon_name and handler.origin == origin_of(source.entry)
        for handler in prepared.handlers
    )


def origin_of(entry: PhotonEntryPoint) -> PhotonOrigin:
    return PhotonOrigin(entry.distribution, entry.version, entry.name, entry.group)
