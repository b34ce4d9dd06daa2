"""Running a photon's own code so that it cannot end the host.

A photon's module, ``__init__``, lifecycle hooks and hook implementations run inside
:func:`photon_code`: a ``SystemExit`` they raise (``sys.exit()``, an ``argparse`` parsing the
host's arguments at import time) becomes a :class:`~luminal.PhotonExitError`, and any other
``BaseException`` that is not an ``Exception`` a :class:`~luminal.PhotonBaseExceptionError`;
either fails that photon like any other exception. ``KeyboardInterrupt`` is the user's Ctrl-C
and passes through; so do, around an ``await``, the ``CancelledError`` that cancels the awaiting
coroutine and the ``GeneratorExit`` that closes it (:func:`closing`). A ``GeneratorExit`` that
the awaited photon code raised itself is the photon's, as any other.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from luminal.errors import LuminalError, PhotonBaseExceptionError, PhotonExitError

__all__ = ["AWAITING", "call_photon", "closing", "escaped_error", "guarded", "photon_code"]

T = TypeVar("T")

AWAITING: tuple[type[BaseException], ...] = (KeyboardInterrupt, asyncio.CancelledError)
"""What passes through :func:`photon_code` around an ``await``: Ctrl-C, and the cancellation of
the awaiting coroutine, which are the caller's, not the photon's (as is a :func:`closing`)."""


def closing(escaped: BaseException) -> bool:
    """Whether ``escaped``, caught in the frame of a coroutine around its ``await``, is the
    ``GeneratorExit`` of ``close()`` ending that coroutine: ``close()`` raises it at the
    ``await`` itself, so its traceback holds that frame alone, where one that the awaited code
    raised also holds the frames it came out of."""
    if not isinstance(escaped, GeneratorExit):
        return False
    traceback = escaped.__traceback__
    return traceback is None or traceback.tb_next is None


def escaped_error(escaped: BaseException) -> LuminalError:
    """The error a photon fails with when its code raised ``escaped``, a ``BaseException`` that
    is not an ``Exception`` (``KeyboardInterrupt`` aside), chained to it."""
    if isinstance(escaped, SystemExit):
        error: LuminalError = PhotonExitError(escaped.code)
    else:
        error = PhotonBaseExceptionError(escaped)
    error.__cause__ = escaped
    return error


class photon_code:  # noqa: N801 (a context manager used as a function would be)
    """Turn a ``BaseException`` of the code run in the block that is not an ``Exception`` nor
    one of ``let_through`` into its :func:`escaped_error`.

    A class rather than a generator: every photon module imported runs in one."""

    __slots__ = ("let_through",)

    def __init__(self, let_through: tuple[type[BaseException], ...] = (KeyboardInterrupt,)) -> None:
        self.let_through = let_through

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        escaped: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if escaped is None or isinstance(escaped, (Exception, *self.let_through)):
            return
        raise escaped_error(escaped) from escaped


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a photon's coroutine as :func:`photon_code` runs code: a ``SystemExit`` in a task
    would otherwise leave the event loop and end the host."""
    try:
        return await awaitable
    except Exception:
        raise
    except BaseException as escaped:
        if isinstance(escaped, AWAITING) or closing(escaped):
            raise
        raise escaped_error(escaped) from escaped


def call_photon(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a photon's function inside :func:`photon_code`; an awaitable it returns is
    :func:`guarded` too, for whoever awaits it."""
    with photon_code():
        result = function(**kwargs)
    return guarded(result) if inspect.isawaitable(result) else result
