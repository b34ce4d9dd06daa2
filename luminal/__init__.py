"""Luminal: load, start, hot-reload and unload Python plugins (photons) on pluggy."""

import logging

from luminal.discovery import EntryPointPolicy, PhotonEntryPoint, find_photon_entry_points
from luminal.errors import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    EntryPointGroupLoadError,
    EntryPointLoadError,
    FinalizerNotImplementedError,
    InstalledUpdateError,
    LoaderClosedError,
    LuminalError,
    PhotonBaseExceptionError,
    PhotonDependencyError,
    PhotonExitError,
    PhotonHookError,
    PhotonHookTimeoutError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonQuarantinedError,
    PhotonReentryError,
    PhotonReloadError,
    PhotonStartError,
    PhotonStopError,
    PhotonTrustError,
    ThreadManagerAlreadyRunningError,
)
from luminal.hookspecs import hookimpl, hookspec
from luminal.managers.handler import Handler, HandlerState, PhotonOrigin
from luminal.managers.hookstats import HookStats
from luminal.managers.loader import Loader, LoaderState
from luminal.ownership import PhotonThread
from luminal.photon import IPhoton
from luminal.trust import TrustPolicy


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata when first asked for (PEP 562):
    ``importlib.metadata`` costs ``import luminal`` a third of its time."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib.metadata

    try:
        version = importlib.metadata.version("luminal-photons")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        version = "0.0.0"
    globals()["__version__"] = version
    return version


logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DirectoryLoadError",
    "DirectoryNotFoundError",
    "EntryPointGroupLoadError",
    "EntryPointLoadError",
    "EntryPointPolicy",
    "FinalizerNotImplementedError",
    "Handler",
    "HandlerState",
    "HookStats",
    "IPhoton",
    "InstalledUpdateError",
    "Loader",
    "LoaderClosedError",
    "LoaderState",
    "LuminalError",
    "PhotonBaseExceptionError",
    "PhotonDependencyError",
    "PhotonEntryPoint",
    "PhotonExitError",
    "PhotonHookError",
    "PhotonHookTimeoutError",
    "PhotonLoadError",
    "PhotonNameConflictError",
    "PhotonNotFoundError",
    "PhotonNotInitializedError",
    "PhotonOrigin",
    "PhotonQuarantinedError",
    "PhotonReentryError",
    "PhotonReloadError",
    "PhotonStartError",
    "PhotonStopError",
    "PhotonThread",
    "PhotonTrustError",
    "ThreadManagerAlreadyRunningError",
    "TrustPolicy",
    "__version__",
    "find_photon_entry_points",
    "hookimpl",
    "hookspec",
]
