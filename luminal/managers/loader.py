"""``Loader``: the documented facade over a registry of photon sources and its operations.

The loader checks arguments, shapes results and has a lifecycle of its own; the work is done
by its parts: :class:`~luminal.managers.registry.Registry` (the loaded sources),
:class:`~luminal.managers.operations.Operations` (load, unload, reload),
:class:`~luminal.managers.reload.Reload` (the reload transaction) and
:class:`~luminal.managers.watching.PhotonWatch` (following directory trees).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import pluggy

from luminal import hookspecs
from luminal.discovery import DEFAULT_GROUP, EntryPointPolicy
from luminal.errors import (
    DirectoryNotFoundError,
    LoaderClosedError,
    PhotonLoadError,
    PhotonNotFoundError,
    ThreadManagerAlreadyRunningError,
)
from luminal.events import acall_hook
from luminal.importing import Importer
from luminal.managers.handler import Handler
from luminal.managers.installed import InstalledPhotons, check_entry_point_arguments
from luminal.managers.operations import Operations, given_directory
from luminal.managers.reentry import refuse_inside_operation
from luminal.managers.registry import PhotonRef, PhotonSource, Registry, check_reference
from luminal.managers.reload import restart_previous
from luminal.managers.reporting import Reporter, Settings
from luminal.managers.staging import Staging, check_unique_names, photon_classes
from luminal.managers.watching import PhotonWatch, check_disjoint, watched_directory
from luminal.photon import IPhoton
from luminal.sources import canonical_path, source_path
from luminal.tree import scan_directory
from luminal.trust import TrustPolicy
from luminal.watcher import DEFAULT_DEBOUNCE, DirectoryWatcher, ObserverFactory

__all__ = ["Loader", "LoaderState", "PhotonSource"]


class LoaderState(enum.Enum):
    """A loader is ``OPEN`` until :meth:`Loader.close`; then every operation raises
    :class:`~luminal.errors.LoaderClosedError`."""

    OPEN = "open"
    CLOSED = "closed"


class Loader:
    """Loads, starts, unloads, reloads and watches photons.

    Every running photon is registered in :attr:`plugin_manager`, a pluggy ``PluginManager`` for
    the project ``"luminal"``. Use it as ``async with Loader() as loader:`` so that watching is
    stopped and every photon finalized on exit; a closed loader loads nothing more.

    :param logging: log each load, start, reload and unload through the stdlib logger
        ``luminal`` (its handlers are the host's choice).
    :param suppress_errors: report a photon that fails to load (log and ``luminal_photon_error``)
        and go on, instead of raising.
    :param finalize_timeout: seconds a finalizer may take before the photon is force-stopped.
    :param stop_timeout: seconds to wait for a photon's threads and processes at each stop step.
    :param start_timeout: seconds an ``async`` ``photon_start`` may take before it is cancelled,
        the photon stopped and :class:`~luminal.errors.PhotonStartError` raised.
    :param plugin_manager: a ``PluginManager`` of project ``"luminal"`` to use instead of a new one.
    :param trust: a :class:`~luminal.trust.TrustPolicy` applied before any photon source runs;
        ``None`` (the default) applies none. ``luminal run`` turns it on.
    :raises ValueError: if a timeout is not a positive, finite number of seconds.
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
        plugin_manager = _checked_plugin_manager(plugin_manager)
        for keyword, seconds in (
            ("finalize_timeout", finalize_timeout),
            ("stop_timeout", stop_timeout),
            ("start_timeout", start_timeout),
        ):
            if not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
                raise ValueError(f"{keyword} must be a positive number of seconds, not {seconds!r}")
        if trust is not None and not isinstance(trust, TrustPolicy):
            raise TypeError(f"trust must be a TrustPolicy or None, not {type(trust).__name__}")
        self._settings = Settings(
            bool(logging),
            bool(suppress_errors),
            finalize_timeout,
            stop_timeout,
            start_timeout,
            trust,
        )
        self._plugin_manager = plugin_manager
        self._registry = Registry()
        self._importer = Importer(trust, lambda: bool(self._registry.sources))
        self._reporter = Reporter(plugin_manager, bool(logging))
        self._staging = Staging(self._registry, self._importer, self._reporter, self._settings)
        self._operations = Operations(self._registry, self._staging, self._reporter, self._settings)
        self._watch: PhotonWatch | None = None
        self._state = LoaderState.OPEN

    @property
    def photons(self) -> Mapping[str, Handler]:
        """A read-only view of the loaded photons: name → :class:`Handler`."""
        return self._registry.photons

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy ``PluginManager`` in which running photons are registered."""
        return self._plugin_manager

    @property
    def suppress_errors(self) -> bool:
        return self._settings.suppress_errors

    @property
    def trust(self) -> TrustPolicy | None:
        """The trust policy applied before photon sources run, if any."""
        return self._settings.trust

    @property
    def state(self) -> LoaderState:
        """Whether the loader is open or closed (see :class:`LoaderState`)."""
        return self._state

    @property
    def _namespace(self) -> str:
        return self._importer.namespace

    async def acall(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook on every running photon and await its ``async`` implementations.

        Results come back in pluggy's order, as ``plugin_manager.hook.<name>(**kwargs)`` would
        give them, with coroutines awaited concurrently.
        """
        return await acall_hook(self._plugin_manager, hook_name, **kwargs)

    async def __aenter__(self) -> Loader:
        self._check_open()
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

        The loader is closed afterwards: a load, reload, unload or watch raises
        :class:`~luminal.errors.LoaderClosedError`. Closing a closed loader does nothing.

        :raises PhotonReentryError: if called from inside an operation of this loader (a
            ``photon_start``, say), which it would have to wait for.
        """
        refuse_inside_operation("loader.close()")
        await self.stop_watching_photons()
        await self._operations.unload_all()
        self._state = LoaderState.CLOSED

    def _check_open(self) -> None:
        if self._state is LoaderState.CLOSED:
            raise LoaderClosedError("this loader is closed; create a new Loader")

    async def _import_module(self, module_path: str | os.PathLike[str]) -> ModuleType:
        """Import the source at ``module_path`` under its private name and return the module.

        Importing registers nothing; :meth:`load_photon` does that once the module is validated.

        :raises ModuleNotFoundError: if there is no module or package at the path.
        """
        path = canonical_path(module_path)
        directory = self._registry.given_directory(path)
        return (await self._importer.import_one(path, False, (), directory)).module

    async def _validate_module(
        self,
        imported_module: ModuleType,
        photon_path: str | os.PathLike[str],
        photon_base: type,
        other_classes: Sequence[str] = (),
    ) -> list[Handler]:
        """Create a handler for each photon class the module defines (a list; the seed's
        ``False`` for a module without photons is ``[]``).

        :raises PhotonNameConflictError: if two photon classes of the module share a name.
        """
        classes = photon_classes(imported_module, photon_base, other_classes)
        path = os.fspath(photon_path)
        check_unique_names(classes, path)
        return self._staging.handlers_for(
            classes, imported_module.__name__, path, "", canonical_path(path)
        )

    async def _scan_module(self, path: str | os.PathLike[str]) -> tuple[str, bool, bool]:
        """Tell whether ``path`` is a module or a package: ``(path, is_dir, packages_only)``.

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
        """The photon sources directly in a directory (:func:`luminal.tree.scan_directory`):
        ``([(module_path, is_dir), ...], packages_only)``."""
        entries = scan_directory(canonical_path(path), [])
        found = [(str(entry), kind != "file") for entry, kind in entries]
        packages_only = bool(entries) and all(kind == "package" for _, kind in entries)
        return found, packages_only

    async def _check_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """The handler(s) a handler, photon name or path names (a path names its source's).

        :raises TypeError: if ``photon`` is neither a :class:`Handler`, a ``str`` nor a path.
        :raises PhotonNotFoundError: if no loaded photon matches.
        """
        return self._registry.named(photon)

    async def _emit_photon(
        self,
        photon_path: str | os.PathLike[str] | tuple[str, bool, bool],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] = (),
        recursive: bool = False,
    ) -> list[Handler]:
        """Load one source (a path, or a :meth:`_scan_module` tuple); return its handlers, ``[]``
        for none (the seed's ``None``).

        :raises PhotonLoadError: if the source fails to import or validate; the cause is chained.
        """
        raw_path = photon_path[0] if isinstance(photon_path, tuple) else photon_path
        self._check_open()
        return await self._operations.load_source(
            source_path(raw_path), photon_base, other_classes, recursive
        )

    async def _emit_photons(
        self,
        photons_directory: str | os.PathLike[str],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] = (),
        recursive: bool = False,
    ) -> list[Handler]:
        """Load every photon source of a directory (:func:`luminal.tree.select_sources`).

        :raises DirectoryLoadError: if any source failed and ``suppress_errors`` is off.
        """
        self._check_open()
        return await self._operations.load_directory(
            canonical_path(photons_directory), photon_base, other_classes, recursive
        )

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
        self._check_open()
        path = _photon_file(photon_path)
        self._registry.give_directory(path, given_directory(photon_path))
        try:
            handlers = await self._emit_photon(path, photon_base, other_classes or [], recursive)
        except PhotonLoadError:
            if self._settings.suppress_errors:
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

        Loose ``.py`` files are always loaded; packages when ``recursive`` is set or the directory
        holds only packages; plain sub-directories are entered when ``recursive`` is set. A
        source that fails is reported (log and ``luminal_photon_error``) and the others load.

        :raises TypeError: if an argument has the wrong type.
        :raises DirectoryNotFoundError: if the path does not exist or is a file.
        :raises DirectoryLoadError: if some sources failed and ``suppress_errors`` is off; the
            photons that loaded stay loaded and are listed in ``handlers``.
        """
        _check_arguments(photons_directory, photon_base, other_classes, recursive)
        self._check_open()
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
        rule of which distributions and entry-point names may load. Each entry point's source
        (see :mod:`luminal.discovery`) loads like a loose photon package, so reload, unload and
        checksum work the same; :attr:`Handler.origin` names the distribution and entry point.
        An entry point that fails is reported (log and ``luminal_photon_error``) as an
        :class:`EntryPointLoadError` and skipped; the others load. A name in ``names`` that no
        entry point has is logged as a warning.

        :raises TypeError: if an argument has the wrong type.
        :raises EntryPointGroupLoadError: if some entry points failed and ``suppress_errors`` is
            off; the photons that loaded stay loaded and are listed in ``handlers``.
        """
        wanted = check_entry_point_arguments(group, names, policy, photon_base)
        self._check_open()
        return await InstalledPhotons(self._operations).load(group, wanted, policy, photon_base)

    async def _absorb_photon(
        self, photon: PhotonRef, force_stop: bool = False, suppress_finalizer_log: bool = False
    ) -> bool:
        """Unload a photon's whole source (see :meth:`unload_photon`); ``suppress_finalizer_log``
        is accepted for the seed's signature, and finalizer problems are always reported."""
        self._check_open()
        return (await self._operations.unload([photon], force_stop))[0]

    async def _absorb_photons(
        self, photons: Sequence[PhotonRef], force_stop: bool = False
    ) -> list[str]:
        """Unload photons, every reference checked first; return the file path of each."""
        _check_photon_list(photons)
        self._check_open()
        paths = [str(self._registry.resolve(photon).path) for photon in photons]
        await self._operations.unload(photons, force_stop)
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
        _check_references([photon])
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
        _check_references(photons)
        return await self._absorb_photons(photons, force_stop)

    async def _revert_photon(
        self,
        validated_photon: Handler | list[Handler],
        validated_modules: dict[str, ModuleType],
        states: Mapping[str, Any] | None = None,
    ) -> None:
        """Put the previous version of a photon back after a failed reload (its modules, and a
        restart of its stopped handlers with their state); now a step of the reload
        transaction, :func:`luminal.managers.reload.restart_previous`."""
        handlers = validated_photon if isinstance(validated_photon, list) else [validated_photon]
        await restart_previous(self._reporter, handlers, validated_modules, states)

    async def _reload_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Reload the source of one photon atomically (see :mod:`luminal.managers.reload`)."""
        self._check_open()
        result = await self._operations.reload([photon])
        return result[0] if len(result) == 1 else result

    async def _reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Reload the sources of several photons, all or nothing."""
        _check_photon_list(photons)
        self._check_open()
        return await self._operations.reload(photons)

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
        _check_references([photon])
        return await self._reload_photon(photon)

    async def reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Atomically reload several photons' files, all or nothing; return the fresh handlers.

        :raises TypeError: if ``photons`` is not a list of handlers, names or paths.
        :raises PhotonNotFoundError: if any of them is not loaded; nothing is reloaded then.
        :raises PhotonReloadError: if any reload failed; every photon is rolled back.
        """
        _check_photon_list(photons)
        _check_references(photons)
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
        photon is started. From then on a new source is loaded and started, a changed one (or
        one whose helper module changed) reloaded atomically with rollback, a deleted one
        unloaded, a moved one unloaded and loaded from its new place; a ``touch`` changes
        nothing. Failures are reported (log and ``luminal_photon_error``) and the previous
        version keeps running. A file deleted and re-created within ``RECREATE_GRACE`` (0.25 s)
        is reloaded with its state; a deleted tree unloads its photons and is followed again
        when it reappears; a change of the trust policy's lock file retries what it refused.
        Other trees to follow with this loader go in ``more_directories``.

        Returns once the observers run and the trees are loaded. The seed's polling thread
        (``_observe_photons``) is replaced by watchdog events, handed to this loop through
        ``loop.call_soon_threadsafe`` and debounced (``debounce`` seconds per file) on it.

        :param observer_factory: makes the watchdog observer (watchdog's native ``Observer`` by
            default; ``PollingObserver`` for file systems without change events).
        :raises TypeError: if a directory is not a ``str`` or path, or ``more_directories`` is
            not a collection of them.
        :raises DirectoryNotFoundError: if a directory is missing or not a directory.
        :raises ValueError: if two directories are the same or one lies inside another, or if
            ``debounce`` is negative.
        :raises ThreadManagerAlreadyRunningError: if this loader is already watching.
        """
        directories = _watched_directories(photons_directory, more_directories, debounce)
        self._check_open()
        if self._watch is not None:
            raise ThreadManagerAlreadyRunningError(
                "this loader is already watching photons; call stop_watching_photons first"
            )
        make_watcher = functools.partial(
            DirectoryWatcher,
            loop=asyncio.get_running_loop(),
            debounce=debounce,
            observer_factory=observer_factory,
        )
        watch = self._watch = PhotonWatch(self._operations, directories, make_watcher)
        try:
            await watch.start()
        except BaseException:
            await self.stop_watching_photons(halt_threads=True)
            raise
        for directory in directories:
            self._reporter.log(logging.INFO, "watching %s for photon changes", directory)

    async def stop_watching_photons(self, halt_threads: bool = False) -> None:
        """Stop watching: stop and join watchdog's threads, and let the work in progress end.

        Changes still waiting for their debounce delay are dropped. By default the batch of
        changes being applied is finished; ``halt_threads=True`` stops after the one load,
        reload or unload in progress. Afterwards no watcher thread is left, and
        :meth:`watch_photons` may be called again. Does nothing when the loader is not watching.

        :raises TypeError: if ``halt_threads`` is not a bool.
        """
        _check_flag("halt_threads", halt_threads)
        refuse_inside_operation("stop_watching_photons()")
        watch = self._watch
        if watch is None:
            return
        try:
            await watch.stop(halt_threads, self._settings.stop_timeout)
        finally:
            self._watch = None
        for root in watch.roots:
            self._reporter.log(logging.INFO, "stopped watching %s", root)


def _checked_plugin_manager(plugin_manager: pluggy.PluginManager | None) -> pluggy.PluginManager:
    """The host's plugin manager (of project ``"luminal"``) or a new one, with Luminal's specs."""
    if plugin_manager is None:
        plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    elif plugin_manager.project_name != hookspecs.PROJECT_NAME:
        raise ValueError(
            f"plugin_manager must be for project {hookspecs.PROJECT_NAME!r}, "
            f"not {plugin_manager.project_name!r}"
        )
    plugin_manager.add_hookspecs(hookspecs)
    return plugin_manager


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


def _photon_file(photon_path: str | os.PathLike[str]) -> Path:
    """The source a ``load_photon`` path names: the file, or the package of an ``__init__.py``.

    :raises PhotonNotFoundError: if the path is empty, missing or a directory.
    :raises PhotonLoadError: if it is no ``.py`` file.
    """
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
    return path.parent if path.name == "__init__.py" else path


def _watched_directories(
    photons_directory: str | os.PathLike[str],
    more_directories: Iterable[str | os.PathLike[str]],
    debounce: object,
) -> list[Path]:
    """Check ``watch_photons``' arguments; return the canonical trees, disjoint."""
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
    return directories


def _check_references(photons: Iterable[object]) -> None:
    for photon in photons:
        if not isinstance(photon, Handler):
            check_reference(photon)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def _check_photon_list(photons: object) -> None:
    if isinstance(photons, (str, Handler, os.PathLike)) or not isinstance(photons, Sequence):
        raise TypeError("photons must be a list of handlers, names or paths")
