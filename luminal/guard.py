"""Running a photon's own code so that it cannot end the host.

A photon's module, ``__init__`` and lifecycle hooks run inside :func:`photon_code`: a
``SystemExit`` they raise (``sys.exit()``, an ``argparse`` parsing the host's arguments at import
time) becomes a :class:`~luminal.PhotonExitError`, which fails that photon like any other
exception. ``KeyboardInterrupt`` is the user's Ctrl-C and passes through.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from luminal.errors import PhotonExitError

__all__ = ["call_photon", "guarded", "photon_code"]

T = TypeVar("T")


@contextlib.contextmanager
def photon_code() -> Iterator[None]:
    """Turn a ``SystemExit`` of the code run in the block into a :class:`PhotonExitError`."""
    try:
        yield
    except SystemExit as exit_request:
        raise PhotonExitError(exit_request.code) from exit_request


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a photon's coroutine inside :func:`photon_code`: a ``SystemExit`` in a task would
    otherwise leave the event loop and end the host."""
    with photon_code():
        return await awaitable


def call_photon(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a photon's function inside :func:`photon_code`; an awaitable it returns is
    :func:`guarded` too, for whoever awaits it."""
    with photon_code():
        result = function(**kwargs)
    return guarded(result) if inspect.isawaitable(result) else result
