"""Checking the arguments of the loader's public methods, before anything is looked up."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import pluggy

from luminal import hookspecs
from luminal.codecache import default_directory
from luminal.errors import DirectoryNotFoundError, PhotonLoadError, PhotonNotFoundError
from luminal.managers.handler import Handler
from luminal.managers.hookimpls import PhotonPluginManager
from luminal.managers.registry import check_reference
from luminal.managers.reporting import Settings
from luminal.reading import existing_path, not_found_reason
from luminal.trust import TrustPolicy

__all__ = [
    "check_arguments",
    "check_flag",
    "check_photon_list",
    "check_references",
    "check_seconds",
    "checked_plugin_manager",
    "checked_settings",
    "code_cache_directory",
    "photon_directory",
    "photon_file",
    "watched_directories",
]


def checked_settings(
    logging: object,
    suppress_errors: object,
    finalize_timeout: float,
    stop_timeout: float,
    start_timeout: float,
    trust: object,
    code_cache: object = True,
) -> Settings:
    """The loader's arguments as :class:`Settings`.

    :raises ValueError: if a timeout is not a positive, finite number of seconds.
    :raises TypeError: if ``logging`` or ``suppress_errors`` is not a bool (``"no"`` would
        suppress errors), a timeout is not a number, ``trust`` is not a :class:`TrustPolicy`
        or ``None``, or ``code_cache`` not a path, a bool or ``None``.
    """
    check_flag("logging", logging)
    check_flag("suppress_errors", suppress_errors)
    check_seconds("finalize_timeout", finalize_timeout)
    check_seconds("stop_timeout", stop_timeout)
    check_seconds("start_timeout", start_timeout)
    if trust is not None and not isinstance(trust, TrustPolicy):
        raise TypeError(f"trust must be a TrustPolicy or None, not {type(trust).__name__}")
    return Settings(
        bool(logging),
        bool(suppress_errors),
        finalize_timeout,
        stop_timeout,
        start_timeout,
        trust,
        code_cache_directory(code_cache),
    )


def check_seconds(name: str, seconds: object) -> None:
    """A timeout must be a positive, finite number of seconds (``True`` is no number of them).

    :raises TypeError: if it is not an ``int`` or ``float``, or is a ``bool``.
    :raises ValueError: if it is not positive and finite.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {seconds!r}")
    if not 0 < _as_float(seconds) < math.inf:
        raise ValueError(f"{name} must be a positive, finite number of seconds, not {seconds!r}")


def _as_float(seconds: float) -> float:
    """``seconds`` as the float asyncio turns it into; an int too large for one is infinite."""
    try:
        return float(seconds)
    except OverflowError:
        return math.inf


def code_cache_directory(code_cache: object) -> Path | None:
    """The directory ``Loader(code_cache=...)`` names: the per-user one for ``True``, none for
    ``False`` or ``None``, else the path given (made absolute).

    :raises TypeError: if ``code_cache`` is not a path, a bool or ``None``.
    """
    if code_cache is True:
        return default_directory()
    if code_cache is False or code_cache is None:
        return None
    if not isinstance(code_cache, (str, os.PathLike)):
        raise TypeError(
            f"code_cache must be a path, a bool or None, not {type(code_cache).__name__}"
        )
    return Path(os.path.abspath(os.fspath(code_cache)))


def checked_plugin_manager(plugin_manager: pluggy.PluginManager | None) -> pluggy.PluginManager:
    """The host's plugin manager (of project ``"luminal"``) or a new one, with Luminal's specs."""
    if plugin_manager is None:
        plugin_manager = PhotonPluginManager(hookspecs.PROJECT_NAME)
    elif not isinstance(plugin_manager, pluggy.PluginManager):
        raise TypeError(
            f"plugin_manager must be a pluggy.PluginManager or None, "
            f"not {type(plugin_manager).__name__}"
        )
    elif plugin_manager.project_name != hookspecs.PROJECT_NAME:
        raise ValueError(
            f"plugin_manager must be for project {hookspecs.PROJECT_NAME!r}, "
            f"not {plugin_manager.project_name!r}"
        )
    plugin_manager.add_hookspecs(hookspecs)
    return plugin_manager


def check_arguments(
    path: object, photon_base: object, other_classes: object, recursive: object
) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the photon path must be a str or os.PathLike, not {type(path).__name__}")
    if not isinstance(photon_base, type):
        raise TypeError(f"photon_base must be a class, not {type(photon_base).__name__}")
    if other_classes is not None and (
        isinstance(other_classes, str)
        or not isinstance(other_classes, Sequence)
        or not all(isinstance(name, str) for name in other_classes)
    ):
        raise TypeError("other_classes must be a list of class names (str)")
    if not isinstance(recursive, bool):
        raise TypeError(f"recursive must be a bool, not {type(recursive).__name__}")


def photon_file(photon_path: str | os.PathLike[str]) -> Path:
    """The source a ``load_photon`` path names: the file, or the package of an ``__init__.py``.

    :raises PhotonNotFoundError: if the path is empty, cannot be reached or is a directory.
    :raises PhotonLoadError: if it is no ``.py`` file.
    """
    if not os.fspath(photon_path):
        raise PhotonNotFoundError("an empty path names no photon file", photon_path)
    try:
        path, mode = existing_path(photon_path)
    except OSError as error:
        raise PhotonNotFoundError(
            f"photon file {os.fspath(photon_path)!r} {not_found_reason(error)}", photon_path
        ) from error
    if stat.S_ISDIR(mode):
        raise PhotonNotFoundError(
            f"{os.fspath(photon_path)!r} is a directory; use load_photons for directories",
            photon_path,
        )
    if path.suffix != ".py":
        raise PhotonLoadError(f"{path} is not a Python source file (.py)", path)
    return path.parent if path.name == "__init__.py" else path


def photon_directory(photons_directory: str | os.PathLike[str]) -> Path:
    """The canonical directory ``load_photons`` or ``watch_photons`` was given.

    :raises DirectoryNotFoundError: if the path is empty, cannot be reached or is not a
        directory.
    """
    if not os.fspath(photons_directory):
        raise DirectoryNotFoundError("an empty path names no photon directory", photons_directory)
    try:
        directory, mode = existing_path(photons_directory)
    except OSError as error:
        raise DirectoryNotFoundError(
            f"photon directory {os.fspath(photons_directory)!r} {not_found_reason(error)}",
            photons_directory,
        ) from error
    if not stat.S_ISDIR(mode):
        raise DirectoryNotFoundError(
            f"photon directory {os.fspath(photons_directory)!r} is not a directory",
            photons_directory,
        )
    return directory


def watched_directories(
    photons_directory: str | os.PathLike[str] | None,
    more_directories: Iterable[str | os.PathLike[str]],
    debounce: object,
) -> list[Path]:
    """Check ``watch_photons``' arguments; return the canonical trees, disjoint."""
    if isinstance(more_directories, (str, bytes, os.PathLike)):
        raise TypeError(
            "more_directories must be a collection of directories, "
            f"not a single {type(more_directories).__name__}"
        )
    if isinstance(debounce, bool) or not isinstance(debounce, (int, float)):
        raise TypeError(f"debounce must be a number of seconds, not {type(debounce).__name__}")
    if not 0 <= _as_float(debounce) < math.inf:  # an infinite one never applies a save
        raise ValueError(f"debounce must be a finite number of seconds >= 0, not {debounce!r}")
    from luminal.managers.watching import check_disjoint

    given = [] if photons_directory is None else [photons_directory]
    for directory in [*given, *more_directories]:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(
                f"photons_directory must be a str or os.PathLike, not {type(directory).__name__}"
            )
    directories = [photon_directory(directory) for directory in [*given, *more_directories]]
    check_disjoint(directories)
    return directories


def check_references(photons: Iterable[object]) -> None:
    for photon in photons:
        if not isinstance(photon, Handler):
            check_reference(photon)


def check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def check_photon_list(photons: object) -> None:
    if isinstance(photons, (str, Handler, os.PathLike)) or not isinstance(photons, Sequence):
        raise TypeError("photons must be a list of handlers, names or paths")
