"""Luminal: load, start, hot-reload and unload Python plugins (photons) on pluggy."""

import logging
import typing

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
from luminal.lazy import package_attribute as _package_attribute

if typing.TYPE_CHECKING:
    from luminal.discovery import EntryPointPolicy, PhotonEntryPoint, find_photon_entry_points
    from luminal.managers.handler import Handler, HandlerState, PhotonOrigin
    from luminal.managers.hookstats import HookStats
    from luminal.managers.loader import Loader, LoaderState
    from luminal.ownership import PhotonThread
    from luminal.photon import IPhoton
    from luminal.trust import TrustPolicy

_LAZY_NAMES = {
    "EntryPointPolicy": "luminal.discovery",
    "Handler": "luminal.managers.handler",
    "HandlerState": "luminal.managers.handler",
    "HookStats": "luminal.managers.hookstats",
    "IPhoton": "luminal.photon",
    "Loader": "luminal.managers.loader",
    "LoaderState": "luminal.managers.loader",
    "PhotonEntryPoint": "luminal.discovery",
    "PhotonOrigin": "luminal.managers.handler",
    "PhotonThread": "luminal.ownership",
    "TrustPolicy": "luminal.trust",
    "find_photon_entry_points": "luminal.discovery",
}


def __getattr__(name: str) -> typing.Any:
    """The public names a call needs, imported when first asked for (PEP 562): a photon
    file that imports ``hookimpl`` does not pay for the loader, nor a host that only loads
    files for entry-point discovery. ``__version__`` is read from the installed metadata, and
    a sub-module (``luminal.trust``) is imported when asked for, as it was imported up front."""
    if name == "__version__":
        return _version()
    return _package_attribute(globals(), _LAZY_NAMES, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    import importlib.metadata  # a third of ``import luminal``'s time if imported up front

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
