"""Waiting for a photon's finalizer task, and what it tells: the error to report, if any."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from luminal.errors import FinalizerNotImplementedError, LuminalError, PhotonStopError
from luminal.managers.hooktasks import settle
from luminal.managers.lifecycle import NO_STATE
from luminal.ownership import StopReport

__all__ = [
    "finalizer_outcome",
    "finalizer_problem",
    "left_running",
    "leftover_error",
    "run_finalizer",
    "stop_error",
]


async def run_finalizer(
    finalize: Coroutine[Any, Any, Any],
    timing: tuple[float, float],
    report_missing: bool,
    where: tuple[str, str],
    report: Callable[[LuminalError, int], Awaitable[None]],
) -> bool:
    """Run the finalizer call ``finalize`` of the photon ``where`` (name, path) in a task bounded
    by ``finalize_timeout``; whether it is not left running. A finalizer that is missing, raises
    or times out is reported (the caller force-stops the photon). One that times out is
    cancelled; if it swallows that for another ``stop_timeout``, it is reported as left running
    (``asyncio.wait_for`` would wait for it without bound). One that blocks the event loop
    cannot be bounded at all."""
    finalizer = asyncio.get_running_loop().create_task(finalize, name=f"{where[0]}-finalize")
    try:
        problem = await finalizer_outcome(finalizer, timing, report_missing, where)
    except asyncio.CancelledError:  # with its caller: one that goes on is reported all the same
        if not finalizer.done():
            await report(left_running(finalizer, timing, where, cancelled=True), logging.ERROR)
        raise
    if problem is not None:
        await report(*problem)
    return finalizer.done()


async def finalizer_outcome(
    finalizer: asyncio.Task[Any],
    timing: tuple[float, float],
    report_missing: bool,
    where: tuple[str, str],
) -> tuple[LuminalError, int] | None:
    """Wait for the ``finalizer`` of the photon ``where`` (name, path) up to ``finalize_timeout``
    and, once it is cancelled, ``stop_timeout`` more (``timing``); the error (and its log level)
    to report about it, if any: see :func:`finalizer_problem`, and one left running."""
    finalize_timeout, stop_timeout = timing
    timed_out = await settle(finalizer, finalize_timeout, stop_timeout)
    if not finalizer.done():
        return left_running(finalizer, timing, where), logging.ERROR
    return finalizer_problem(finalizer, timed_out, report_missing, where, finalize_timeout)


def left_running(
    finalizer: asyncio.Task[Any],
    timing: tuple[float, float],
    where: tuple[str, str],
    cancelled: bool = False,
) -> PhotonStopError:
    """The error for a finalizer that ignored its cancellation (after its time ran out, or
    with its caller, ``cancelled``) for ``stop_timeout``."""
    finalize_timeout, stop_timeout = timing
    why = (
        "was cancelled with its caller"
        if cancelled
        else f"did not finish within {finalize_timeout} s"
    )
    return stop_error(
        where,
        f"{why} and ignored cancellation for {stop_timeout} s; task {finalizer.get_name()!r} "
        "is left running",
    )


def finalizer_problem(
    finalizer: asyncio.Task[Any],
    timed_out: bool,
    report_missing: bool,
    where: tuple[str, str],
    finalize_timeout: float,
) -> tuple[LuminalError, int] | None:
    """The error (and its log level) for a finalizer of the photon ``where`` (name, path)
    that timed out, was cancelled, raised or is missing; ``None`` for one that returned."""
    if timed_out or finalizer.cancelled():
        cause = None if finalizer.cancelled() else finalizer.exception()
        what = f"did not finish within {finalize_timeout} s" if timed_out else "was cancelled"
        return stop_error(where, what, cause), logging.ERROR
    try:
        outcome = finalizer.result()
    except FinalizerNotImplementedError:
        outcome = NO_STATE
    except Exception as error:
        return stop_error(where, f"raised {type(error).__name__}: {error}", error), logging.ERROR
    if outcome is NO_STATE and report_missing:
        name, path = where
        missing = FinalizerNotImplementedError(
            f"photon {name!r} from {path} has no finalizer; force-stopping it", name
        )
        return missing, logging.WARNING
    return None


def stop_error(
    where: tuple[str, str], what: str, cause: BaseException | None = None
) -> PhotonStopError:
    """A :class:`PhotonStopError` saying what the finalizer of the photon ``where`` did."""
    name, path = where
    error = PhotonStopError(
        f"finalizer of photon {name!r} from {path} {what}; force-stopping it", name, path
    )
    error.__cause__ = cause
    return error


def leftover_error(report: StopReport, where: tuple[str, str]) -> PhotonStopError:
    """The error for what a stop of the photon ``where`` (name, path) left running."""
    name, path = where
    return PhotonStopError(
        f"photon {name!r} left running after stop: {report.describe()}",
        name,
        path,
        report.all_threads,
    )
