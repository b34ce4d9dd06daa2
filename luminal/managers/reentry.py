"""Refusing an operation that would wait for a lock its own caller holds.

A photon's ``photon_start`` runs while the loader holds the lock of the photon's file; a
``reload_photon(self)`` from there would wait for that lock for ever. Each held set of locks is
recorded in a context variable, which the tasks started meanwhile inherit, so such a call raises
:class:`~luminal.errors.PhotonReentryError` at once instead. A ``photon_start`` gets a scope of
its own that ends when it returns: a task it spawned may wait for the lock once the start is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from luminal.errors import PhotonReentryError

__all__ = ["holding", "refuse_held", "refuse_inside_operation", "start_context", "start_over"]


@dataclass(eq=False)
class _Held:
    locks: frozenset[asyncio.Lock]
    active: bool = True


_held: contextvars.ContextVar[tuple[_Held, ...]] = contextvars.ContextVar(
    "luminal_held_locks", default=()
)


def _active_locks() -> set[asyncio.Lock]:
    return {lock for held in _held.get() if held.active for lock in held.locks}


def refuse_held(locks: Collection[asyncio.Lock], what: str) -> None:
    """Raise :class:`PhotonReentryError` if the caller runs under one of ``locks``."""
    if _active_locks() & set(locks):
        raise PhotonReentryError(
            f"{what} was called from inside an operation on the same photon file (its "
            "photon_start or an observer of it) and would wait for itself; schedule it with "
            "create_task to run once that operation is over"
        )


def refuse_inside_operation(what: str) -> None:
    """Raise :class:`PhotonReentryError` if the caller runs under any loader lock."""
    if _active_locks():
        raise PhotonReentryError(
            f"{what} was called from inside a load, start, reload or unload (a photon_start or "
            "an observer of it) and would wait for itself; schedule it with create_task"
        )


@contextlib.contextmanager
def holding(locks: Collection[asyncio.Lock]) -> Iterator[None]:
    """Record ``locks`` as held by the running code (and the tasks it starts) until exit."""
    held = _Held(frozenset(locks))
    token = _held.set((*_held.get(), held))
    try:
        yield
    finally:
        held.active = False
        _held.reset(token)


@contextlib.contextmanager
def start_context() -> Iterator[contextvars.Context]:
    """A context for a ``photon_start`` task: it sees the locks held now, until exit only."""
    held = _Held(frozenset(_active_locks()))
    context = contextvars.copy_context()
    context.run(_held.set, (held,))
    try:
        yield context
    finally:
        held.active = False


def start_over() -> None:
    """End, from inside a ``photon_start`` task (the context :func:`start_context` made), what
    the code it started sees as held: a task it created runs only after it, maybe before the
    caller of the start resumes, and may then act on the photon (a scheduled reload)."""
    for held in _held.get():
        held.active = False
