"""Running a photon's own code so that it cannot end the host.

A photon's module, ``__init__`` and lifecycle hooks run inside :func:`photon_code`: a
``SystemExit`` they raise (``sys.exit()``, an ``argparse`` parsing the host's arguments at import
time) becomes a :class:`~luminal.PhotonExitError`, which fails that photon like any other
exception. ``KeyboardInterrupt`` is the user's Ctrl-C and passes through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator
from typing import TypeVar

from luminal.errors import PhotonExitError

__all__ = ["guarded", "photon_code"]

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
