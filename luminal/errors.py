"""Every error Luminal raises, under one base class.

The hierarchy::

    LuminalError
    ├── PhotonNotFoundError (FileNotFoundError)       unknown photon, handler or path
    ├── DirectoryNotFoundError (FileNotFoundError)    photon directory missing or not a directory
    ├── PhotonNotInitializedError (RuntimeError)      stopping a photon that was never started
    ├── FinalizerNotImplementedError (NotImplementedError)
    ├── ThreadManagerAlreadyRunningError (RuntimeError)  watching twice
    ├── PhotonReentryError (RuntimeError)             an operation would wait on its own caller
    ├── LoaderClosedError (RuntimeError)              an operation on a closed loader
    ├── PhotonExitError (RuntimeError)                a photon's code called ``sys.exit()``
    ├── PhotonBaseExceptionError (RuntimeError)       ... or raised another ``BaseException``
    ├── PhotonLoadError (ImportError)                 a source fails to import or validate
    │   ├── PhotonNameConflictError                   two files define photons with one name
    │   ├── PhotonTrustError                          the trust policy refuses a file
    │   └── EntryPointLoadError                       an installed photon's entry point failed
    ├── DirectoryLoadError                            some files of a directory failed to load
    ├── EntryPointGroupLoadError                      some entry points of a group failed to load
    ├── PhotonStartError (RuntimeError)               ``__init__`` or ``photon_start`` raised
    │   └── PhotonDependencyError                     a requirement does not run, or a cycle
    ├── PhotonStopError (RuntimeError)                something a photon owned could not be stopped
    ├── PhotonReloadError (RuntimeError)              a reload failed and was rolled back
    ├── InstalledUpdateError (RuntimeError)           an installed upgrade cannot apply live
    └── PhotonHookError                               a photon's hook implementation failed
        ├── PhotonHookTimeoutError                    ... or outran the call's ``timeout``
        └── PhotonQuarantinedError                    ... so often that it was quarantined

Errors carry their context as attributes (``path``, ``photon_name``, ``distribution``,
``unmet``, ``cycle``) and chain
the underlying exception as ``__cause__``. They pickle (a host sends them to other processes) with
their type, message, attributes and cause; see :class:`LuminalError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from luminal.discovery import PhotonEntryPoint
    from luminal.managers.handler import Handler

__all__ = [
    "DirectoryLoadError",
    "DirectoryNotFoundError",
    "EntryPointGroupLoadError",
    "EntryPointLoadError",
    "FinalizerNotImplementedError",
    "InstalledUpdateError",
    "LoaderClosedError",
    "LuminalError",
    "PhotonBaseExceptionError",
    "PhotonDependencyError",
    "PhotonExitError",
    "PhotonHookError",
    "PhotonHookTimeoutError",
    "PhotonLoadError",
    "PhotonNameConflictError",
    "PhotonNotFoundError",
    "PhotonNotInitializedError",
    "PhotonQuarantinedError",
    "PhotonReentryError",
    "PhotonReloadError",
    "PhotonStartError",
    "PhotonStopError",
    "PhotonTrustError",
    "ThreadManagerAlreadyRunningError",
]


class LuminalError(Exception):
    """Base class of every error raised by Luminal.

    Every Luminal error pickles, so a host can send it to another process (``multiprocessing``,
    ``concurrent.futures``, a logging queue): the copy has its type, ``args``, message and
    attributes, and its ``__cause__`` when the cause pickles and its class can be imported where
    it is unpickled (a photon's own exception class cannot; the copy then has no cause).
    Handlers and threads belong to the raising process: a copy's ``handlers`` (of
    :class:`DirectoryLoadError`, :class:`EntryPointGroupLoadError`) and ``threads`` (of
    :class:`PhotonStopError`) are empty, and a :class:`PhotonNotFoundError`'s ``photon`` is
    ``None`` unless it was a name or path.
    """

    _PROCESS_LOCAL: ClassVar[tuple[str, ...]] = ()
    """Attributes holding objects of the raising process, left out of a pickled copy."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls the class with ``args`` to unpickle, but Luminal's
        # constructors take other arguments than the message ``args`` holds.
        reduced = super().__reduce__()
        assert isinstance(reduced, tuple)
        state = dict(reduced[2]) if len(reduced) > 2 and reduced[2] else {}
        for name in self._PROCESS_LOCAL:
            if name in state:
                state[name] = _portable(state[name])
        return _rebuilt, (type(self), reduced[1], _pickled_cause(self.__cause__)), state


def _rebuilt(cls: type[LuminalError], args: tuple[Any, ...], cause: bytes | None) -> LuminalError:
    """An error of ``cls`` unpickled: made as its builtin base makes it from ``args`` (pickle
    then sets the attributes), with its cause if it can be unpickled here."""
    error = cls.__new__(cls, *args)
    super(LuminalError, error).__init__(*args)  # the builtin base's: ImportError's, OSError's
    if cause is not None:
        error.__cause__ = _unpickled_cause(cause)
    return error


def _pickled_cause(cause: BaseException | None) -> bytes | None:
    """``cause`` pickled apart from its error, so that a cause that cannot travel is dropped
    instead of failing the error; ``None`` if it cannot be pickled."""
    if cause is None:
        return None
    import pickle

    try:
        return pickle.dumps(cause)
    except Exception:  # a lock in its attributes, a local class: anything pickle refuses
        return None


def _unpickled_cause(data: bytes) -> BaseException | None:
    """The cause pickled by :func:`_pickled_cause`, or ``None`` if it cannot be unpickled here
    (its class is a photon's own, in a module only the raising process imported)."""
    import pickle

    try:
        cause = pickle.loads(data)
    except Exception:  # ModuleNotFoundError, AttributeError, or the class's own failure
        return None
    return cause if isinstance(cause, BaseException) else None


def _portable(value: object) -> object:
    """What a pickled error keeps of an attribute that holds objects of the raising process."""
    if isinstance(value, (str, os.PathLike)):
        return value
    return [] if isinstance(value, list) else None


class PhotonNotFoundError(LuminalError, FileNotFoundError):
    """A photon name, handler or path is not known to the loader, or the file does not exist."""

    _PROCESS_LOCAL = ("photon",)

    def __init__(self, message: str, photon: object = None) -> None:
        super().__init__(message)
        self.photon = photon


class DirectoryNotFoundError(LuminalError, FileNotFoundError):
    """A photon directory does not exist or is not a directory."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class PhotonNotInitializedError(LuminalError, RuntimeError):
    """A photon was asked to stop (or unload) although it was never started."""

    def __init__(self, message: str, photon_name: str | None = None) -> None:
        super().__init__(message)
        self.photon_name = photon_name


class FinalizerNotImplementedError(LuminalError, NotImplementedError):
    """The photon does not implement ``finalize``; Luminal force-stops it instead."""

    def __init__(self, message: str, photon_name: str | None = None) -> None:
        super().__init__(message)
        self.photon_name = photon_name


class ThreadManagerAlreadyRunningError(LuminalError, RuntimeError):
    """``watch_photons`` was called while the loader is already watching."""


class PhotonReentryError(LuminalError, RuntimeError):
    """An operation was called from code that the operation would have to wait for.

    From a ``photon_start`` (or an observer of ``luminal_photon_started``/``luminal_photon_error``),
    loading, reloading, unloading or starting a photon of a file whose operation is under way,
    ``stop_watching_photons`` and ``close`` would wait for themselves; they raise this at once.
    """


class LoaderClosedError(LuminalError, RuntimeError):
    """A load, reload, unload or watch was asked of a loader after :meth:`Loader.close`."""


class PhotonExitError(LuminalError, RuntimeError):
    """A photon's code called ``sys.exit()`` (or raised ``SystemExit``), as an ``argparse`` at
    import time does: it fails that photon, never the host. ``code`` is the exit's argument;
    the ``SystemExit`` is the ``__cause__``."""

    def __init__(self, code: object) -> None:
        super().__init__(f"the photon's code called sys.exit({code!r})")
        self.code = code


class PhotonBaseExceptionError(LuminalError, RuntimeError):
    """A photon's code raised a ``BaseException`` that is not an ``Exception`` (a class of its
    own, ``GeneratorExit``, a ``CancelledError`` outside an await): it fails that photon like
    any other error instead of leaving every ``except Exception`` of the host. The raised
    exception is the ``__cause__``."""

    def __init__(self, escaped: BaseException) -> None:
        super().__init__(f"the photon's code raised {type(escaped).__name__}: {escaped}")


class PhotonLoadError(LuminalError, ImportError):
    """A photon source could not be imported or validated.

    ``path`` is the file or package directory; the original exception (``SyntaxError``,
    ``ImportError``, ...) is the ``__cause__``.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message, path=None if path is None else os.fspath(path))


class PhotonNameConflictError(PhotonLoadError):
    """A photon's name is already taken by a photon from another file (or the same file)."""

    def __init__(self, photon_name: str, path: str, existing_path: str) -> None:
        super().__init__(
            f"photon name {photon_name!r} in {path} is already used by the photon from "
            f"{existing_path}; give one of them another name (class keyword name=...)",
            path,
        )
        self.photon_name = photon_name
        self.existing_path = existing_path


class PhotonTrustError(PhotonLoadError):
    """The loader's trust policy refuses to run a file; ``rule`` names the rule."""

    def __init__(self, message: str, path: str, rule: str) -> None:
        super().__init__(message, path)
        self.rule = rule


class EntryPointLoadError(PhotonLoadError):
    """An installed photon's entry point failed: not installed, failed to import, names no photon,
    or a photon whose name is taken. Only this entry point is skipped.

    ``distribution``, ``version``, ``entry_point`` (its name), ``group`` and ``value`` say which
    one; ``path`` is its source when it was found. An underlying exception (the import error, the
    :class:`PhotonNameConflictError`) is the ``__cause__``.
    """

    def __init__(
        self, message: str, entry: PhotonEntryPoint, path: str | os.PathLike[str] | None = None
    ) -> None:
        super().__init__(message, path)
        self.distribution = entry.distribution
        self.version = entry.version
        self.entry_point = entry.name
        self.group = entry.group
        self.value = entry.value


class DirectoryLoadError(LuminalError):
    """Some files of a directory failed to load; the others were loaded and stay loaded.

    ``errors`` holds one :class:`PhotonLoadError` per failed file and ``handlers`` the photons
    that did load.
    """

    _PROCESS_LOCAL = ("handlers",)

    def __init__(
        self, path: str, errors: Sequence[PhotonLoadError], handlers: Sequence[Handler]
    ) -> None:
        details = "; ".join(str(error) for error in errors)
        super().__init__(f"{len(errors)} photon source(s) in {path} failed to load: {details}")
        self.path = path
        self.errors = list(errors)
        self.handlers = list(handlers)


class EntryPointGroupLoadError(LuminalError):
    """Some entry points of a group failed to load; the others were loaded and stay loaded.

    ``errors`` holds one :class:`EntryPointLoadError` per failed entry point and ``handlers`` the
    photons that did load.
    """

    _PROCESS_LOCAL = ("handlers",)

    def __init__(
        self, group: str, errors: Sequence[EntryPointLoadError], handlers: Sequence[Handler]
    ) -> None:
        details = "; ".join(str(error) for error in errors)
        super().__init__(f"{len(errors)} entry point(s) of group {group!r} failed: {details}")
        self.group = group
        self.errors = list(errors)
        self.handlers = list(handlers)


class PhotonStartError(LuminalError, RuntimeError):
    """Creating a photon instance or its ``photon_start`` hook raised; the cause is chained."""

    def __init__(self, message: str, photon_name: str, path: str) -> None:
        super().__init__(message)
        self.photon_name = photon_name
        self.path = path


class PhotonDependencyError(PhotonStartError):
    """A photon cannot start: requirements of it do not run, or its requirements form a cycle.

    ``unmet`` maps each unmet requirement (``"db>=1.2"``) to why (``"not loaded"``, ``"not
    running"``, ``"version 2.0 runs"``); ``cycle`` names the photons of a cycle, the first
    repeated at the end, or is empty.
    """

    def __init__(
        self,
        message: str,
        photon_name: str,
        path: str,
        unmet: Mapping[str, str] | None = None,
        cycle: Sequence[str] = (),
    ) -> None:
        super().__init__(message, photon_name, path)
        self.unmet = dict(unmet or {})
        self.cycle = tuple(cycle)


class PhotonStopError(LuminalError, RuntimeError):
    """Stopping a photon left something running (a thread, task or process) or its finalizer
    failed. Reported through ``luminal_photon_error``; the photon is removed all the same.

    Also raised to a photon that starts a thread, task or process while it is being stopped.
    ``threads`` holds the threads left running, if any.
    """

    _PROCESS_LOCAL = ("threads",)

    def __init__(
        self,
        message: str,
        photon_name: str,
        path: str,
        threads: Sequence[threading.Thread] = (),
    ) -> None:
        super().__init__(message)
        self.photon_name = photon_name
        self.path = path
        self.threads = list(threads)


class PhotonReloadError(LuminalError, RuntimeError):
    """A reload failed; every photon it touched was rolled back to its previous version."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = list(paths)


class InstalledUpdateError(LuminalError, RuntimeError):
    """An installed distribution changed (``pip install -U``) but the change cannot be applied
    to the running process; the previous version keeps running."""

    def __init__(self, message: str, distribution: str, old_version: str, new_version: str) -> None:
        super().__init__(message)
        self.distribution = distribution
        self.old_version = old_version
        self.new_version = new_version


class PhotonHookError(LuminalError):
    """A photon's implementation of a hook raised in :meth:`Loader.acall` or
    :meth:`Loader.call`; with ``isolate=True`` it is skipped and this is reported through
    ``luminal_photon_error``. The photon's exception is the ``__cause__``."""

    def __init__(self, message: str, photon_name: str, hook_name: str) -> None:
        super().__init__(message)
        self.photon_name = photon_name
        self.hook_name = hook_name

    @property
    def cause(self) -> BaseException | None:
        """What the implementation raised (``None`` for a timeout)."""
        return self.__cause__


class PhotonHookTimeoutError(PhotonHookError):
    """An ``async`` hook implementation was still running when the call's ``timeout`` ran
    out; it was cancelled and skipped."""


class PhotonQuarantinedError(PhotonHookError):
    """A photon failed in ``failures`` consecutive isolated hook calls and was quarantined
    (see ``Loader(quarantine_after=...)``); ``last`` is its last :class:`PhotonHookError`."""

    def __init__(self, message: str, last: PhotonHookError, failures: int) -> None:
        super().__init__(message, last.photon_name, last.hook_name)
        self.last = last
        self.failures = failures
