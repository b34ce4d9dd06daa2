"""Starting what watching loaded: in dependency order, and together at the end of a step."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from luminal.dependencies import dependency_order
from luminal.errors import PhotonNotFoundError, PhotonStartError
from luminal.managers.handler import Handler, HandlerState

__all__ = ["StepStarts", "start_loaded"]


async def start_loaded(handlers: Iterable[Handler]) -> None:
    """Start, in dependency order, the handlers loaded and not started yet; a photon that fails
    stays loaded (``start`` reports it), and its next save reloads and starts it. One that
    another task unloads or reloads meanwhile is gone: there is nothing of it to start."""
    for handler in dependency_order(dict.fromkeys(handlers)):
        if handler.state is HandlerState.LOADED:
            with contextlib.suppress(PhotonStartError, PhotonNotFoundError):
                await handler.start()


class StepStarts:
    """The starts of one watching step (the first look at every tree and the installed
    photons, or one batch of changes), made together at its end: a photon never waits,
    reported as unmet, for a provider that the same step loads after it."""

    def __init__(self) -> None:
        self._deferred: list[Handler] | None = None

    async def start(self, handlers: Iterable[Handler]) -> None:
        """:func:`start_loaded` now, or at the end of the step under way."""
        if self._deferred is None:
            await start_loaded(handlers)
        else:
            self._deferred.extend(handlers)

    @contextlib.asynccontextmanager
    async def step(self, halted: Callable[[], bool]) -> AsyncIterator[None]:
        """Defer the block's starts to its end (inside a step, to that step's end); nothing
        starts when the block raises or ``halted()`` is true by then."""
        if self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            yield
        finally:
            deferred, self._deferred = self._deferred, None
        if not halted():
            await start_loaded(deferred)
