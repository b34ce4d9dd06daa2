"""``Handler``: one photon class of one source, and the lifecycle of its running instance."""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from luminal.dependencies import requirement_error
from luminal.errors import (
    LuminalError,
    PhotonDependencyError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonStartError,
)
from luminal.guard import call_photon, photon_code
from luminal.managers.finalizing import leftover_error, run_finalizer
from luminal.managers.hookimpls import check_hookimpls
from luminal.managers.hookstats import HookRecord, HookStats
from luminal.managers.hooktasks import run_within
from luminal.managers.lifecycle import (
    NO_STATE,
    HandlerContext,
    HandlerState,
    PhotonOrigin,
    adopt_threads_started_since,
)
from luminal.managers.reentry import holding, refuse_held, start_context, start_over
from luminal.ownership import Ownership, collect_ownerships, ownership_of
from luminal.reading import file_checksum
from luminal.sources import drop_modules

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["NO_STATE", "Handler", "HandlerContext", "HandlerState", "PhotonOrigin"]

logger = logging.getLogger(__name__)


class Handler:
    """Wraps a photon class and its running instance, and knows where it came from.

    ``instance`` is the photon *class* (the seed's name is kept); :meth:`start` creates the
    instance and registers it in the loader's pluggy ``PluginManager`` under :attr:`name`.
    Handlers are created by the loader, not by hosts; ``context`` (:class:`HandlerContext`)
    carries what the handlers of one source share.
    """

    def __init__(
        self,
        logging: bool,
        name: str,
        filepath: str,
        checksum: str,
        instance: type,
        *,
        context: HandlerContext | None = None,
        module_name: str | None = None,
        origin: PhotonOrigin | None = None,
    ) -> None:
        self._logging = logging
        self._name = name
        self._filepath = filepath
        self._checksum = checksum
        self._photon_class: type | None = instance
        self._instance: Any = None
        self._state = HandlerState.LOADED
        self._context = context or HandlerContext.standalone()
        self._module_name = module_name or instance.__module__
        self._origin = origin
        self._quarantined = False  # until a reload replaces the handler: restarts keep it
        self.hook_record = HookRecord()  # what the loader's acall/call record of its hooks

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager the running instance is registered in."""
        return self._context.plugin_manager

    @property
    def name(self) -> str:
        """The photon's name, unique within its loader."""
        return self._name

    @property
    def filepath(self) -> str:
        """The canonical path of the photon's file (or package directory)."""
        return self._filepath

    @property
    def checksum(self) -> str:
        """SHA-512 of the source bytes that were compiled and run."""
        return self._checksum

    @property
    def state(self) -> HandlerState:
        """Where the handler is in its lifecycle (see :class:`HandlerState`)."""
        return self._state

    @property
    def started(self) -> bool:
        """Whether the photon's instance runs now: ``STARTED``, or ``QUARANTINED`` (running
        but cut off from hook calls)."""
        return self._state in (HandlerState.STARTED, HandlerState.QUARANTINED)

    @property
    def version(self) -> str:
        """The photon's ``version``, which requirements' specifiers are matched against."""
        return str(getattr(self._photon_class, "photon_version", "0.0.0"))

    @property
    def requires(self) -> tuple[Requirement, ...]:
        """The photon's parsed requirements (its class keyword ``requires``)."""
        return tuple(getattr(self._photon_class, "photon_requires", ()))

    @property
    def photon_class(self) -> type | None:
        """The photon class; ``None`` once the photon is unloaded, so its module can be freed."""
        return self._photon_class

    @property
    def instance(self) -> Any:
        """The running photon instance, or ``None`` when not started."""
        return self._instance

    @property
    def module_name(self) -> str:
        """The private name the photon's module has in ``sys.modules``."""
        return self._module_name

    @property
    def origin(self) -> PhotonOrigin | None:
        """The distribution and entry point of an installed photon; ``None`` for loose files."""
        return self._origin

    def __str__(self) -> str:
        return (
            f"Handler(name={self._name!r}, filepath={self._filepath!r}, "
            f"checksum={self._checksum[:16]!r}, state={self._state.value!r})"
        )

    __repr__ = __str__

    @staticmethod
    async def _get_checksum(filename: str, block: int = 2**20) -> str | None:
        """SHA-512 of a file read in ``block``-sized chunks, ``None`` if unreadable: for hosts
        comparing a file on disk with :attr:`checksum` (the loader hashes what it compiles)."""
        return await file_checksum(filename, block)

    async def _clear_module_references(self) -> bool:
        """Remove the photon's module and its sub-modules from ``sys.modules``; whether any."""
        prefix, own = self._module_name + ".", self._module_name
        modules = {n: m for n, m in list(sys.modules.items()) if n == own or n.startswith(prefix)}
        drop_modules(modules)
        return bool(modules)

    async def _stop_photon_threads(self) -> bool:
        """Set the photon's threads' stop events and interrupt those that ignore theirs; whether
        all of them ended (see :meth:`~luminal.ownership.Ownership.stop_threads`)."""
        ownership = ownership_of(self._instance)
        return ownership is None or not await ownership.stop_threads(self._context.stop_timeout)

    async def _stop_photon_processes(self) -> bool:
        """Terminate, then kill, the photon's child processes and reap them; whether all
        exited."""
        ownership = ownership_of(self._instance)
        return ownership is None or not await ownership.stop_processes(self._context.stop_timeout)

    async def _force_stop(self) -> bool:
        """Stop the photon's tasks, threads and processes without its finalizer (see
        :meth:`~luminal.ownership.Ownership.stop`); the photon can start nothing new. Returns
        whether everything stopped; what did not is reported as a :class:`PhotonStopError`."""
        ownership = ownership_of(self._instance)
        return ownership is None or await self._stop_ownership(ownership)

    async def _stop_ownership(self, ownership: Ownership) -> bool:
        ownership.close(self._name, self._filepath)
        report = await ownership.stop(self._context.stop_timeout)
        if not report.clean:
            await self._report(leftover_error(report, (self._name, self._filepath)))
        return report.clean

    async def _report(self, error: LuminalError, level: int = logging.ERROR) -> None:
        if self._logging:
            traced = error.__cause__ is not None and level >= logging.ERROR
            logger.log(level, "%s", error, exc_info=error if traced else None)
        await self._context.broadcast("luminal_photon_error", path=self._filepath, error=error)

    async def _call_own_hook(
        self, hook_name: str, within: float | None = None, **kwargs: Any
    ) -> Any:
        """Call one lifecycle hook on this photon's instance only, awaiting it if async: in a
        task of its own when it must end ``within`` that many seconds (see
        :func:`~.hooktasks.run_within`). ``NO_STATE`` when the instance does not implement it."""
        result = self._invoke_own_hook(hook_name, **kwargs)
        if inspect.iscoroutine(result) and within is not None:
            return await run_within(
                result, self._name, hook_name, within, self._context.stop_timeout
            )
        return await result if inspect.isawaitable(result) else result

    def _invoke_own_hook(self, hook_name: str, **kwargs: Any) -> Any:
        """Call one lifecycle hook on this photon's instance; an async one's awaitable is
        returned as is. ``NO_STATE`` when the instance does not implement the hook."""
        instance = self._instance
        method = getattr(instance, hook_name, None)
        if method is None:
            return NO_STATE
        opts = self._context.plugin_manager.parse_hookimpl_opts(instance, hook_name)
        if opts is None:
            return NO_STATE
        accepted = pluggy.HookImpl(instance, self._name, method, opts).argnames
        return call_photon(method, **{key: kwargs[key] for key in kwargs.keys() & accepted})

    def _unregister(self, instance: Any) -> None:
        """Take ``instance`` out of the plugin manager, and tell the loader it is out."""
        if self._context.plugin_manager.is_registered(instance):
            self._context.plugin_manager.unregister(instance)
        if self._context.unregistered is not None:
            self._context.unregistered(instance)

    async def stop(self, force_stop: bool = False) -> bool:
        """Unregister and stop the running photon, its running dependents first (they wait to
        start again with it); whether everything it owned stopped.

        Gracefully, ``photon_finalize`` runs (bounded by ``finalize_timeout``), then what the
        photon still owns is stopped; with ``force_stop``, or when the finalizer is missing,
        raises or times out, it is force-stopped. It waits for an operation on the file under
        way; the photon stays ``LOADED``, and :meth:`start` creates a fresh instance.

        :raises TypeError: if ``force_stop`` is not a bool.
        :raises PhotonNotInitializedError: if the photon is not started.
        :raises PhotonNotFoundError: if the photon was unloaded (or replaced by a reload).
        """
        if not isinstance(force_stop, bool):
            raise TypeError(f"force_stop must be a bool, not {type(force_stop).__name__}")
        async with self._context.stopping(self) as dependents:
            self._loaded_class()
            if not self.started:
                raise PhotonNotInitializedError(f"photon {self._name!r} is not started", self._name)
            try:
                for dependent in reversed(dependents):
                    if dependent.started:
                        await dependent.suspend()
            finally:  # also when cancelled: what still runs is force-stopped, as an unload does
                for dependent in reversed(dependents):
                    if dependent.started:
                        await dependent.suspend(force_stop=True)
                clean = await self.stop_under_lock(force_stop, HandlerState.LOADED)
        return clean

    async def stop_under_lock(
        self, force_stop: bool = False, then: HandlerState = HandlerState.STOPPED
    ) -> bool:
        """:meth:`stop` for a holder of the file's lock (a loader operation), leaving ``then``."""
        if not self.started:
            raise PhotonNotInitializedError(f"photon {self._name!r} was never started", self._name)
        self._unregister(self._instance)
        try:
            finalized = force_stop or await self._finalize()
        finally:  # also when the caller is cancelled: a stop begun is a stop done
            clean = await self._force_stop()
            self._state = then
            self._instance = None
        return finalized and clean

    _stop = stop  # the seed's name of stop

    async def _finalize(self, report_missing: bool = True) -> bool:
        """Run the finalizer, bounded as :func:`~.finalizing.run_finalizer` says, reporting a
        finalizer that is missing, raises, times out or is left running; whether it ended."""
        return await run_finalizer(
            self._call_own_hook("photon_finalize"),
            (self._context.finalize_timeout, self._context.stop_timeout),
            report_missing,
            (self._name, self._filepath),
            self._report,
        )

    async def create_instance(self) -> Any:
        """Instantiate the photon class; the instance is not visible to anyone yet.

        ``__new__`` and ``__init__`` are called apart so that, when ``__init__`` raises, what it
        already started (``spawn_thread``, ``create_task``, ``spawn_process``) is stopped; under
        a metaclass that creates instances its own way, what was spawned is found by the
        ownerships created meanwhile (:func:`~luminal.ownership.collect_ownerships`).
        """
        photon_class = self._loaded_class()
        before = set(threading.enumerate())
        instance = None
        with collect_ownerships() as created:
            try:
                factory: Any = photon_class
                with photon_code():
                    if type(photon_class).__call__ is not type.__call__:
                        instance = factory()  # a metaclass that creates instances its own way
                    else:
                        # type.__call__ in two steps, keeping the object when __init__ raises.
                        instance = factory.__new__(factory)
                        if isinstance(instance, photon_class):
                            factory.__init__(instance)
            except BaseException as error:
                adopt_threads_started_since(instance, before)  # may create its ownership
                for ownership in created:
                    await self._stop_ownership(ownership)
                if not isinstance(error, Exception):
                    raise  # Ctrl-C
                raise PhotonStartError(
                    f"creating photon {self._name!r} from {self._filepath} raised "
                    f"{type(error).__name__}: {error}",
                    self._name,
                    self._filepath,
                ) from error
        adopt_threads_started_since(instance, before)
        return instance

    def _loaded_class(self) -> type:
        """The photon class, while the handler is loaded (not unloaded or replaced)."""
        if self._photon_class is None or self._state is HandlerState.STOPPED:
            raise PhotonNotFoundError(
                f"photon {self._name!r} was unloaded; load it again to start it", self._name
            )
        return self._photon_class

    def check_hookimpls(self, instance: Any) -> None:
        """Reject hook implementations the specs do not allow (see :mod:`.hookimpls`)."""
        check_hookimpls(self._context.plugin_manager, instance, self._name)

    @property
    def hook_stats(self) -> Mapping[str, HookStats]:
        """Hook name → :class:`HookStats` of the calls made through ``acall``/``call``."""
        return self.hook_record.stats

    def quarantine(self) -> bool:
        """Unregister the running instance, left running (``QUARANTINED``); whether it was.

        The handler stays quarantined when it is stopped and started again (its provider
        reloaded or came back, a failed reload rolled back): only a reload's new handler is not.
        """
        if self._state is not HandlerState.STARTED:
            return False
        self._unregister(self._instance)
        self._state = HandlerState.QUARANTINED
        self._quarantined = True
        return True

    async def activate(
        self, instance: Any, state: Any = NO_STATE, *, action: str = "started"
    ) -> None:
        """Register ``instance`` and run its ``photon_import_state`` and ``photon_start``; an
        ``async`` one of them gets ``start_timeout`` each (importing state is part of starting).

        ``action`` opens the INFO line logged on success (``started photon NAME from PATH``).

        On failure the instance is unregistered and finalized (so it releases what ``__init__``
        took), what it started is stopped, and :class:`PhotonStartError` is raised with the
        cause chained. What else ends it (Ctrl-C, the caller's cancellation) is undone the same
        way and passes through: no instance stays registered unless it started.
        """
        before = set(threading.enumerate())
        try:
            self._instance = instance  # first: a refused instance has its __init__'s work stopped
            self.check_hookimpls(instance)
            if state is not NO_STATE:
                within = self._context.start_timeout
                await self._call_own_hook("photon_import_state", within, state=state)
            await self._run_start_hook()
        except Exception as error:
            await self._undo_activation(instance, before)
            raise PhotonStartError(
                f"starting photon {self._name!r} from {self._filepath} raised "
                f"{type(error).__name__}: {error}",
                self._name,
                self._filepath,
            ) from error
        except BaseException:
            await self._undo_activation(instance, before)
            raise
        adopt_threads_started_since(instance, before)
        self._state = HandlerState.QUARANTINED if self._quarantined else HandlerState.STARTED
        if self._logging:
            logger.info("%s photon %s from %s", action, self._name, self._filepath)
        await self._context.broadcast("luminal_photon_started", handler=self)

    async def _undo_activation(self, instance: Any, before: set[threading.Thread]) -> None:
        """Undo a start of ``instance`` that did not finish: unregister it at once, then
        finalize it and stop what it started."""
        self._unregister(instance)
        adopt_threads_started_since(instance, before)
        if self._instance is instance:
            await self._finalize(report_missing=False)
        await self._force_stop()
        self._instance = None

    async def _run_start_hook(self) -> None:
        """Register the instance and run its ``photon_start``; an ``async`` one in a task
        bounded by ``start_timeout`` (:func:`~.hooktasks.run_within`), a synchronous one in
        place, unbounded. Registering in the same step as the start's first line keeps hook
        calls from reaching an instance before it."""
        timeout, grace = self._context.start_timeout, self._context.stop_timeout
        with start_context() as context:
            if inspect.iscoroutinefunction(getattr(self._instance, "photon_start", None)):
                starting = self._register_and_await_start()
            else:
                starting = context.run(self._register_and_start)
            if inspect.iscoroutine(starting):
                await run_within(starting, self._name, "photon_start", timeout, grace, context)

    def _register_and_start(self) -> Any:
        if not self._quarantined:
            self._context.plugin_manager.register(self._instance, name=self._name)
        return self._invoke_own_hook("photon_start")

    async def _register_and_await_start(self) -> None:
        try:
            if inspect.isawaitable(result := self._register_and_start()):
                await result
        finally:
            start_over()

    async def start(self) -> None:
        """Create the photon instance, register it and call its ``photon_start`` hook; then
        start the loader's waiting photons whose requirements now run.

        Starting a started photon does nothing. It waits for any load, reload or unload of the
        photon's file that is under way, so it never interleaves with one.

        :raises PhotonDependencyError: if a requirement does not run or the requirements form
            a cycle; the photon is ``WAITING`` and starts by itself once they run.
        :raises PhotonStartError: if ``__init__`` or ``photon_start`` raised; the photon stays
            loaded and unregistered, and the error is also sent to ``luminal_photon_error``.
        :raises PhotonNotFoundError: if the photon was unloaded (or replaced by a reload).
        """
        refuse_held([self._context.lock], f"start() of photon {self._name!r}")
        async with self._context.lock:
            if self.started:
                return
            with holding([self._context.lock]):
                try:
                    self._check_requirements()
                    await self.activate(await self.create_instance())
                except PhotonStartError as error:
                    waiting = isinstance(error, PhotonDependencyError)
                    self._state = HandlerState.WAITING if waiting else HandlerState.LOADED
                    await self._report(error)
                    raise
        if self._context.start_waiting is not None:
            await self._context.start_waiting()

    def _check_requirements(self) -> None:
        if self._state is HandlerState.STOPPED or self._photon_class is None or not self.requires:
            return  # unloaded (create_instance says so), or nothing to meet and no cycle to join
        error = requirement_error(self, {**self._context.photons, self._name: self}, self._filepath)
        if error is not None:
            raise error

    async def suspend(self, force_stop: bool = False) -> bool:
        """Stop the running photon because a photon it requires goes away; it stays loaded,
        ``WAITING`` to start again. Whether everything it owned stopped."""
        return await self.stop_under_lock(force_stop, HandlerState.WAITING)

    async def export_state(self) -> Any:
        """The running instance's ``photon_export_state`` result, or ``NO_STATE``.

        An ``async`` one gets ``finalize_timeout``, as the finalizer does: exporting state is
        part of stopping.

        :raises TimeoutError: if it did not return in time (it is cancelled).
        """
        if self._instance is None:
            return NO_STATE
        return await self._call_own_hook("photon_export_state", self._context.finalize_timeout)

    async def restart(
        self, state: Any = NO_STATE, action: str = "restarted the previous version of"
    ) -> None:
        """Start a stopped handler again with a fresh instance of its class (a reload's
        dependent, or a rolled-back reload), importing ``state``. One with a requirement that
        does not run (its provider failed to start again) waits: PhotonDependencyError."""
        self._state = HandlerState.WAITING  # what it stays if a requirement does not run
        self._check_requirements()
        self._state = HandlerState.LOADED
        await self.activate(await self.create_instance(), state, action=action)

    def wait_for_requirements(self) -> None:
        """Wait to start until the requirements run, as the previous version did (a reload)."""
        if self._state is HandlerState.LOADED:
            self._state = HandlerState.WAITING

    def release(self) -> None:
        """Drop the references to the photon class and instance, so its module can be freed."""
        self._state = HandlerState.STOPPED
        self._instance = None
        self._photon_class = None
