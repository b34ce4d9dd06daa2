"""Loading photons from installed distributions' entry points into a loader.

:class:`InstalledPhotons` is what ``Loader.load_entry_points`` runs: it finds and locates the
group's entry points in one worker-thread call (:mod:`luminal.discovery`), then loads their
sources through the one load pipeline (:meth:`Operations.load`) like loose photon packages, so
reload, unload and checksum work the same.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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
from luminal.managers.handler import Handler
from luminal.managers.operations import Operations, Staged
from luminal.managers.registry import PhotonSource
from luminal.managers.staging import origin_of
from luminal.sources import ImportedSource, raise_load_error

__all__ = ["InstalledPhotons", "check_entry_point_arguments"]


class InstalledPhotons:
    """Loads the photons of an entry-point group through a loader's operations."""

    def __init__(self, operations: Operations) -> None:
        self._operations = operations
        self._reporter = operations.reporter

    async def load(
        self,
        group: str,
        wanted: list[str] | None,
        policy: EntryPointPolicy | None,
        photon_base: type,
    ) -> list[Handler]:
        """Find, import and commit the group's photons (see ``Loader.load_entry_points``)."""
        handlers, errors = await self.load_reporting(group, wanted, policy, photon_base)
        if errors and not self._operations.settings.suppress_errors:
            raise EntryPointGroupLoadError(group, errors, handlers)
        return handlers

    async def load_reporting(
        self,
        group: str,
        wanted: list[str] | None,
        policy: EntryPointPolicy | None,
        photon_base: type,
    ) -> tuple[list[Handler], list[EntryPointLoadError]]:
        """:meth:`load`, returning the failures (each reported) instead of raising them."""
        entries, located, errors = await asyncio.to_thread(_discover, group, wanted, policy)
        if wanted is not None:
            missing = sorted(set(wanted) - {entry.name for entry in entries})
            if missing:
                self._reporter.log(
                    logging.WARNING,
                    "no entry point named %s in group %r (not installed, or refused by policy)",
                    ", ".join(missing),
                    group,
                )
        for error in errors:
            await self._reporter.report(error.path or error.value, error)
        by_path: dict[Path, list[EntryPointSource]] = {}
        for source in located:
            by_path.setdefault(source.path, []).append(source)
        handlers, failed = await self._load_sources(by_path, photon_base)
        return handlers, [*errors, *failed]

    async def load_located(
        self, located: Sequence[EntryPointSource], photon_base: type
    ) -> tuple[list[Handler], list[EntryPointLoadError]]:
        """Load already located entry points (what watching finds newly installed)."""
        by_path: dict[Path, list[EntryPointSource]] = {}
        for source in located:
            by_path.setdefault(source.path, []).append(source)
        return await self._load_sources(by_path, photon_base)

    async def _load_sources(
        self, by_path: Mapping[Path, Sequence[EntryPointSource]], photon_base: type
    ) -> tuple[list[Handler], list[EntryPointLoadError]]:
        """Load sources with the photons their entry points name, through the one load
        pipeline; warn of a package that imported itself by its installed name."""
        loaded = self._operations.registry.sources
        pending = [path for path in by_path if path not in loaded]
        installed_names = {path: by_path[path][0].package for path in pending}
        imported_before = {name for name in installed_names.values() if name in sys.modules}

        async def stage(path: Path, imported: ImportedSource | Exception) -> Staged:
            return await self._stage(path, by_path[path], photon_base, imported)

        submodules = {
            path: EntryPointSelection(tuple(sources)).submodules
            for path, sources in by_path.items()
        }
        handlers, failed = await self._operations.load(list(by_path), False, stage, submodules)
        for path, installed_name in installed_names.items():
            if installed_name not in imported_before and installed_name in sys.modules:
                self._reporter.log(
                    logging.WARNING,
                    "photon package %s was imported by its installed name %r; that copy is not "
                    "reloaded (use relative imports inside the package)",
                    path,
                    installed_name,
                )
        return handlers, [error for error in failed if isinstance(error, EntryPointLoadError)]

    async def _stage(
        self,
        path: Path,
        sources: Sequence[EntryPointSource],
        photon_base: type,
        imported: ImportedSource | Exception,
    ) -> Staged:
        """Validate one imported source with the photons its entry points name.

        An entry point that names no photon, or a photon whose name is taken, is dropped and the
        source imported again for the others: an import is cheap, and a partly broken
        distribution should not take its working photons down.
        """
        staging = self._operations.staging
        errors: list[PhotonLoadError] = []
        remaining = list(sources)
        attempt: ImportedSource | Exception | None = imported
        while remaining:
            # The first attempt validates the batch's import; a retry imports the source again.
            given, attempt = attempt, None
            try:
                if isinstance(given, Exception):
                    raise_load_error(path, given)
                source = await staging.prepare(
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
                errors.extend(_failure(item, error, path) for item in remaining)
                break
            conflict = staging.registry.conflict(source.handlers)
            if conflict is None:
                return source, errors
            staging.drop_source(source)
            taken = next(
                (item for item in remaining if _names_photon(item, source, conflict)),
                remaining[0],
            )
            remaining.remove(taken)
            errors.append(_failure(taken, conflict, path))
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


def _failure(source: EntryPointSource, error: PhotonLoadError, path: Path) -> EntryPointLoadError:
    """``error`` as the failure of one entry point, chained to it."""
    failure = EntryPointLoadError(f"{source.entry}: {error}", source.entry, path)
    failure.__cause__ = error
    return failure


def _raised_for(source: EntryPointSource, error: EntryPointLoadError) -> bool:
    return source.entry.name == error.entry_point and source.entry.value == error.value


def _names_photon(
    source: EntryPointSource, prepared: PhotonSource, conflict: PhotonNameConflictError
) -> bool:
    return any(
        handler.name == conflict.photon_name and handler.origin == origin_of(source.entry)
        for handler in prepared.handlers
    )
