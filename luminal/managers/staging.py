"""Staging a source: import and validate it unseen, then commit it to the registry or drop it.

Every load, reload and entry-point load goes through :class:`Staging`, so a photon becomes
visible only once it is validated, and what is not committed leaves ``sys.modules`` again.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

from luminal.discovery import EntryPointSelection, PhotonEntryPoint
from luminal.errors import PhotonLoadError, PhotonNameConflictError
from luminal.importing import Importer, reclaim_names
from luminal.managers.handler import Handler, HandlerContext, PhotonOrigin
from luminal.managers.registry import PhotonSource, Registry
from luminal.managers.reporting import Reporter, Settings
from luminal.photon import IPhoton
from luminal.reading import canonical_path
from luminal.sources import ImportedSource, drop_modules, raise_load_error

__all__ = ["Staging", "check_unique_names", "origin_of", "photon_classes", "photon_name_of"]


class Staging:
    """Prepares sources for one registry and commits or drops them."""

    def __init__(
        self,
        registry: Registry,
        importer: Importer,
        reporter: Reporter,
        settings: Settings,
        start_waiting: Callable[[], Awaitable[None]] | None = None,
        unregistered: Callable[[object], None] | None = None,
        locked_for_stop: Callable[[Any], AbstractAsyncContextManager[Sequence[Any]]] | None = None,
    ) -> None:
        self.registry = registry
        self.importer = importer
        self._reporter = reporter
        self._settings = settings
        self._start_waiting = start_waiting
        self._unregistered = unregistered
        self._locked_for_stop = locked_for_stop

    async def prepare(
        self,
        path: Path,
        photon_base: type,
        other_classes: Sequence[str],
        recursive: bool,
        *,
        entry_points: EntryPointSelection | None = None,
        imported: ImportedSource | None = None,
    ) -> PhotonSource:
        """Import and validate a source without making it visible; undo the import on failure.

        With ``entry_points``, the modules they name are imported too and only the photons they
        name are kept, each with the entry point as its origin. ``imported`` is the source when
        the caller has imported it already.
        """
        if imported is None:
            try:
                imported = await self.importer.import_one(
                    path,
                    recursive,
                    entry_points.submodules if entry_points else (),
                    self.registry.given_directory(path),
                )
            except Exception as error:
                raise_load_error(path, error)
        try:
            handlers = self._validated(imported, photon_base, other_classes, entry_points, path)
        except PhotonLoadError:
            self.drop(imported.module.__name__, imported.modules, imported.helpers)
            raise
        return PhotonSource(
            path=path,
            module_name=imported.module.__name__,
            checksum=imported.checksum,
            handlers=handlers,
            modules=imported.modules,
            helpers=imported.helpers,
            photon_base=photon_base,
            other_classes=tuple(other_classes),
            recursive=recursive,
            package_files=imported.files if imported.is_package else {},
            entry_points=entry_points,
            threads=tuple(imported.threads),
            parent=imported.root,
        )

    def _validated(
        self,
        imported: ImportedSource,
        photon_base: type,
        other_classes: Sequence[str],
        entry_points: EntryPointSelection | None,
        path: Path,
    ) -> list[Handler]:
        """The handlers of an imported source's photon classes (those its entry points name)."""
        others = [
            module for name, module in imported.modules.items() if name != imported.module.__name__
        ]
        classes = photon_classes(imported.module, photon_base, other_classes, others)
        check_unique_names(classes, os.fspath(path))
        origins: dict[type, PhotonOrigin] = {}
        if entry_points is not None:
            chosen = entry_points.select(imported.module.__name__, imported.modules, classes)
            classes = [photon_class for photon_class in classes if photon_class in chosen]
            origins = {photon: origin_of(chosen[photon]) for photon in classes}
        return self.handlers_for(
            classes, imported.module.__name__, os.fspath(path), imported.checksum, path, origins
        )

    def validate(
        self,
        module: ModuleType,
        photon_path: str | os.PathLike[str],
        photon_base: type,
        other_classes: Sequence[str],
    ) -> list[Handler]:
        """A handler for each photon class of an imported module (registering nothing).

        :raises PhotonNameConflictError: if two photon classes of the module share a name.
        """
        classes = photon_classes(module, photon_base, other_classes)
        path = os.fspath(photon_path)
        check_unique_names(classes, path)
        return self.handlers_for(classes, module.__name__, path, "", canonical_path(path))

    def handlers_for(
        self,
        classes: Iterable[type],
        module_name: str,
        path: str,
        checksum: str,
        canonical: Path,
        origins: Mapping[type, PhotonOrigin] | None = None,
    ) -> list[Handler]:
        """A handler per photon class (names checked by :func:`check_unique_names`), sharing
        the context of the source's lock."""
        context = HandlerContext(
            self._reporter.plugin_manager,
            self._settings.finalize_timeout,
            self._settings.stop_timeout,
            self._settings.start_timeout,
            self.registry.lock_of(canonical),
            events=self._reporter.send,
            photons=self.registry.photons,
            start_waiting=self._start_waiting,
            unregistered=self._unregistered,
            locked_for_stop=self._locked_for_stop,
        )
        return [
            Handler(
                self._settings.logging,
                photon_name_of(photon_class),
                path,
                checksum,
                photon_class,
                context=context,
                module_name=module_name,
                origin=(origins or {}).get(photon_class),
            )
            for photon_class in classes
        ]

    def drop(
        self,
        module_name: str,
        modules: dict[str, ModuleType],
        helpers: dict[str, ModuleType],
        replacing: Iterable[Path] = (),
    ) -> None:
        """Forget an import that will not be committed.

        Helpers that other loaded sources use stay; those of the sources it was to replace
        (``replacing``) go, since their previous versions are put back by the caller.
        """
        self.importer.package_finder.discard(module_name)
        drop_modules(modules)
        drop_modules(helpers, keep=self.registry.helpers_in_use(excluding=replacing))

    def drop_source(self, source: PhotonSource, replacing: Iterable[Path] = ()) -> None:
        self.drop(source.module_name, source.modules, source.helpers, replacing)

    def commit(self, source: PhotonSource) -> None:
        """Make a prepared source visible: in the registry, its root open to helper imports,
        its helpers in ``sys.modules`` (:func:`~luminal.importing.reclaim_names`)."""
        self.registry.put(source)
        self.importer.open_root(source.root, source.module_name, source.package_files)
        reclaim_names(source.helpers)

    def replace(self, source: PhotonSource) -> None:
        """Register a version of a loaded source in its place (a reload's swap or rollback)."""
        self.registry.put(source)
        self.importer.add_package(source.module_name, source.package_files)

    def discard(self, source: PhotonSource) -> None:
        """Remove a source from the registry and ``sys.modules``; helpers still used elsewhere
        stay."""
        self.registry.remove(source)
        for handler in source.handlers:
            handler.release()
        self.importer.close_root(source.root, source.module_name)
        drop_modules(source.modules)
        if source.helpers:
            drop_modules(source.helpers, keep=self.registry.helpers_in_use())
        self.importer.remove_finders_when_idle()


def photon_classes(
    module: ModuleType,
    photon_base: type,
    other_classes: Sequence[str] = (),
    modules: Iterable[ModuleType] = (),
) -> list[type]:
    """The photon classes ``module`` (and, for a package, its ``modules``) defines.

    A photon class is a concrete subclass of ``photon_base`` defined there, or a class named
    in ``other_classes``.
    """
    scanned = [module, *modules]
    owner_modules = {scanned_module.__name__ for scanned_module in scanned}
    classes: dict[int, type] = {}
    for scanned_module in scanned:
        for value in vars(scanned_module).values():
            if (
                isinstance(value, type)
                and value.__module__ in owner_modules
                and (
                    (issubclass(value, photon_base) and value is not photon_base)
                    or value.__name__ in other_classes
                )
                and not getattr(value, "__abstractmethods__", None)
            ):
                classes[id(value)] = value
    return list(classes.values())


def check_unique_names(classes: Iterable[type], path: str) -> None:
    """:raises PhotonNameConflictError: if two photon classes of one source share a name."""
    seen: set[str] = set()
    for photon_class in classes:
        name = photon_name_of(photon_class)
        if name in seen:
            raise PhotonNameConflictError(name, path, path)
        seen.add(name)


def origin_of(entry: PhotonEntryPoint) -> PhotonOrigin:
    return PhotonOrigin(entry.distribution, entry.version, entry.name, entry.group)


def photon_name_of(photon_class: type) -> str:
    """A photon class's name: its ``photon_name``, or the class name (for a name that is no
    ``str``, or one that no reference could name: empty, or with a NUL byte)."""
    name = getattr(photon_class, "photon_name", None)
    if (
        not isinstance(name, str)
        or not name
        or "\0" in name
        or (name == "IPhoton" and photon_class is not IPhoton)
    ):
        return photon_class.__name__
    return name
