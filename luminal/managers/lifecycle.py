"""A handler's lifecycle vocabulary: its states, its origin, and the context it is given."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import pluggy

from luminal.events import broadcast
from luminal.managers.hookimpls import PhotonPluginManager
from luminal.managers.reentry import holding, refuse_held
from luminal.ownership import ownership_of, threads_started_since
from luminal.photon import IPhoton

__all__ = [
    "NO_STATE",
    "Broadcast",
    "HandlerContext",
    "HandlerState",
    "LoaderState",
    "PhotonOrigin",
    "adopt_threads_started_since",
    "standalone_plugin_manager",
]

NO_STATE: Any = object()
"""What a photon without ``photon_export_state`` (or a hook it lacks) gives back."""

Broadcast = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Sends a loader event (hook name, keyword arguments) to every registered plugin."""


class HandlerState(enum.Enum):
    """Where a handler is in its lifecycle: ``LOADED`` → ``STARTED`` → ``STOPPED``.

    A failed start, or ``Handler.stop()``, leaves it ``LOADED`` (it may be started again); an
    unloaded or replaced handler is ``STOPPED`` for good: a reload or a new load gives a new
    one. A started photon that keeps failing in hook calls may be ``QUARANTINED`` (see
    ``Loader(quarantine_after=...)``). A photon whose requirements do not run is ``WAITING``
    and starts by itself once they all do.
    """

    #: Imported and validated; no instance runs (never started, its start failed, or stopped).
    LOADED = "loaded"
    #: Its instance runs: registered in the plugin manager, ``photon_start`` returned.
    STARTED = "started"
    #: Unloaded or replaced by a reload; it no longer holds the photon's class.
    STOPPED = "stopped"
    #: Its instance runs but was unregistered by the circuit breaker: no hook call reaches it.
    #: A reload brings a new, ``STARTED`` handler; unloading it stops it as a started one.
    #: Restarted on the same handler (its provider reloaded or back, its own reload rolled
    #: back), it is ``QUARANTINED`` again, never registered.
    QUARANTINED = "quarantined"
    #: Loaded, no instance runs: its start was refused with a ``PhotonDependencyError``, or a
    #: photon it requires was unloaded. It starts by itself as soon as its requirements run.
    WAITING = "waiting"


@dataclass(frozen=True)
class PhotonOrigin:
    """The installed distribution and entry point a photon came from."""

    distribution: str
    version: str
    entry_point: str
    group: str


@dataclass(frozen=True)
class HandlerContext:
    """What the handlers of one source share: their loader's plugin manager, timeouts, the
    source's lock (so a start is serialised with loading, unloading and reloading it), the
    loader's photons by name (to check requirements), what starts the waiting photons and
    what is told of an unregistered instance."""

    plugin_manager: pluggy.PluginManager
    finalize_timeout: float = 10.0
    stop_timeout: float = 5.0
    start_timeout: float = 30.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    events: Broadcast | None = None
    """How the loader sends its events (its reporter's, isolated per photon); ``None`` for a
    handler outside a loader: straight through the plugin manager."""
    photons: Mapping[str, Any] = field(default_factory=dict)
    start_waiting: Callable[[], Awaitable[None]] | None = None
    unregistered: Callable[[object], None] | None = None
    """Told of each instance a handler takes out of the plugin manager, so that the loader's
    hook calls let go of what they kept of it."""
    locked_for_stop: Callable[[Any], AbstractAsyncContextManager[Sequence[Any]]] | None = None
    """Locks a handler's file and those of the photons requiring it, giving those (see
    :meth:`stopping`)."""

    @contextlib.asynccontextmanager
    async def stopping(self, handler: Any) -> AsyncIterator[Sequence[Any]]:
        """Hold what a host's stop of ``handler`` needs: its file's lock and those of the
        loaded photons that require it, which are given, in dependency order; only the lock
        for a handler outside a loader. A caller that holds one gets ``PhotonReentryError``."""
        if self.locked_for_stop is not None:
            async with self.locked_for_stop(handler) as dependents:
                yield dependents
            return
        refuse_held([self.lock], f"stop() of photon {handler.name!r}")
        async with self.lock:
            with holding([self.lock]):
                yield ()

    async def broadcast(self, hook_name: str, **kwargs: Any) -> None:
        """Send a loader event to every registered plugin."""
        if self.events is not None:
            await self.events(hook_name, kwargs)
        else:
            await broadcast(self.plugin_manager, hook_name, **kwargs)

    @classmethod
    def standalone(cls) -> HandlerContext:
        """A context of its own, for a handler made outside a loader."""
        return cls(standalone_plugin_manager())


def adopt_threads_started_since(instance: Any, before: set[threading.Thread]) -> None:
    """Make the plain threads started since ``before`` (while the photon's ``__init__`` or
    ``photon_start`` ran) the instance's, so a stop reports those that outlive it."""
    started = threads_started_since(before)
    ownership = ownership_of(instance, create=True) if started else None
    if ownership is not None and isinstance(instance, IPhoton):
        ownership.adopt_threads(started)


def standalone_plugin_manager() -> pluggy.PluginManager:
    from luminal import hookspecs

    plugin_manager = PhotonPluginManager(hookspecs.PROJECT_NAME)
    plugin_manager.add_hookspecs(hookspecs)
    return plugin_manager


class LoaderState(enum.Enum):
    """A loader is ``OPEN`` until :meth:`Loader.close`; then every operation raises
    :class:`~luminal.errors.LoaderClosedError`."""

    OPEN = "open"
    CLOSED = "closed"
