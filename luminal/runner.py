"""Serving photons until the process is told to stop: the host behind ``luminal run``.

:func:`serve` loads and starts the photons of watched directories and of installed entry points,
waits for SIGINT or SIGTERM on the event loop (``loop.add_signal_handler``), then closes the
loader, which unloads every photon gracefully. A second signal during that shutdown stops
waiting for the photons that are left and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from luminal.discovery import DEFAULT_GROUP
from luminal.errors import EntryPointGroupLoadError, PhotonStartError
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader
from luminal.watcher import DEFAULT_DEBOUNCE

__all__ = ["STOP_SIGNALS", "serve"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that make :func:`serve` unload every photon and return."""


async def serve(
    loader: Loader,
    directories: Sequence[str | Path] = (),
    *,
    entry_point_group: str | None = DEFAULT_GROUP,
    debounce: float = DEFAULT_DEBOUNCE,
    watch_installed: bool = False,
) -> signal.Signals:
    """Run photons until SIGINT or SIGTERM, then close ``loader``; return the signal.

    The photons of ``directories`` are loaded, started and watched by one
    :meth:`Loader.watch_photons` call (so they share the loader's plugin manager), then those of
    the installed ``entry_point_group`` (``None`` skips entry points) are loaded and started;
    with ``watch_installed`` they are followed too (``watch_photons(entry_points=True)``).
    Failures are reported by the loader and the rest runs.

    :raises KeyboardInterrupt: if a second signal arrives before every photon is unloaded.
    """
    loop = asyncio.get_running_loop()
    serving = asyncio.current_task()
    stop: asyncio.Future[signal.Signals] = loop.create_future()
    interrupted = False

    def on_signal(received: signal.Signals) -> None:
        nonlocal interrupted
        if not stop.done():
            stop.set_result(received)
        elif not interrupted and serving is not None:
            interrupted = True
            logger.warning("received %s again: not waiting for the photons left", received.name)
            serving.cancel()

    with _signal_handlers(loop, on_signal):
        try:
            received = await _serve_until(
                stop, loader, directories, (entry_point_group, watch_installed), debounce
            )
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    logger.info("every photon is unloaded")
    return received


async def _serve_until(
    stop: asyncio.Future[signal.Signals],
    loader: Loader,
    directories: Sequence[str | Path],
    entry_point_group: tuple[str | None, bool],
    debounce: float,
) -> signal.Signals:
    """Load, start and watch the photons, wait for ``stop``, then close ``loader``.

    A signal while the photons load stops the loading at once (a photon whose import never
    returns cannot hold the shutdown up), and what loaded so far is unloaded.
    """
    async with loader:
        starting = asyncio.ensure_future(
            _start_photons(loader, directories, entry_point_group, debounce)
        )
        either: set[asyncio.Future[Any]] = {starting, stop}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
        if not starting.cancelled():
            starting.result()
        if not stop.done():
            count = sum(handler.started for handler in loader.photons.values())
            logger.info(
                "running %d photon%s; press Ctrl-C to stop", count, "" if count == 1 else "s"
            )
        received = await stop
        logger.info("received %s: unloading every photon", received.name)
    return received


async def _start_photons(
    loader: Loader,
    directories: Sequence[str | Path],
    installed: tuple[str | None, bool],
    debounce: float,
) -> None:
    """Load, start and watch the photons of ``directories``, then start the installed ones
    (and watch them, when asked)."""
    entry_point_group, watch_installed = installed
    if entry_point_group is not None and watch_installed:
        first = directories[0] if directories else None
        await loader.watch_photons(
            first,
            more_directories=directories[1:],
            debounce=debounce,
            entry_points=True,
            entry_point_group=entry_point_group,
        )
        return
    if directories:
        await loader.watch_photons(
            directories[0], more_directories=directories[1:], debounce=debounce
        )
    if entry_point_group is not None:
        await _start_entry_points(loader, entry_point_group)


async def _start_entry_points(loader: Loader, group: str) -> None:
    handlers: list[Handler]
    try:
        handlers = await loader.load_entry_points(group)
    except EntryPointGroupLoadError as error:
        handlers = list(error.handlers)  # each failure is reported by the loader
    for handler in handlers:
        # A photon that fails to start is reported by ``start`` and stays loaded.
        with contextlib.suppress(PhotonStartError):
            await handler.start()


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, on_signal: Callable[[signal.Signals], None]
) -> Iterator[None]:
    """Route :data:`STOP_SIGNALS` to ``on_signal`` on ``loop`` while the block runs.

    Where the loop cannot handle signals (Windows), Ctrl-C cancels the main task as
    ``asyncio.run`` does by default, which closes the loader all the same.
    """
    installed: list[signal.Signals] = []
    try:
        for each in STOP_SIGNALS:
            try:
                loop.add_signal_handler(each, on_signal, each)
            except NotImplementedError:
                continue
            installed.append(each)
        yield
    finally:
        for each in installed:
            loop.remove_signal_handler(each)
