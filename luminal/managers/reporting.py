"""What a loader's parts share: its settings, and how they log and report to the host."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from luminal.errors import LuminalError, PhotonStopError
from luminal.events import broadcast
from luminal.managers.lifecycle import Broadcast
from luminal.trust import TrustPolicy

__all__ = ["Reporter", "Settings"]

# The loader's log lines keep the logger name they have always had, which hosts may filter on.
logger = logging.getLogger("luminal.managers.loader")


@dataclass(frozen=True)
class Settings:
    """A loader's arguments, as its parts read them."""

    logging: bool
    suppress_errors: bool
    finalize_timeout: float
    stop_timeout: float
    start_timeout: float
    trust: TrustPolicy | None
    code_cache: Path | None = None
    """The code cache's directory; ``None``: compile every time."""


class Reporter:
    """Log lines (when the loader logs) and loader events, sent through the plugin manager."""

    def __init__(self, plugin_manager: pluggy.PluginManager, logging_on: bool) -> None:
        self.plugin_manager = plugin_manager
        self.logging = logging_on
        self._route: Broadcast | None = None

    def route_events(self, route: Broadcast) -> None:
        """Send the loader's events through ``route`` (the loader's isolated hook calls)
        instead of straight through the plugin manager."""
        self._route = route

    def log(
        self, level: int, message: str, *args: object, exc_info: BaseException | None = None
    ) -> None:
        if self.logging:
            logger.log(level, message, *args, exc_info=exc_info)

    async def report_import_threads(
        self, path: Path, photon_names: Sequence[str], threads: Sequence[threading.Thread]
    ) -> bool:
        """Report the threads a source's module started at import that outlive the source
        (Luminal cannot stop them); whether none did."""
        alive = [thread for thread in threads if thread.is_alive()]
        if not alive:
            return True
        names = ", ".join(thread.name for thread in alive)
        error = PhotonStopError(
            f"{path} left running after its photons stopped: thread {names} (a threading.Thread "
            "its module started when it was imported, not spawn_thread: Luminal cannot stop it)",
            photon_names[0] if photon_names else "",
            str(path),
            threads=alive,
        )
        await self.report(str(path), error)
        return False

    async def report(self, path: str, error: LuminalError) -> None:
        """Log ``error`` and send it to ``luminal_photon_error``."""
        # The error itself, not True: there is no exception being handled here, and its
        # traceback shows the chained cause, the photon's own failing code.
        self.log(logging.ERROR, "%s", error, exc_info=error if error.__cause__ else None)
        await self.broadcast("luminal_photon_error", path=path, error=error)

    async def broadcast(self, hook_name: str, **kwargs: Any) -> None:
        """Send a loader event to every registered plugin."""
        await self.send(hook_name, kwargs)

    async def send(self, hook_name: str, kwargs: dict[str, Any]) -> None:
        """:meth:`broadcast` as a :data:`~luminal.managers.lifecycle.Broadcast`: what the
        loader's handlers are given, so their events take the same route."""
        if self._route is not None:
            await self._route(hook_name, kwargs)
        else:
            await broadcast(self.plugin_manager, hook_name, **kwargs)
