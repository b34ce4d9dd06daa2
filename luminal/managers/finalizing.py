"""What a photon's finished finalizer task tells: the error to report about it, if any."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from luminal.errors import FinalizerNotImplementedError, LuminalError, PhotonStopError
from luminal.managers.lifecycle import NO_STATE

__all__ = ["finalizer_problem", "stop_error"]


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
