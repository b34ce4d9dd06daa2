"""``Loader``: loads photon sources, keeps the registry, and unloads and reloads atomically."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType, TracebackType
from typing import Any, NoReturn

import pluggy

from luminal import hookspecs
from luminal.discovery import (
    DEFAULT_GROUP,
    EntryPointPolicy,
    EntryPointSelection,
)
from luminal.errors import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    LuminalError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonReloadError,
    ThreadManagerAlreadyRunningError,
)
from luminal.events import acall_hook, broadcast
from luminal.finders import HelperFinder, PackageFinder, release_helpers
from luminal.managers.handler import _MISSING, Handler, HandlerState
from luminal.managers.installed import (
    InstalledPhotons,
    check_entry_point_arguments,
    origin_of,
)
from luminal.managers.reentry import holding, refuse_held, refuse_inside_operation
from luminal.managers.watching import PhotonWatch, check_disjoint, watched_directory
from luminal.photon import IPhoton
from luminal.sources import (
    ImportedSource,
    ImportRequest,
    canonical_path,
    import_source,
    import_sources,
    module_name_for,
    raise_load_error,
    source_path,
)
from luminal.tree import display_path, scan_directory, select_sources
from luminal.trust import TrustPolicy
from luminal.watcher import DEFAULT_DEBOUNCE, DirectoryWatcher, ObserverFactory

__all__ = ["Loader"]

logger = logging.getLogger(__name__)

PhotonRef = Handler | str | os.PathLike[str]

_loader_numbers = itertools.count()


@dataclass
class PhotonSource:
    """One loaded file or package and everything it brought into the process."""

    path: Path
    module_name: str
    checksum: str
    handlers: list[Handler]
    modules: dict[str, ModuleType]
    helpers: dict[str, ModuleType]
    photon_base: type
    other_classes: tuple[str, ...]
    recursive: bool
    package_files: dict[Path, bytes] = field(default_factory=dict)
    entry_points: EntryPointSelection | None = None

    @property
    def root(self) -> Path:
        return self.path.parent


@dataclass
class _PendingReload:
    """A reload between its import and its commit."""

    old: PhotonSource
    new: PhotonSource
    started_names: set[str]
    states: dict[str, Any] = field(default_factory=dict)
    stopped: list[Handler] = field(default_factory=list)
    started: list[Handler] = field(default_factory=list)


class Loader:
    """Loads, starts, unloads, reloads and watches photons.

    Every running photon is registered in :attr:`plugin_manager`, a pluggy ``PluginManager`` for
    the project ``"luminal"``. Use it as ``async with Loader() as loader:`` so that watching is
    stopped and every photon finalized on exit.

    :param logging: log each load, start, reload and unload through the stdlib logger
        ``luminal`` (its handlers are the host's choice).
    :param suppress_errors: report a photon that fails to load (log and ``luminal_photon_error``)
        and go on, instead of raising.
    :param finalize_timeout: seconds a finalizer may take before the photon is force-stopped.
    :param stop_timeout: seconds to wait for a photon's threads and processes at each stop step.
    :param start_timeout: seconds an ``async`` ``photon_start`` may take before it is cancelled,
        the photon stopped and :class:`~luminal.errors.PhotonStartError` raised.
    :param plugin_manager: a ``PluginManager`` of project ``"luminal"`` to use instead of a new one.
    :raises ValueError: if a timeout is not a positive, finite number of seconds.
    :param trust: a :class:`~luminal.trust.TrustPolicy` applied before any photon source runs;
        ``None`` (the default, as in the seed) applies none. ``luminal run`` turns it on.
    """

    def __init__(
        self,
        logging: bool = False,
        suppress_errors: bool = False,
        *,
        finalize_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        start_timeout: float = 30.0,
        plugin_manager: pluggy.PluginManager | None = None,
        trust: TrustPolicy | None = None,
    ) -> None:
        if plugin_manager is None:
            plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        elif plugin_manager.project_name != hookspecs.PROJECT_NAME:
            raise ValueError(
                f"plugin_manager must be for project {hookspecs.PROJECT_NAME!r}, "
                f"not {plugin_manager.project_name!r}"
            )
        plugin_manager.add_hookspecs(hookspecs)
        self._plugin_manager = plugin_manager
        self._logging = bool(logging)
        self._suppress_errors = bool(suppress_errors)
        for keyword, seconds in (
            ("finalize_timeout", finalize_timeout),
            ("stop_timeout", stop_timeout),
            ("start_timeout", start_timeout),
        ):
            if not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
                raise ValueError(f"{keyword} must be a positive number of seconds, not {seconds!r}")
        if trust is not None and not isinstance(trust, TrustPolicy):
            raise TypeError(f"trust must be a TrustPolicy or None, not {type(trust).__name__}")
        self._finalize_timeout = finalize_timeout
        self._stop_timeout = stop_timeout
        self._start_timeout = start_timeout
        self._photons: dict[str, Handler] = {}
        self._sources: dict[Path, PhotonSource] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        self._lock_users: dict[Path, int] = {}
        self._namespace = f"luminal_photon{next(_loader_numbers)}"
        self._check = trust.check_source if trust is not None else None
        check_compiled = trust.check_compiled if trust is not None else None
        self._package_finder = PackageFinder(check_compiled)
        self._helper_finder = HelperFinder(self._package_finder, self._check, check_compiled)
        self._imports_in_flight = 0
        self._is_watching = False
        self._trust = trust
        self._photon_directories: dict[Path, Path] = {}
        self._watch: PhotonWatch | None = None

    @property
    def photons(self) -> Mapping[str, Handler]:
        """A read-only view of the loaded photons: name → :class:`Handler`."""
        return MappingProxyType(self._photons)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy ``PluginManager`` in which running photons are registered."""
        return self._plugin_manager

    @property
    def suppress_errors(self) -> bool:
        return self._suppress_errors

    @property
    def trust(self) -> TrustPolicy | None:
        """The trust policy applied before photon sources run, if any."""
        return self._trust

    async def acall(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook on every running photon and await its ``async`` implementations.

        Results come back in pluggy's order, as ``plugin_manager.hook.<name>(**kwargs)`` would
        give them, with coroutines awaited concurrently.
        """
        return await acall_hook(self._plugin_manager, hook_name, **kwargs)

    async def __aenter__(self) -> Loader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop watching and unload every photon (gracefully; unstarted ones are discarded).

        :raises PhotonReentryError: if called from inside an operation of this loader (a
            ``photon_start``, say), which it would have to wait for.
        """
        refuse_inside_operation("loader.close()")
        stop_watching = getattr(self, "stop_watching_photons", None)
        if self._is_watching and stop_watching is not None:
            await stop_watching()
        for path in list(self._sources):
            with contextlib.suppress(PhotonNotFoundError):
                await self._absorb_source(path, force_stop=False, discard_unstarted=True)
        self._remove_finders_when_idle()

    def _log(
        self, level: int, message: str, *args: object, exc_info: BaseException | None = None
    ) -> None:
        if self._logging:
            logger.log(level, message, *args, exc_info=exc_info)

    async def _report(self, path: str, error: LuminalError) -> None:
        # The error itself, not True: there is no exception being handled here, and its
        # traceback shows the chained cause, the photon's own failing code.
        self._log(logging.ERROR, "%s", error, exc_info=error if error.__cause__ else None)
        await broadcast(self._plugin_manager, "luminal_photon_error", path=path, error=error)

    def _lock_of(self, path: Path) -> asyncio.Lock:
        lock = self._locks.get(path)
        if lock is None:
            lock = self._locks[path] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def _locked(self, paths: Iterable[Path]) -> AsyncIterator[None]:
        """Serialise operations per source; several are locked in path order (no deadlock).

        A path's lock and its other bookkeeping are forgotten once no operation uses it and no
        source is loaded there, so loading and unloading many files leaves nothing behind.
        """
        locked_paths = sorted(set(paths))
        for path in locked_paths:
            self._lock_users[path] = self._lock_users.get(path, 0) + 1
        locks = [self._lock_of(path) for path in locked_paths]
        held = 0
        try:
            refuse_held(locks, "an operation on " + ", ".join(map(str, locked_paths)))
            for lock in locks:
                await lock.acquire()
                held += 1
            with holding(locks):
                yield
        finally:
            for lock in reversed(locks[:held]):
                lock.release()
            for path in locked_paths:
                self._forget_path_when_idle(path)

    def _forget_path_when_idle(self, path: Path) -> None:
        users = self._lock_users.pop(path, 1) - 1
        if users > 0:
            self._lock_users[path] = users
        elif path not in self._sources:
            self._locks.pop(path, None)
            self._photon_directories.pop(path, None)

    def _install_finders(self) -> None:
        for finder in (self._helper_finder, self._package_finder):
            if finder not in sys.meta_path:
                sys.meta_path.insert(0, finder)

    def _remove_finders_when_idle(self) -> None:
        """Take the finders out of ``sys.meta_path`` once no source is loaded or importing."""
        if self._sources or self._imports_in_flight:
            return
        for finder in (self._package_finder, self._helper_finder):
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)

    async def _import_module(self, module_path: str | os.PathLike[str]) -> ModuleType:
        """Import the source at ``module_path`` under its private name and return the module.

        The import runs in a worker thread, compiled from the current source. Importing does
        not register anything; :meth:`load_photon` does that once the module is validated.

        :raises ModuleNotFoundError: if there is no module or package at the path.
        """
        path = canonical_path(module_path)
        imported = await self._import_source(path)
        return imported.module

    async def _import_source(
        self, path: Path, recursive: bool = False, submodules: Sequence[str] = ()
    ) -> ImportedSource:
        if not os.path.lexists(path):
            raise ModuleNotFoundError(f"no photon source at {path}", path=str(path))
        photon_directory = self._photon_directories.get(path)
        self._install_finders()
        self._imports_in_flight += 1
        self._helper_finder.add_root(path.parent)
        # The result is handed over in a list that is emptied at once: the executor's work
        # item (and its future) may outlive this call for a moment in the worker thread, and
        # must not keep the module alive after the photon is unloaded.
        handover: list[ImportedSource] = []
        name = module_name_for(path, self._namespace)

        def run_import() -> None:
            handover.append(
                import_source(
                    path,
                    name,
                    self._package_finder,
                    recursive,
                    self._check,
                    submodules,
                    photon_directory,
                )
            )

        try:
            await asyncio.get_running_loop().run_in_executor(None, run_import)
            return handover.pop()
        finally:
            self._helper_finder.remove_root(path.parent)
            self._imports_in_flight -= 1
            self._remove_finders_when_idle()

    async def _import_sources(
        self,
        paths: Sequence[Path],
        recursive: bool,
        submodules: Mapping[Path, Sequence[str]] | None = None,
    ) -> dict[Path, ImportedSource | Exception]:
        """Import several sources in one worker-thread call; a failure is kept in its place.

        ``submodules`` names, per source, the modules to import besides its top module (those
        its entry points name).
        """
        if not paths:
            return {}
        self._install_finders()
        self._imports_in_flight += 1
        requests = [
            ImportRequest(
                path,
                module_name_for(path, self._namespace),
                submodules.get(path, ()) if submodules is not None else (),
                self._photon_directories.get(path),
            )
            for path in paths
        ]
        handover: list[list[ImportedSource | Exception]] = []  # as in _import_source

        def run_imports() -> None:
            handover.append(
                import_sources(
                    requests, self._package_finder, self._helper_finder, recursive, self._check
                )
            )

        try:
            await asyncio.get_running_loop().run_in_executor(None, run_imports)
            return dict(zip(paths, handover.pop(), strict=True))
        finally:
            self._imports_in_flight -= 1

    async def _validate_module(
        self,
        imported_module: ModuleType,
        photon_path: str | os.PathLike[str],
        photon_base: type,
        other_classes: Sequence[str] = (),
        *,
        checksum: str = "",
        modules: Iterable[ModuleType] = (),
        canonical: Path | None = None,
    ) -> list[Handler]:
        """Create a handler for each photon class the module defines.

        A photon class is a subclass of ``photon_base`` defined in the module (or, for a
        package, in one of its modules), or a class named in ``other_classes``. The seed
        returned ``False`` for a module without photons; this returns an empty list.
        ``canonical`` is ``photon_path`` resolved, when the caller has it already.

        :raises PhotonNameConflictError: if two photon classes of the module share a name.
        """
        owner_modules = {imported_module.__name__, *(module.__name__ for module in modules)}
        scanned = [imported_module, *modules]
        classes: dict[int, type] = {}
        for module in scanned:
            for value in vars(module).values():
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
        handlers: list[Handler] = []
        if not classes:
            return handlers
        path = os.fspath(photon_path)
        lock = self._lock_of(canonical if canonical is not None else canonical_path(path))
        for photon_class in classes.values():
            name = getattr(photon_class, "photon_name", None)
            if not isinstance(name, str) or (name == "IPhoton" and photon_class is not IPhoton):
                name = photon_class.__name__
            if any(handler.name == name for handler in handlers):
                raise PhotonNameConflictError(name, path, path)
            handlers.append(
                Handler(
                    self._logging,
                    name,
                    path,
                    checksum,
                    photon_class,
                    plugin_manager=self._plugin_manager,
                    module_name=imported_module.__name__,
                    finalize_timeout=self._finalize_timeout,
                    stop_timeout=self._stop_timeout,
                    start_timeout=self._start_timeout,
                    lock=lock,
                )
            )
        return handlers

    async def _scan_module(self, path: str | os.PathLike[str]) -> tuple[str, bool, bool]:
        """Tell whether ``path`` is a module or a package.

        Returns ``(path, is_dir, packages_only)``: the canonical path, whether it is a package
        directory, and whether it is a directory that holds only packages.

        :raises ModuleNotFoundError: if the path does not exist or is no Python module.
        """
        resolved = canonical_path(path)
        if resolved.is_file() and resolved.suffix == ".py":
            return str(resolved), False, False
        if resolved.is_dir():
            if (resolved / "__init__.py").is_file():
                return str(resolved), True, False
            _, packages_only = await self._find_modules(resolved)
            return str(resolved), True, packages_only
        raise ModuleNotFoundError(
            f"{resolved} is not a photon module or package", path=str(resolved)
        )

    async def _find_modules(
        self, path: str | os.PathLike[str]
    ) -> tuple[list[tuple[str, bool]], bool]:
        """List the photon sources directly in a directory.

        Returns ``([(module_path, is_dir), ...], packages_only)``: ``.py`` files and
        sub-directories (packages or plain folders), sorted, and whether the directory holds only
        packages. Hidden, temporary and ``__pycache__`` entries are skipped; an unreadable or
        missing directory gives an empty list.
        """
        entries = scan_directory(canonical_path(path), [])
        found = [(str(entry), kind != "file") for entry, kind in entries]
        packages_only = bool(entries) and all(kind == "package" for _, kind in entries)
        return found, packages_only

    async def _check_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Find the handler(s) that ``photon`` names: a handler, a photon name or a path.

        A path names every photon of that file (or package).

        :raises TypeError: if ``photon`` is neither a :class:`Handler`, a ``str`` nor a path.
        :raises PhotonNotFoundError: if no loaded photon matches.
        """
        if isinstance(photon, Handler):
            if self._photons.get(photon.name) is not photon:
                raise PhotonNotFoundError(
                    f"photon {photon.name!r} is not loaded (any more)", photon
                )
            return photon
        _check_reference(photon)
        if isinstance(photon, str) and photon in self._photons:
            return self._photons[photon]
        source = self._sources.get(source_path(photon))
        if source is None:
            raise PhotonNotFoundError(f"no loaded photon named or at {os.fspath(photon)!r}", photon)
        return list(source.handlers) if len(source.handlers) != 1 else source.handlers[0]

    def _source_of(self, photon: PhotonRef) -> PhotonSource:
        if isinstance(photon, Handler):
            source = self._sources.get(Path(photon.filepath))
            if source is not None and photon in source.handlers:
                return source
            raise PhotonNotFoundError(f"photon {photon.name!r} is not loaded (any more)", photon)
        _check_reference(photon)
        if isinstance(photon, str) and photon in self._photons:
            return self._sources[Path(self._photons[photon].filepath)]
        source = self._sources.get(source_path(photon))
        if source is None:
            raise PhotonNotFoundError(f"no loaded photon named or at {os.fspath(photon)!r}", photon)
        return source

    def _conflict(
        self, handlers: Iterable[Handler], replacing: Iterable[Path] = ()
    ) -> PhotonNameConflictError | None:
        """The first name in ``handlers`` already taken by a photon of another source."""
        replaced = set(replacing)
        for handler in handlers:
            existing = self._photons.get(handler.name)
            if existing is not None and Path(existing.filepath) not in replaced:
                return PhotonNameConflictError(handler.name, handler.filepath, existing.filepath)
        return None

    async def _emit_photon(
        self,
        photon_path: str | os.PathLike[str] | tuple[str, bool, bool],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] = (),
        recursive: bool = False,
    ) -> list[Handler]:
        """Import, validate and register the photons of one source; return their handlers.

        ``photon_path`` is a path or a ``(path, is_dir, packages_only)`` tuple from
        :meth:`_scan_module`. A plain directory (no ``__init__.py``) is loaded as a photon
        directory. A source that is already loaded is not imported again: its handlers are
        returned. The seed returned ``None`` for "nothing loaded"; this returns ``[]``.

        :raises PhotonLoadError: if the source fails to import or validate; the cause is chained.
        """
        if isinstance(photon_path, tuple):
            raw_path, is_dir, _ = photon_path
        else:
            raw_path, is_dir = os.fspath(photon_path), Path(photon_path).is_dir()
        path = source_path(raw_path)
        if is_dir and not (path / "__init__.py").is_file():
            return await self._emit_photons(
                path,
                photon_base,
                other_classes,
                recursive,
                photon_directory=self._photon_directories.get(path),
            )
        handlers, errors = await self._emit_sources([path], photon_base, other_classes, recursive)
        if errors:
            raise errors[0]
        return handlers

    async def _emit_sources(
        self,
        paths: Sequence[Path],
        photon_base: type,
        other_classes: Sequence[str],
        recursive: bool,
    ) -> tuple[list[Handler], list[PhotonLoadError]]:
        """Load sources (canonical paths) in order; return their handlers and the failures.

        The sources are imported in one worker-thread call (a hand-off per file costs about as
        much as importing a small photon), then validated and committed one by one: a source
        that fails is dropped and reported, and the others load. A source that is already
        loaded is not imported again; its handlers are returned. Events and reports are sent in
        path order once the locks are released.
        """
        outcomes: list[tuple[Path, PhotonSource | PhotonLoadError]] = []
        handlers: list[Handler] = []
        async with self._locked(paths):
            imports = await self._import_sources(
                list(dict.fromkeys(path for path in paths if path not in self._sources)),
                recursive,
            )
            for path in paths:
                loaded = self._sources.get(path)
                if loaded is not None:
                    self._log(
                        logging.WARNING,
                        "%s is already loaded; use reload_photon to refresh it",
                        path,
                    )
                    handlers.extend(loaded.handlers)
                    continue
                imported = imports[path]
                try:
                    if isinstance(imported, Exception):
                        raise_load_error(path, imported)
                    source = await self._prepare_source(
                        path, photon_base, other_classes, recursive, imported=imported
                    )
                    conflict = self._conflict(source.handlers)
                    if conflict is not None:
                        self._drop_imported(source.module_name, source.modules, source.helpers)
                        raise conflict
                except PhotonLoadError as error:
                    outcomes.append((path, error))
                    continue
                self._commit_source(source)
                handlers.extend(source.handlers)
                outcomes.append((path, source))
            self._remove_finders_when_idle()
        errors: list[PhotonLoadError] = []
        for path, outcome in outcomes:
            if isinstance(outcome, PhotonLoadError):
                await self._report(str(path), outcome)
                errors.append(outcome)
                continue
            for handler in outcome.handlers:
                self._log(logging.INFO, "loaded photon %s from %s", handler.name, path)
                await broadcast(self._plugin_manager, "luminal_photon_loaded", handler=handler)
            if not outcome.handlers:
                self._log(logging.WARNING, "no photon found in %s", path)
        return handlers, errors

    async def _prepare_source(
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
                imported = await self._import_source(
                    path, recursive, entry_points.submodules if entry_points else ()
                )
            except Exception as error:
                raise_load_error(path, error)
        try:
            handlers = await self._validate_module(
                imported.module,
                path,
                photon_base,
                other_classes,
                checksum=imported.checksum,
                modules=[
                    module
                    for name, module in imported.modules.items()
                    if name != imported.module.__name__
                ],
                canonical=path,
            )
            if entry_points is not None:
                handlers = _select_entry_point_photons(entry_points, imported, handlers)
        except PhotonLoadError:
            self._drop_imported(imported.module.__name__, imported.modules, imported.helpers)
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
        )

    def _drop_imported(
        self,
        module_name: str,
        modules: Mapping[str, ModuleType],
        helpers: Mapping[str, ModuleType],
        replacing: Iterable[Path] = (),
    ) -> None:
        """Forget an import that will not be committed.

        Helpers that other loaded sources use stay; those of the sources it was to replace
        (``replacing``) go, since their previous versions are put back by the caller.
        """
        self._package_finder.discard(module_name)
        _drop_modules(modules)
        replaced = set(replacing)
        still_used = {
            id(module)
            for other in self._sources.values()
            if other.path not in replaced
            for module in other.helpers.values()
        }
        _drop_modules(
            {name: module for name, module in helpers.items() if id(module) not in still_used}
        )

    def _commit_source(self, source: PhotonSource) -> None:
        """Make a prepared source visible: in the registry, its root open to helper imports."""
        self._install_finders()
        self._sources[source.path] = source
        for handler in source.handlers:
            self._photons[handler.name] = handler
        self._helper_finder.add_root(source.root)
        if source.package_files:
            self._package_finder.add(source.module_name, source.package_files)

    def _discard_source(self, source: PhotonSource) -> None:
        """Remove a source from the registry and ``sys.modules``; helpers still used elsewhere
        stay."""
        if self._sources.get(source.path) is source:
            del self._sources[source.path]
            self._photon_directories.pop(source.path, None)
        for handler in source.handlers:
            if self._photons.get(handler.name) is handler:
                del self._photons[handler.name]
            handler._release()
        self._helper_finder.remove_root(source.root)
        self._package_finder.discard(source.module_name)
        _drop_modules(source.modules)
        if source.helpers:
            still_used = {
                id(module) for other in self._sources.values() for module in other.helpers.values()
            }
            _drop_modules(
                {
                    name: module
                    for name, module in source.helpers.items()
                    if id(module) not in still_used
                }
            )
        self._remove_finders_when_idle()

    async def _emit_photons(
        self,
        photons_directory: str | os.PathLike[str],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] = (),
        recursive: bool = False,
        *,
        photon_directory: Path | None = None,
    ) -> list[Handler]:
        """Load every photon source of a directory; return the handlers that loaded.

        Loose ``.py`` files are always loaded. Packages are loaded when ``recursive`` is set or
        when the directory holds only packages; plain sub-directories are descended into when
        ``recursive`` is set, except a distribution's project directory (one holding a
        ``pyproject.toml`` or ``setup.py``): its photons are installed and found through
        :meth:`load_entry_points`. A file that fails is reported and the others load all the same.

        :raises DirectoryLoadError: if any source failed and ``suppress_errors`` is off; the
            photons that loaded stay loaded and are listed in ``handlers``.
        """
        directory = canonical_path(photons_directory)
        # The trust policy judges every source of the tree against the directory the host named,
        # not the sub-directory it sits in.
        photon_directory = photon_directory or directory
        selection = await asyncio.to_thread(select_sources, directory, recursive)
        for project in selection.projects:
            self._log(
                logging.INFO,
                "skipping %s: it is a distribution's project; install it and use load_entry_points",
                project,
            )
        for path in selection.sources:
            if path not in self._sources:
                self._photon_directories[path] = photon_directory
        handlers, errors = await self._emit_sources(
            selection.sources, photon_base, other_classes, recursive
        )
        for path, reason in selection.refused:
            error = PhotonLoadError(f"cannot load {display_path(path)}: {reason}", path)
            await self._report(display_path(path), error)
            errors.append(error)
        if errors and not self._suppress_errors:
            raise DirectoryLoadError(str(directory), errors, handlers)
        return handlers

    async def load_photon(
        self,
        photon_path: str | os.PathLike[str],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] | None = None,
        recursive: bool = False,
    ) -> Handler | list[Handler]:
        """Load the photons of one file and return their handler(s), ready to start.

        Returns the :class:`Handler` when the file holds one photon, a list when it holds
        several, and ``[]`` when it holds none (or failed with ``suppress_errors``). A path to a
        package's ``__init__.py`` loads the package; ``recursive`` then also imports the
        package's sub-modules to find their photons.

        :raises TypeError: if an argument has the wrong type.
        :raises PhotonNotFoundError: if the path does not exist or is a directory.
        :raises PhotonLoadError: if the file is no ``.py`` file (always), or fails to import or
            validate (subclasses :class:`PhotonNameConflictError`, :class:`PhotonTrustError`;
            not raised with ``suppress_errors``).
        """
        _check_arguments(photon_path, photon_base, other_classes, recursive)
        if not os.fspath(photon_path):
            raise PhotonNotFoundError("an empty path names no photon file", photon_path)
        path = canonical_path(photon_path)
        if not path.exists():
            raise PhotonNotFoundError(
                f"photon file {os.fspath(photon_path)!r} does not exist", photon_path
            )
        if path.is_dir():
            raise PhotonNotFoundError(
                f"{os.fspath(photon_path)!r} is a directory; use load_photons for directories",
                photon_path,
            )
        if path.suffix != ".py":
            raise PhotonLoadError(f"{path} is not a Python source file (.py)", path)
        if path.name == "__init__.py":
            path = path.parent
        self._photon_directories[path] = _given_directory(photon_path)
        try:
            handlers = await self._emit_photon(path, photon_base, other_classes or [], recursive)
        except PhotonLoadError:
            if self._suppress_errors:
                return []
            raise
        return handlers[0] if len(handlers) == 1 else handlers

    async def load_photons(
        self,
        photons_directory: str | os.PathLike[str],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] | None = None,
        recursive: bool = False,
    ) -> list[Handler]:
        """Load the photons of every source in a directory; return their handlers.

        See :meth:`_emit_photons` for which entries are sources. A source that fails is reported
        (log and ``luminal_photon_error``), and the others load all the same.

        :raises TypeError: if an argument has the wrong type.
        :raises DirectoryNotFoundError: if the path does not exist or is a file.
        :raises DirectoryLoadError: if some sources failed and ``suppress_errors`` is off.
        """
        _check_arguments(photons_directory, photon_base, other_classes, recursive)
        if not os.fspath(photons_directory):
            raise DirectoryNotFoundError(
                "an empty path names no photon directory", photons_directory
            )
        directory = canonical_path(photons_directory)
        if not directory.is_dir():
            raise DirectoryNotFoundError(
                f"photon directory {os.fspath(photons_directory)!r} is missing or not a directory",
                photons_directory,
            )
        return await self._emit_photons(directory, photon_base, other_classes or [], recursive)

    async def load_entry_points(
        self,
        group: str = DEFAULT_GROUP,
        names: Iterable[str] | None = None,
        *,
        policy: EntryPointPolicy | None = None,
        photon_base: type = IPhoton,
    ) -> list[Handler]:
        """Load the photons that installed distributions declare in the entry-point ``group``.

        ``names`` picks entry points by name for this call; ``policy`` is the host's standing
        rule of which distributions and entry-point names may load. Nothing else is imported.
        Each entry point's source (its top-level package, or its module file; see
        :mod:`luminal.discovery`) loads like a loose photon package, so reload, unload and
        checksum work the same; :attr:`Handler.origin` names the distribution and entry point.

        An entry point that fails (module not installed, import error, missing attribute, not a
        photon, photon name already taken) is reported (log and ``luminal_photon_error``) as an
        :class:`EntryPointLoadError` and skipped; the others load all the same. Entry points of
        one package import it once, so an import error in it fails each of them. A name in
        ``names`` that no entry point has is logged as a warning.

        :raises TypeError: if an argument has the wrong type.
        :raises EntryPointGroupLoadError: if some entry points failed and ``suppress_errors`` is
            off; the photons that loaded stay loaded and are listed in ``handlers``.
        """
        wanted = check_entry_point_arguments(group, names, policy, photon_base)
        return await InstalledPhotons(self).load(group, wanted, policy, photon_base)

    @contextlib.asynccontextmanager
    async def _locked_sources(
        self, photons: Sequence[PhotonRef], check: Callable[[PhotonRef], PhotonSource]
    ) -> AsyncIterator[list[PhotonSource]]:
        """Lock the sources that ``photons`` name and yield them, checked under the lock.

        A reference is checked again once its lock is held: while waiting, a reload may have
        replaced a handler (which then raises :class:`PhotonNotFoundError`) or a name may have
        moved to another file (then the new file is locked instead).
        """
        while True:
            paths = [check(photon).path for photon in photons]
            async with self._locked(paths):
                sources = [check(photon) for photon in photons]
                if [source.path for source in sources] == paths:
                    yield sources
                    return

    async def _absorb_source(
        self, path: Path, force_stop: bool, discard_unstarted: bool = False
    ) -> bool:
        async with self._locked([path]):
            source = self._sources.get(path)
            if source is None:
                raise PhotonNotFoundError(f"no loaded photon at {path}", path)
            if not (force_stop or discard_unstarted) and not any(
                h.started for h in source.handlers
            ):
                raise PhotonNotInitializedError(
                    f"no photon of {path} was started (unload it with force_stop=True)",
                    source.handlers[0].name if source.handlers else None,
                )
            clean = await self._stop_and_discard(source, force_stop)
        await self._announce_unloaded(source)
        return clean

    async def _stop_and_discard(self, source: PhotonSource, force_stop: bool) -> bool:
        """Stop a source's started photons and forget it; whether all they owned stopped."""
        clean = True
        for handler in source.handlers:
            if handler.started:
                clean = await handler._stop(force_stop) and clean
        self._discard_source(source)
        return clean

    async def _announce_unloaded(self, source: PhotonSource) -> None:
        for handler in source.handlers:
            self._log(logging.INFO, "unloaded photon %s from %s", handler.name, source.path)
            await broadcast(self._plugin_manager, "luminal_photon_unloaded", handler=handler)

    async def _absorb_photon(
        self, photon: PhotonRef, force_stop: bool = False, suppress_finalizer_log: bool = False
    ) -> bool:
        """Stop a photon and remove its whole source from the registry and ``sys.modules``.

        Returns whether everything the photons owned stopped (the source is removed either way).
        ``suppress_finalizer_log`` is accepted for the seed's signature; finalizer problems are
        always reported through ``luminal_photon_error``.

        :raises PhotonNotFoundError: if the photon is not loaded.
        :raises PhotonNotInitializedError: if it was never started and ``force_stop`` is off.
        """
        return (await self._absorb_checked([photon], force_stop))[0]

    def _checked_for_unload(self, photon: PhotonRef, force_stop: bool) -> PhotonSource:
        source = self._source_of(photon)
        named = photon if isinstance(photon, Handler) else self._photons.get(os.fspath(photon))
        if force_stop:
            return source
        if named is not None and not named.started:
            raise PhotonNotInitializedError(f"photon {named.name!r} was never started", named.name)
        if not any(handler.started for handler in source.handlers):
            raise PhotonNotInitializedError(
                f"no photon of {source.path} was started; start it or unload with force_stop=True"
            )
        return source

    async def _absorb_checked(self, photons: Sequence[PhotonRef], force_stop: bool) -> list[bool]:
        """Check every reference, then unload each source once; whether each stopped cleanly."""
        unloaded: list[PhotonSource] = []
        outcomes: dict[Path, bool] = {}

        def check(photon: PhotonRef) -> PhotonSource:
            return self._checked_for_unload(photon, force_stop)

        async with self._locked_sources(photons, check) as sources:
            for source in sources:
                if source.path not in outcomes:
                    outcomes[source.path] = await self._stop_and_discard(source, force_stop)
                    unloaded.append(source)
        for source in unloaded:
            await self._announce_unloaded(source)
        return [outcomes[source.path] for source in sources]

    async def _absorb_photons(
        self, photons: Sequence[PhotonRef], force_stop: bool = False
    ) -> list[str]:
        """Unload each photon in turn; return the file path of each one given.

        Every reference is checked before anything is unloaded, so a bad one changes nothing.
        """
        _check_photon_list(photons)
        for photon in photons:
            self._source_of(photon)
        paths = [str(self._source_of(photon).path) for photon in photons]
        await self._absorb_checked(photons, force_stop)
        return paths

    async def unload_photon(self, photon: PhotonRef, force_stop: bool = False) -> bool:
        """Stop a photon (finalizer, then whatever it still owns) and unload its whole file.

        Returns ``True`` when everything the file's photons owned stopped; ``False`` when
        something was left running (reported through ``luminal_photon_error``). The photons are
        removed in both cases. ``force_stop`` skips the finalizer, and also discards a photon
        that was never started.

        :raises TypeError: if ``photon`` is not a handler, name or path.
        :raises PhotonNotFoundError: if the photon is not loaded.
        :raises PhotonNotInitializedError: if the photon was never started (without ``force_stop``).
        """
        _check_flag("force_stop", force_stop)
        if not isinstance(photon, Handler):
            _check_reference(photon)
        return await self._absorb_photon(photon, force_stop)

    async def unload_photons(
        self, photons: Sequence[PhotonRef], force_stop: bool = False
    ) -> list[str]:
        """Unload several photons; return the file path of each one given (as ``unload_photon``).

        :raises TypeError: if ``photons`` is not a list of handlers, names or paths.
        :raises PhotonNotFoundError: if any of them is not loaded; nothing is unloaded then.
        """
        _check_flag("force_stop", force_stop)
        _check_photon_list(photons)
        for photon in photons:
            if not isinstance(photon, Handler):
                _check_reference(photon)
        return await self._absorb_photons(photons, force_stop)

    async def _revert_photon(
        self,
        validated_photon: Handler | list[Handler],
        validated_modules: dict[str, ModuleType],
        states: Mapping[str, Any] | None = None,
    ) -> None:
        """Put the previous version of a photon back after a failed reload.

        Its modules return to ``sys.modules`` and its handlers to the registry; those the reload
        had stopped start again on a fresh instance of their previous class, importing the state
        they exported. A restart that fails is reported and the others go on.
        """
        handlers = validated_photon if isinstance(validated_photon, list) else [validated_photon]
        sys.modules.update(validated_modules)
        for handler in handlers:
            self._photons[handler.name] = handler
        for handler in handlers:
            if handler.state is HandlerState.STOPPED:
                try:
                    await handler._restart((states or {}).get(handler.name, _MISSING))
                except LuminalError as error:
                    await self._report(handler.filepath, error)

    async def _reload_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Reload the source of one photon atomically (see :meth:`_reload_sources`)."""
        async with self._locked_sources([photon], self._source_of) as olds:
            pending = await self._reload_locked(olds)
        result = await self._announce_reloaded(pending)
        return result[0] if len(result) == 1 else result

    async def _reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Reload the sources of several photons, all or nothing."""
        _check_photon_list(photons)
        async with self._locked_sources(photons, self._source_of) as sources:
            olds = list({id(source): source for source in sources}.values())
            pending = await self._reload_locked(olds)
        return await self._announce_reloaded(pending)

    async def _reload_sources(self, paths: Sequence[Path]) -> list[Handler]:
        """Reload the sources at ``paths`` atomically (see :meth:`_reload_locked`).

        :raises PhotonNotFoundError: if a path is not loaded; nothing is reloaded then.
        """
        async with self._locked(paths):
            olds = []
            for path in dict.fromkeys(paths):
                source = self._sources.get(path)
                if source is None:
                    raise PhotonNotFoundError(f"no loaded photon at {path}", path)
                olds.append(source)
            pending = await self._reload_locked(olds)
        return await self._announce_reloaded(pending)

    async def _reload_locked(self, olds: Sequence[PhotonSource]) -> list[_PendingReload]:
        """Reload sources atomically: all new versions run, or all old versions are back.

        New code is imported and validated first, while the old photons keep running. Then,
        per source, the old photons export their state and are finalized, and the new ones are
        created, import the state and start. If any step fails, every
        source touched is put back as it was and :class:`PhotonReloadError` is raised. The
        caller holds the sources' locks.
        """
        paths = [old.path for old in olds]
        stashed = _stash_modules(olds)
        pending: list[_PendingReload] = []
        try:
            for old in olds:
                new = await self._prepare_source(
                    old.path,
                    old.photon_base,
                    old.other_classes,
                    old.recursive,
                    entry_points=old.entry_points,
                )
                started = {handler.name for handler in old.handlers if handler.started}
                pending.append(_PendingReload(old, new, started))
            conflict = self._conflict(
                [handler for item in pending for handler in item.new.handlers],
                replacing=paths,
            )
            if conflict is not None:
                raise conflict
            new_names = [handler.name for item in pending for handler in item.new.handlers]
            if len(new_names) != len(set(new_names)):
                duplicate = next(name for name in new_names if new_names.count(name) > 1)
                raise PhotonNameConflictError(duplicate, str(paths[0]), str(paths[-1]))
        except Exception as error:
            for item in pending:
                self._drop_imported(
                    item.new.module_name, item.new.modules, item.new.helpers, replacing=paths
                )
            sys.modules.update(stashed)
            for old in olds:
                if old.package_files:
                    self._package_finder.add(old.module_name, old.package_files)
            await self._raise_reload_error(paths, error, "nothing changed")
        try:
            for item in pending:
                await self._swap(item)
        except Exception as error:
            await self._roll_back(pending, stashed)
            await self._raise_reload_error(paths, error, "it was rolled back")
        for item in pending:
            for handler in item.old.handlers:
                handler._release()
            self._release_stale_helpers(item.old)
        return pending

    async def _raise_reload_error(
        self, paths: Sequence[Path], error: Exception, outcome: str
    ) -> NoReturn:
        reload_error = PhotonReloadError(
            f"reload of {', '.join(map(str, paths))} failed, {outcome}: {error}",
            [str(path) for path in paths],
        )
        reload_error.__cause__ = error
        await self._report(str(paths[0]), reload_error)
        raise reload_error from error

    async def _announce_reloaded(self, pending: Sequence[_PendingReload]) -> list[Handler]:
        """Log and broadcast a committed reload; return the fresh handlers."""
        result: list[Handler] = []
        for item in pending:
            old_by_name = {handler.name: handler for handler in item.old.handlers}
            for handler in item.new.handlers:
                result.append(handler)
                self._log(logging.INFO, "reloaded photon %s from %s", handler.name, item.new.path)
                previous = old_by_name.get(handler.name)
                if previous is not None:
                    await broadcast(
                        self._plugin_manager, "luminal_photon_reloaded", old=previous, new=handler
                    )
                else:
                    await broadcast(self._plugin_manager, "luminal_photon_loaded", handler=handler)
            new_names = {handler.name for handler in item.new.handlers}
            for handler in item.old.handlers:
                if handler.name not in new_names:
                    await broadcast(
                        self._plugin_manager, "luminal_photon_unloaded", handler=handler
                    )
        return result

    async def _swap(self, item: _PendingReload) -> None:
        """Replace one source's running photons by the new version's.

        The old photons export their state and are finalized before the new ones are created,
        so a photon may take a port, file lock or device in ``__init__``: between the two, no
        version of the file answers hook calls. A new photon starts when its previous version
        was started; one new to the file starts when any photon of the file was started.
        """
        old_names = {handler.name for handler in item.old.handlers}
        to_start = [
            handler
            for handler in item.new.handlers
            if handler.name in item.started_names
            or (item.started_names and handler.name not in old_names)
        ]
        for handler in item.old.handlers:
            if handler.started:
                item.states[handler.name] = await handler._export_state()
        for handler in item.old.handlers:
            if handler.started:
                item.stopped.append(handler)
                await handler._stop()
        self._sources[item.new.path] = item.new
        for handler in item.old.handlers:
            if self._photons.get(handler.name) is handler:
                del self._photons[handler.name]
        for handler in item.new.handlers:
            self._photons[handler.name] = handler
        if item.new.package_files:
            self._package_finder.add(item.new.module_name, item.new.package_files)
        for handler in to_start:
            instance = await handler._create_instance()
            await handler._activate(instance, item.states.get(handler.name, _MISSING))
            item.started.append(handler)

    async def _roll_back(
        self, pending: list[_PendingReload], stashed: dict[str, ModuleType]
    ) -> None:
        """Undo :meth:`_swap` for every pending reload: stop the new, restart the old."""
        for item in reversed(pending):
            for handler in item.started:
                if handler.started:
                    await handler._stop()
            for handler in item.new.handlers:
                if self._photons.get(handler.name) is handler:
                    del self._photons[handler.name]
                handler._release()
            self._drop_imported(
                item.new.module_name,
                item.new.modules,
                item.new.helpers,
                replacing=[other.old.path for other in pending],
            )
        for item in pending:
            self._sources[item.old.path] = item.old
            if item.old.package_files:
                self._package_finder.add(item.old.module_name, item.old.package_files)
            await self._revert_photon(item.old.handlers, stashed, item.states)

    def _release_stale_helpers(self, old: PhotonSource) -> None:
        """Forget the previous version's helper modules that nothing loaded uses any more."""
        in_use = {
            id(module) for source in self._sources.values() for module in source.helpers.values()
        }
        for name, module in old.helpers.items():
            if id(module) not in in_use and sys.modules.get(name) is module:
                del sys.modules[name]

    async def reload_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Atomically reload a photon's file and return the fresh handler(s).

        The new code is imported and validated before the running version is touched; then the
        old version exports its state and is finalized, and only then is the new one created,
        given the state and started (if the old one was started), so ``__init__`` may take a
        port or lock the old version held. In between, neither version answers hook calls. On
        any failure the old version is back as it was (restarted with its state) and
        :class:`PhotonReloadError` is raised with the cause chained.

        :raises TypeError: if ``photon`` is not a handler, name or path.
        :raises PhotonNotFoundError: if the photon is not loaded.
        :raises PhotonReloadError: if the reload failed and was rolled back.
        """
        if not isinstance(photon, Handler):
            _check_reference(photon)
        return await self._reload_photon(photon)

    async def reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Atomically reload several photons' files, all or nothing; return the fresh handlers.

        :raises TypeError: if ``photons`` is not a list of handlers, names or paths.
        :raises PhotonNotFoundError: if any of them is not loaded; nothing is reloaded then.
        :raises PhotonReloadError: if any reload failed; every photon is rolled back.
        """
        _check_photon_list(photons)
        for photon in photons:
            if not isinstance(photon, Handler):
                _check_reference(photon)
        return await self._reload_photons(photons)

    async def watch_photons(
        self,
        photons_directory: str | os.PathLike[str],
        *,
        more_directories: Iterable[str | os.PathLike[str]] = (),
        debounce: float = DEFAULT_DEBOUNCE,
        observer_factory: ObserverFactory | None = None,
    ) -> None:
        """Load and start the photons of a directory tree, then keep the loader in step with it.

        The tree is loaded as ``load_photons(directory, recursive=True)`` loads it, and every
        photon is started. From then on, a new source is loaded and started, a changed one is
        reloaded atomically (:meth:`reload_photons`, with rollback), a deleted one is unloaded,
        and a moved one is unloaded and loaded from its new place. A change to a helper module
        the photons import (a ``.py`` file of the tree that is not a photon, or a module of a
        photon package) reloads every photon that uses it, in one atomic reload. A file whose
        SHA-512 did not change (``touch``) is left alone. Failures are reported (log and
        ``luminal_photon_error``) and the previous version keeps running; the next save that
        fixes the file loads it. Sources that fail at the initial load are reported the same way
        and do not make this call raise. A tree with photons loaded already (watched before, or
        loaded by ``load_photons``) is brought to what is on disk first. A moved file keeps
        running from its new place; a file deleted and re-created within ``RECREATE_GRACE``
        (0.25 s) is reloaded with its state; a deleted or renamed tree unloads its photons
        and is followed again when it reappears; a change of the trust policy's lock file
        retries what it refused.

        A loader watches once at a time: to watch several trees with one loader (their photons
        share :attr:`plugin_manager`), name the others in ``more_directories``; they are loaded
        in the order given, after ``photons_directory``, and followed the same way.

        Returns as soon as the observers run and the trees are loaded. The seed's polling thread
        (``_observe_photons``, re-hashing every file each second) is replaced by watchdog events:
        watchdog's daemon thread only hands each changed path to this event loop through
        ``loop.call_soon_threadsafe``; debouncing (``debounce`` seconds per file, on loop
        timers) and every load, reload and unload run on the loop that called this method.
        A host that exits without :meth:`stop_watching_photons` still exits.

        :param observer_factory: makes the watchdog observer (watchdog's native ``Observer`` by
            default; ``PollingObserver`` for file systems without change events). If inotify is
            out of watches, a WARNING is logged and the tree is polled instead.
        :raises TypeError: if a directory is not a ``str`` or path, or ``more_directories`` is
            not a collection of them.
        :raises DirectoryNotFoundError: if a directory is missing or not a directory.
        :raises ValueError: if two directories are the same or one lies inside another, or if
            ``debounce`` is negative.
        :raises ThreadManagerAlreadyRunningError: if this loader is already watching (call
            :meth:`stop_watching_photons` first, or pass every tree in one call).
        """
        if isinstance(more_directories, (str, bytes, os.PathLike)):
            raise TypeError(
                "more_directories must be a collection of directories, "
                f"not a single {type(more_directories).__name__}"
            )
        if isinstance(debounce, bool) or not isinstance(debounce, (int, float)):
            raise TypeError(f"debounce must be a number of seconds, not {type(debounce).__name__}")
        directories = [watched_directory(photons_directory)]
        directories += [watched_directory(directory) for directory in more_directories]
        check_disjoint(directories)
        if self._is_watching:
            raise ThreadManagerAlreadyRunningError(
                "this loader is already watching photons; call stop_watching_photons first"
            )
        make_watcher = functools.partial(
            DirectoryWatcher,
            loop=asyncio.get_running_loop(),
            debounce=debounce,
            observer_factory=observer_factory,
        )
        watch = self._watch = PhotonWatch(self, directories, make_watcher)
        self._is_watching = True
        try:
            await watch.start()
        except BaseException:
            await self.stop_watching_photons(halt_threads=True)
            raise
        for directory in directories:
            self._log(logging.INFO, "watching %s for photon changes", directory)

    async def stop_watching_photons(self, halt_threads: bool = False) -> None:
        """Stop watching: stop and join watchdog's threads, and let the work in progress end.

        Changes still waiting for their debounce delay are dropped. By default the batch of
        changes being applied is finished; ``halt_threads=True`` stops after the one load,
        reload or unload in progress (cutting it in half would leave a photon neither old nor
        new). Afterwards no watcher thread is left, and :meth:`watch_photons` may be called
        again. Does nothing when the loader is not watching.

        :raises TypeError: if ``halt_threads`` is not a bool.
        """
        _check_flag("halt_threads", halt_threads)
        refuse_inside_operation("stop_watching_photons()")
        watch, self._watch = self._watch, None
        if watch is None:
            self._is_watching = False
            return
        try:
            await watch.stop(halt_threads, self._stop_timeout)
        finally:
            self._is_watching = False
        for root in watch.roots:
            self._log(logging.INFO, "stopped watching %s", root)


def _check_arguments(
    path: object, photon_base: object, other_classes: object, recursive: object
) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the photon path must be a str or os.PathLike, not {type(path).__name__}")
    if not isinstance(photon_base, type):
        raise TypeError(f"photon_base must be a class, not {type(photon_base).__name__}")
    if other_classes is not None and (
        isinstance(other_classes, str)
        or not isinstance(other_classes, Sequence)
        or not all(isinstance(name, str) for name in other_classes)
    ):
        raise TypeError("other_classes must be a list of class names (str)")
    if not isinstance(recursive, bool):
        raise TypeError(f"recursive must be a bool, not {type(recursive).__name__}")


def _select_entry_point_photons(
    selection: EntryPointSelection, imported: ImportedSource, handlers: list[Handler]
) -> list[Handler]:
    """Keep the handlers of the photons the entry points name, with their origins."""
    classes = [handler.photon_class for handler in handlers if handler.photon_class is not None]
    chosen = selection.select(imported.module.__name__, imported.modules, classes)
    selected: list[Handler] = []
    for handler in handlers:
        entry = chosen.get(handler.photon_class) if handler.photon_class is not None else None
        if entry is not None:
            handler._origin = origin_of(entry)
            selected.append(handler)
    return selected


def _check_reference(photon: object) -> None:
    """A photon reference that is not a handler must be a name or a path, and not empty."""
    if not isinstance(photon, (str, os.PathLike)):
        raise TypeError(f"expected a Handler, a photon name or a path, not {type(photon).__name__}")
    if not os.fspath(photon):
        raise PhotonNotFoundError("an empty name or path names no photon", photon)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def _check_photon_list(photons: object) -> None:
    if isinstance(photons, (str, Handler, os.PathLike)) or not isinstance(photons, Sequence):
        raise TypeError("photons must be a list of handlers, names or paths")


def _given_directory(photon_path: str | os.PathLike[str]) -> Path:
    """The directory a photon path was given in, before its own symlinks are followed."""
    return canonical_path(os.path.dirname(os.path.abspath(os.fspath(photon_path))))


def _drop_modules(modules: Mapping[str, ModuleType]) -> None:
    for name, module in modules.items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
    release_helpers(modules)
    _clear_class_caches()


def _clear_class_caches() -> None:
    """Let go of photon classes that the standard library caches strongly.

    CPython 3.12.0-3.12.3 keep up to 128 class MROs alive in the cache behind
    ``inspect.getattr_static`` (CPython gh-118013), which pluggy calls on every photon. Later
    versions cache weak references under another name, so this does nothing there.
    """
    cache = getattr(inspect, "_shadowed_dict_from_mro_tuple", None)
    cache_clear = getattr(cache, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def _stash_modules(sources: Iterable[PhotonSource]) -> dict[str, ModuleType]:
    """Take the sources' modules out of ``sys.modules`` so a reload imports them afresh."""
    stashed: dict[str, ModuleType] = {}
    for source in sources:
        for name, module in {**source.modules, **source.helpers}.items():
            if sys.modules.get(name) is module:
                stashed[name] = sys.modules.pop(name)
        release_helpers(source.helpers)
    return stashed
