"""Hook specifications of the ``"luminal"`` pluggy project: the photon author's contract.

Two kinds of hooks live here. *Lifecycle* hooks are called on the one photon concerned, never
broadcast. *Loader events* are broadcast to every plugin registered in
``Loader.plugin_manager``: running photons and any observer object the host registers.

Any implementation may be a plain function or an ``async def``; Luminal awaits coroutines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from luminal.managers.handler import Handler

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "luminal"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def photon_start() -> None:
    """Called on a photon right after its instance is created and registered.

    A photon opens its resources here. If it raises, the photon is unregistered again and
    ``Handler.start`` raises :class:`~luminal.PhotonStartError`.
    """


@hookspec
def photon_finalize() -> None:
    """Called on a photon when it is unloaded gracefully (and on the old version on reload).

    :class:`~luminal.IPhoton` implements it by awaiting ``finalize()``. If it is missing, raises
    or exceeds the loader's ``finalize_timeout``, the photon is force-stopped and removed anyway.
    """


@hookspec
def photon_export_state() -> Any:
    """Called on the old photon during a reload, before it is finalized.

    Return any object; it is handed to the new version's ``photon_import_state``. An
    ``async`` one gets the loader's ``finalize_timeout``; one that raises or times out fails the
    reload, with the old version left running.
    """


@hookspec
def photon_import_state(state: Any) -> None:
    """Called on the new photon during a reload, before its ``photon_start``.

    ``state`` is what the old version's ``photon_export_state`` returned. An ``async`` one gets
    the loader's ``start_timeout``; one that raises or times out fails the start, and the
    reload rolls back.
    """


@hookspec
def luminal_photon_loaded(handler: Handler) -> None:
    """Broadcast after a photon was imported and validated (it is not started yet)."""


@hookspec
def luminal_photon_started(handler: Handler) -> None:
    """Broadcast after a photon was registered and its ``photon_start`` returned."""


@hookspec
def luminal_photon_unloaded(handler: Handler) -> None:
    """Broadcast after a photon was stopped, unregistered and its modules released."""


@hookspec
def luminal_photon_reloaded(old: Handler, new: Handler) -> None:
    """Broadcast after a reload replaced ``old`` by the running ``new`` version."""


@hookspec
def luminal_photon_error(path: str, error: BaseException) -> None:
    """Broadcast when a photon failed to load, start, stop or reload.

    ``path`` is the photon's file (or package directory); ``error`` is a
    :class:`~luminal.LuminalError` whose ``__cause__`` is the original exception. For an entry
    point whose module is not installed, ``path`` is the entry point's value.
    """
