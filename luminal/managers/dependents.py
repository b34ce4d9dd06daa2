"""The loader's side of photon requirements: which running photons an unload or a reload of
some sources takes along, their locks, and starting the photons that wait for requirements."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path

from luminal.dependencies import dependency_order, dependents_of, requirement_error
from luminal.errors import PhotonNotFoundError, PhotonStartError
from luminal.managers.handler import Handler, HandlerState
from luminal.managers.registry import PhotonRef, PhotonSource, Registry

__all__ = ["Dependents"]


class Dependents:
    """The requirements between the photons of one registry, seen from its operations."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._waking = False
        self._woken_again = False

    def of_sources(self, sources: Iterable[PhotonSource]) -> list[Handler]:
        """The loaded photons of other sources that require a photon of ``sources``, directly
        or through each other, in dependency order."""
        sources = list(sources)
        paths = {os.fspath(source.path) for source in sources}  # what their photons' filepath is
        names = {handler.name for source in sources for handler in source.handlers}
        requirers = self._registry.requirers.values()
        others = [handler for handler in requirers if handler.filepath not in paths]
        return dependents_of(names, others)

    @contextlib.asynccontextmanager
    async def locked_with_dependents(
        self,
        photons: Sequence[PhotonRef],
        check: Callable[[PhotonRef], PhotonSource],
        also: Iterable[Path] = (),
    ) -> AsyncIterator[tuple[list[PhotonSource], list[Handler]]]:
        """Lock the sources ``photons`` name (checked by ``check``), those of their loaded
        dependents and the paths ``also`` names (a reload's new sources); yield the sources and
        the dependents.

        The dependents' locks wait for a start of theirs under way, so none is half started
        when its provider goes. What the locks cover is checked again once they are held, and
        taken anew when a photon moved or a dependent appeared meanwhile.
        """
        # A path is locked as given first, so an unload waits for a load of it under way;
        # then the sources' own paths, which another spelling of it (relative, through a
        # symlink, a package's __init__.py) resolves to: waiting for the given text to come
        # back from the registry looped without end, never yielding to the event loop.
        paths = [photon if isinstance(photon, Path) else check(photon).path for photon in photons]
        new_paths = set(also)
        extra: set[Path] = set(new_paths)
        while True:
            async with self._registry.locked([*paths, *extra]):
                sources = [check(photon) for photon in photons]
                dependents = self.of_sources(sources)
                needed = {Path(handler.filepath) for handler in dependents}
                locked = extra | set(paths)
                if {source.path for source in sources} | needed <= locked:
                    yield sources, dependents
                    return
            paths = [source.path for source in sources]
            extra = needed | new_paths

    @contextlib.asynccontextmanager
    async def locked_for_stop(self, handler: Handler) -> AsyncIterator[list[Handler]]:
        """Lock the file of ``handler`` and those of the loaded photons that require it,
        directly or through each other (a host's ``Handler.stop()``); yield those, in dependency
        order.

        :raises PhotonNotFoundError: if ``handler`` is not loaded (any more) once they are held.
        """
        resolve = self._registry.resolve
        async with self.locked_with_dependents([handler], resolve) as (_, dependents):
            yield dependents_of([handler.name], dependents)

    async def start_waiting(self) -> None:
        """Start, in dependency order, every ``WAITING`` photon whose requirements all run,
        until no more can; one whose start fails is reported by ``start`` and left, and one
        unloaded while an earlier one started is passed over (the start that woke them is no
        place for its error)."""
        if self._waking:
            self._woken_again = True  # the running pass looks again
            return
        self._waking = True
        try:
            progressed = True
            while progressed or self._woken_again:
                self._woken_again = False
                progressed = False
                for handler in self.ready():
                    with contextlib.suppress(PhotonStartError, PhotonNotFoundError):
                        await handler.start()
                        progressed = True
        finally:
            self._waking = False

    def ready(self) -> list[Handler]:
        """The waiting photons whose requirements all run now, in dependency order."""
        photons = self._registry.photons
        waiting = [
            handler
            for handler in self._registry.requirers.values()
            if handler.state is HandlerState.WAITING
        ]
        return [
            handler
            for handler in dependency_order(waiting)
            if requirement_error(handler, photons, handler.filepath) is None
        ]
