"""Waiting for a photon's finalizer task, and what it tells: the error to report, if any."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from luminal.errors import FinalizerNotImplementedError, LuminalError, PhotonStopError
from luminal.managers.hooktasks import settle
from luminal.managers.lifecycle import NO_STATE

__all__ = ["finalizer_outcome", "finalizer_problem", "left_running", "stop_error"]


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
