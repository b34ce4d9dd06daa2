"""A photon's ``async`` lifecycle hook run as a task of its own, within a time limit, so that a
hook that never returns cannot stop the loader; and work that must end once begun run as a task
of its own, out of its caller's reach."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

from luminal.guard import escaped_error

__all__ = ["completed", "run_within", "settle"]

T = TypeVar("T")


async def settle(task: asyncio.Task[Any], timeout: float, grace: float) -> bool:
    """Wait up to ``timeout`` for ``task``; one still running is cancelled and given ``grace``
    more (``asyncio.wait_for`` would wait for it without bound). Whether it timed out.

    The caller's own cancellation cancels the task too, gives it ``grace`` to end (whether it
    did, ``task.done()`` tells) and propagates.
    """
    try:
        await asyncio.wait({task}, timeout=timeout)
        if task.done():
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
        return True
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
        raise


async def run_within(
    coroutine: Coroutine[Any, Any, Any],
    photon_name: str,
    hook_name: str,
    timeout: float,
    grace: float,
    context: contextvars.Context | None = None,
) -> Any:
    """What ``coroutine``, a photon's hook, returns; run as a task of its own in ``context``.

    :raises TimeoutError: if it did not return within ``timeout`` (see :func:`settle`); the
        message names the task if it is still running after its cancellation (what cannot be
        stopped is reported).
    :raises PhotonBaseExceptionError: if a ``CancelledError`` ended it that is not the
        caller's cancellation (which reaches the caller, not the task): the photon's code raised
        it itself. Telling them apart this way needs no ``Task.cancelling()``, so Python 3.10
        does it too.
    """
    context = context or contextvars.copy_context()
    create_task = asyncio.get_running_loop().create_task
    task = context.run(create_task, coroutine, name=f"{photon_name}-{hook_name}")
    if await settle(task, timeout, grace):
        left = (
            ""
            if task.done()
            else f"; task {task.get_name()!r} is left running (cancelled, it went on)"
        )
        raise TimeoutError(f"{hook_name} did not finish within {timeout} s{left}")
    try:
        return task.result()
    except asyncio.CancelledError as cancelled:
        raise escaped_error(cancelled) from cancelled


async def completed(coroutine: Coroutine[Any, Any, T]) -> T:
    """What ``coroutine`` returns, run to its end as a task of its own even if the caller is
    cancelled (again) meanwhile: a rollback cut half-way would leave photons neither old nor
    new. The caller's cancellation is raised once it has ended."""
    task = asyncio.ensure_future(coroutine)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError from (None if task.cancelled() else task.exception())
    return task.result()
