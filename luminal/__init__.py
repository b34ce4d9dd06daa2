"""Luminal: load, start, hot-reload and unload Python plugins (photons) on pluggy."""

import importlib.metadata
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
    PhotonExitError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonReentryError,
    PhotonReloadError,
    PhotonStartError,
    PhotonStopError,
    PhotonTrustError,
    ThreadManagerAlreadyRunningError,
)
from luminal.hookspecs import hookimpl, hookspec
from luminal.managers.handler import Handler, HandlerState, PhotonOrigin
from luminal.managers.loader import Loader, LoaderState
from luminal.ownership import PhotonThread
from luminal.photon import IPhoton
from luminal.trust import TrustPolicy

try:
    __version__ = importlib.metadata.version("luminal-photons")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

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
    "IPhoton",
    "InstalledUpdateError",
    "Loader",
    "LoaderClosedError",
    "LoaderState",
    "LuminalError",
    "PhotonEntryPoint",
    "PhotonExitError",
    "PhotonLoadError",
    "PhotonNameConflictError",
    "PhotonNotFoundError",
    "PhotonNotInitializedError",
    "PhotonOrigin",
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
