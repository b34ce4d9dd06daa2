"""``Loader``: the documented facade over a registry of photon sources and its operations.

The loader checks arguments, shapes results and has a lifecycle of its own; the work is done
by its parts: :class:`~luminal.managers.registry.Registry` (the loaded sources),
:class:`~luminal.managers.operations.Operations` (load, unload, reload),
:class:`~luminal.managers.reload.Reload` (the reload transaction) and
:class:`~luminal.managers.watching.PhotonWatch` (following directory trees).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pluggy

from luminal.discovery import DEFAULT_GROUP, EntryPointPolicy
from luminal.errors import LoaderClosedError, PhotonLoadError, ThreadManagerAlreadyRunningError
from luminal.managers.arguments import (
    check_arguments,
    check_flag,
    check_photon_list,
    check_references,
    checked_plugin_manager,
    checked_settings,
    photon_directory,
    photon_file,
    watched_directories,
)
from luminal.managers.finishing import finish_then_cancel
from luminal.managers.handler import Handler
from luminal.managers.hookcalls import HookCalls, check_quarantine_after
from luminal.managers.lifecycle import LoaderState
from luminal.managers.operations import Operations, given_directory
from luminal.managers.reentry import refuse_inside_operation
from luminal.managers.registry import PhotonRef
from luminal.managers.seedsteps import SeedSteps
from luminal.managers.wrappedimpls import WrappedImpls
from luminal.photon import IPhoton
from luminal.reading import canonical_path
from luminal.sources import source_path
from luminal.trust import TrustPolicy
from luminal.watcher import DEFAULT_DEBOUNCE, ObserverFactory

if TYPE_CHECKING:
    from luminal.managers.watching import PhotonWatch

__all__ = ["Loader", "LoaderState"]


class Loader(SeedSteps):
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
    :param code_cache: where compiled photon code is cached, keyed by its source bytes: ``True``
        (the default) a per-user directory, a path that directory, ``False`` or ``None`` none.
    :param quarantine_after: quarantine a photon whose hook implementations fail or time out in
        this many consecutive isolated :meth:`acall`/:meth:`call` calls (``None``: never).
    :raises ValueError: if a timeout is not a positive, finite number of seconds, or
        ``quarantine_after`` is below 1.
    :raises TypeError: if ``logging`` or ``suppress_errors`` is not a bool, a timeout is not a
        number (a ``bool`` is none), ``plugin_manager`` is no ``PluginManager``, or
        ``quarantine_after`` is neither ``None`` nor an ``int``.
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
        code_cache: str | os.PathLike[str] | bool | None = True,
        quarantine_after: int | None = None,
    ) -> None:
        quarantine_after = check_quarantine_after(quarantine_after)
        self._plugin_manager = plugin_manager = checked_plugin_manager(plugin_manager)
        self._settings = checked_settings(
            logging,
            suppress_errors,
            finalize_timeout,
            stop_timeout,
            start_timeout,
            trust,
            code_cache,
        )
        wrapped_impls = WrappedImpls()
        self._operations = Operations.create(self._settings, plugin_manager, wrapped_impls.forget)
        self._registry = self._operations.registry
        self._staging = self._operations.staging
        self._reporter = self._operations.reporter
        self._watch: PhotonWatch | None = None
        self._state = LoaderState.OPEN
        self._hooks = HookCalls(
            plugin_manager, self._registry.photons, self._reporter, quarantine_after, wrapped_impls
        )
        self._reporter.route_events(self._hooks.broadcast)

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
        return self._staging.importer.namespace

    async def acall(
        self, hook_name: str, *, timeout: float | None = None, isolate: bool = True, **kwargs: Any
    ) -> Any:
        """Call a hook on every running photon and await its ``async`` implementations.

        Results come back in pluggy's order, as ``plugin_manager.hook.<name>(**kwargs)`` would
        give them (wrappers included), with coroutines awaited concurrently. With ``isolate``, a
        photon's implementation that raises is skipped and reported as a
        :class:`~luminal.errors.PhotonHookError`; without, the first error propagates.
        ``timeout`` bounds each ``async`` implementation: one still running is cancelled,
        skipped and reported as a :class:`~luminal.errors.PhotonHookTimeoutError` (raised
        without ``isolate``). A ``firstresult`` hook gives the first non-``None`` result of a
        photon that did not fail.

        :raises AttributeError: if no hook has that name.
        :raises TypeError: if an argument has the wrong type, or the hook is ``historic``.
        :raises ValueError: if ``timeout`` is not a positive, finite number of seconds.
        """
        return await self._hooks.acall(hook_name, timeout, isolate, kwargs)

    def call(self, hook_name: str, *, isolate: bool = True, **kwargs: Any) -> Any:
        """:meth:`acall` for synchronous hooks, from code without an event loop at hand.

        There is no ``timeout``: a synchronous implementation cannot be interrupted. An ``async``
        implementation is not awaited: it is skipped and reported as a failure. Called from a
        thread of the host's, its failures are reported on the loader's loop while that runs.
        """
        return self._hooks.call(hook_name, isolate, kwargs)

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

        The loader is closed from the start: a load, reload, unload or watch raises
        :class:`~luminal.errors.LoaderClosedError`; closing it again does nothing. A close
        whose caller is cancelled is finished, what remains force-stopped.

        :raises PhotonReentryError: if called from inside an operation of this loader.
        """
        refuse_inside_operation("loader.close()")
        self._state = LoaderState.CLOSED
        try:
            await self.stop_watching_photons()
        except BaseException:
            await self._operations.close(force_stop=True)
            raise
        await self._operations.close()

    def _check_open(self) -> None:
        if self._state is LoaderState.CLOSED:
            raise LoaderClosedError("this loader is closed; create a new Loader")

    async def _emit_photon(
        self,
        photon_path: str | os.PathLike[str] | tuple[str, bool, bool],
        photon_base: type = IPhoton,
        other_classes: Sequence[str] = (),
        recursive: bool = False,
    ) -> list[Handler]:
        """Load one source (a path or a :meth:`_scan_module` tuple); its handlers (``[]`` for
        none, the seed's ``None``); :class:`PhotonLoadError` chains the cause of a failure."""
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
        """Load every photon source of a directory (:func:`luminal.tree.select_sources`)."""
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

        The :class:`Handler` of a file's one photon, a list for several, ``[]`` for none (or a
        failure with ``suppress_errors``). A package's ``__init__.py`` loads the package, with
        its sub-modules' photons when ``recursive``.

        :raises TypeError: if an argument has the wrong type.
        :raises PhotonNotFoundError: if the path does not exist or is a directory.
        :raises PhotonLoadError: if the file is no ``.py`` file (always), or fails to import or
            validate (subclasses :class:`PhotonNameConflictError`, :class:`PhotonTrustError`;
            not raised with ``suppress_errors``).
        """
        check_arguments(photon_path, photon_base, other_classes, recursive)
        self._check_open()
        path = photon_file(photon_path)
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
        check_arguments(photons_directory, photon_base, other_classes, recursive)
        self._check_open()
        directory = photon_directory(photons_directory)
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

        ``names`` picks entry points for this call; ``policy`` is the host's standing rule. Each
        entry point's source loads like a loose photon package (:mod:`luminal.discovery`);
        :attr:`Handler.origin` names its distribution. An entry point that fails is reported as
        an :class:`EntryPointLoadError` and skipped; an unknown name in ``names`` is a warning.

        :raises TypeError: if an argument has the wrong type.
        :raises EntryPointGroupLoadError: if some entry points failed and ``suppress_errors`` is
            off; the photons that loaded stay loaded and are listed in ``handlers``.
        """
        from luminal.managers.installed import InstalledPhotons, check_entry_point_arguments

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
        check_photon_list(photons)
        self._check_open()
        paths = [str(self._registry.resolve(photon).path) for photon in photons]
        await self._operations.unload(photons, force_stop)
        return paths

    async def unload_photon(self, photon: PhotonRef, force_stop: bool = False) -> bool:
        """Stop a photon (finalizer, then whatever it still owns) and unload its whole file.

        Returns whether everything the file's photons owned stopped (what was left running is
        reported); they are removed either way. ``force_stop`` skips the finalizer, and discards
        a photon that was never started.

        :raises TypeError: if ``photon`` is not a handler, name or path.
        :raises PhotonNotFoundError: if the photon is not loaded.
        :raises PhotonNotInitializedError: if the photon was never started (without ``force_stop``).
        """
        check_flag("force_stop", force_stop)
        check_references([photon])
        return await self._absorb_photon(photon, force_stop)

    async def unload_photons(
        self, photons: Sequence[PhotonRef], force_stop: bool = False
    ) -> list[str]:
        """Unload several photons; return the file path of each one given (as ``unload_photon``).

        :raises TypeError: if ``photons`` is not a list of handlers, names or paths.
        :raises PhotonNotFoundError: if any of them is not loaded; nothing is unloaded then.
        """
        check_flag("force_stop", force_stop)
        check_photon_list(photons)
        check_references(photons)
        return await self._absorb_photons(photons, force_stop)

    async def _reload_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Reload the source of one photon atomically (see :mod:`luminal.managers.reload`)."""
        self._check_open()
        result = await self._operations.reload([photon])
        return result[0] if len(result) == 1 else result

    async def _reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Reload the sources of several photons, all or nothing."""
        check_photon_list(photons)
        self._check_open()
        return await self._operations.reload(photons)

    async def reload_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """Atomically reload a photon's file and return the fresh handler(s).

        New code is imported and validated while the old version runs; then the old version
        exports its state and is finalized before the new one is created, given the state and
        started (so ``__init__`` may take the old one's port). On any failure the old version is
        back, restarted with its state, and :class:`PhotonReloadError` chains the cause.

        :raises TypeError: if ``photon`` is not a handler, name or path.
        :raises PhotonNotFoundError: if the photon is not loaded.
        :raises PhotonReloadError: if the reload failed and was rolled back.
        """
        check_references([photon])
        return await self._reload_photon(photon)

    async def reload_photons(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Atomically reload several photons' files, all or nothing; return the fresh handlers.

        :raises TypeError: if ``photons`` is not a list of handlers, names or paths.
        :raises PhotonNotFoundError: if any of them is not loaded; nothing is reloaded then.
        :raises PhotonReloadError: if any reload failed; every photon is rolled back.
        """
        check_photon_list(photons)
        check_references(photons)
        return await self._reload_photons(photons)

    async def watch_photons(
        self,
        photons_directory: str | os.PathLike[str] | None,
        *,
        more_directories: Iterable[str | os.PathLike[str]] = (),
        debounce: float = DEFAULT_DEBOUNCE,
        observer_factory: ObserverFactory | None = None,
        entry_points: bool = False,
        entry_point_group: str = DEFAULT_GROUP,
        entry_point_policy: EntryPointPolicy | None = None,
    ) -> None:
        """Load and start the photons of a directory tree, then keep the loader in step with it.

        The tree is loaded as ``load_photons(directory, recursive=True)`` loads it and every photon
        started. Then a new source is loaded and started, a changed one (or one whose helper
        changed) reloaded atomically, a deleted one unloaded, a moved one loaded from its new place;
        a ``touch`` changes nothing, a failure is reported and the previous version keeps running. A
        file re-created within ``RECREATE_GRACE`` (0.25 s) is reloaded with its state; a deleted
        tree is followed again when it reappears; a change of the trust lock file retries what it
        refused. ``more_directories`` are followed too. Changes are debounced for ``debounce`` s.

        ``entry_points=True`` follows installed photons too (``photons_directory`` may then be
        ``None``): pip installs, upgrades, uninstalls and editable saves apply live.

        :param observer_factory: makes the watchdog observer (``PollingObserver`` for file
            systems without change events).
        :raises TypeError: if a directory is not a ``str`` or path, or ``more_directories`` is
            not a collection of them.
        :raises DirectoryNotFoundError: if a directory is missing or not a directory.
        :raises ValueError: if two directories are the same or nested, or ``debounce`` is
            negative or not finite.
        :raises ThreadManagerAlreadyRunningError: if this loader is already watching.
        """
        from luminal.managers import installed_watch, watching  # needed from here on only

        directories = watched_directories(photons_directory, more_directories, debounce)
        self._check_open()
        if self._watch is not None:
            raise ThreadManagerAlreadyRunningError("watching already; stop_watching_photons first")
        watch = watching.PhotonWatch(self._operations, directories, debounce, observer_factory)
        installed = (entry_points, entry_point_group, entry_point_policy)
        watch.installed = installed_watch.installed_watch_for(
            self._operations, bool(directories), *installed, debounce, observer_factory
        )
        self._watch = watch
        try:
            await self._watch.start()
        except BaseException:
            await self.stop_watching_photons(halt_threads=True)
            raise

    async def stop_watching_photons(self, halt_threads: bool = False) -> None:
        """Stop watching: stop and join watchdog's threads, and let the work in progress end.

        Changes waiting for their debounce are dropped; the batch being applied is finished, or
        with ``halt_threads=True`` only the one operation in progress. Then no watcher thread is
        left and :meth:`watch_photons` may be called again. Does nothing when not watching.

        :raises TypeError: if ``halt_threads`` is not a bool.
        """
        check_flag("halt_threads", halt_threads)
        refuse_inside_operation("stop_watching_photons()")
        watch, self._watch = self._watch, None
        if watch is not None:
            # Finished also when the caller is cancelled: no observer thread outlives a stop.
            stopping = watch.stop(halt_threads, self._settings.stop_timeout)
            await finish_then_cancel(stopping, hurry=watch.halt)
