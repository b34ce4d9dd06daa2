"""The registry of one loader: its loaded sources, the photon names they hold, their locks.

Sources by path are the one state; the name index and the index by path text (a photon's
``filepath``, so a handler is resolved without building a ``Path``) are derived from them inside
:meth:`Registry.put` and :meth:`Registry.remove`, the only two places that change them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType

from luminal.discovery import EntryPointSelection
from luminal.errors import PhotonNameConflictError, PhotonNotFoundError
from luminal.finders import SourceLoader
from luminal.helperuse import names_used
from luminal.managers.handler import Handler
from luminal.managers.reentry import holding, refuse_held
from luminal.sources import drop_modules, source_path

__all__ = ["PhotonRef", "PhotonSource", "Registry", "check_reference"]

PhotonRef = Handler | str | os.PathLike[str]


@dataclass
class PhotonSource:
    """One loaded file or package and everything it brought into the process."""

    path: Path
    module_name: str
    checksum: str
    handlers: list[Handler]
    modules: dict[str, ModuleType]
    helpers: dict[str, ModuleType]
    photon_base: type
    other_classes: tuple[str, ...]
    recursive: bool
    package_files: dict[Path, bytes] = field(default_factory=dict)
    entry_points: EntryPointSelection | None = None
    threads: tuple[threading.Thread, ...] = ()
    """Plain threads its module started while it was imported."""
    parent: InitVar[Path | None] = None
    root: Path = field(init=False)
    """The directory holding the source: ``parent`` if given (the object its import used),
    else ``path.parent``."""

    def __post_init__(self, parent: Path | None) -> None:
        self.root = self.path.parent if parent is None else parent


_REGISTRIES: set[weakref.ref[Registry]] = set()
"""Every loader's registry: a helper module that one loader lets go of may run in another's.
Loaders may run in threads of their own, so this is read as a copy (``list()`` of a set, as of
a dict, is one step under the GIL, where a ``WeakSet``'s iteration is Python code)."""


def _live_registries() -> list[Registry]:
    return [registry for ref in list(_REGISTRIES) if (registry := ref()) is not None]


class Registry:
    """Loaded sources by canonical path, the photon names they hold, and a lock per path.

    A path's lock and the directory it was given in are forgotten once no operation uses the
    path and no source is loaded there, so loading and unloading many files leaves nothing.
    """

    def __init__(self) -> None:
        self._sources: dict[Path, PhotonSource] = {}
        self._by_filepath: dict[str, PhotonSource] = {}
        self._names: dict[str, Handler] = {}
        self._requirers: dict[str, Handler] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        self._lock_users: dict[Path, int] = {}
        self._directories: dict[Path, Path] = {}
        _REGISTRIES.add(weakref.ref(self, _REGISTRIES.discard))

    @property
    def sources(self) -> Mapping[Path, PhotonSource]:
        """A read-only view of the loaded sources: canonical path → source."""
        return MappingProxyType(self._sources)

    @property
    def photons(self) -> Mapping[str, Handler]:
        """A read-only view of the loaded photons: name → handler."""
        return MappingProxyType(self._names)

    @property
    def requirers(self) -> Mapping[str, Handler]:
        """The loaded photons that declare requirements, by name: the only ones that can wait
        for another or be taken along by its unload or reload (so a host without requirements
        never pays for them)."""
        return MappingProxyType(self._requirers)

    @property
    def idle(self) -> bool:
        """Whether nothing is loaded and no per-path entry is left."""
        return not (self._sources or self._locks or self._lock_users or self._directories)

    def put(self, source: PhotonSource) -> None:
        """Register ``source`` at its path, replacing what was there, names included."""
        previous = self._sources.get(source.path)
        if previous is not None:
            self._unname(previous.handlers)
        self._sources[source.path] = source
        self._by_filepath[os.fspath(source.path)] = source  # its photons' filepath
        for handler in source.handlers:
            self._names[handler.name] = handler
            if handler.requires:
                self._requirers[handler.name] = handler

    def remove(self, source: PhotonSource) -> None:
        """Forget ``source`` (if it is the one registered at its path) and its names."""
        if self._sources.get(source.path) is source:
            del self._sources[source.path]
            del self._by_filepath[os.fspath(source.path)]
            self._directories.pop(source.path, None)
        self._unname(source.handlers)

    def _unname(self, handlers: Iterable[Handler]) -> None:
        for handler in handlers:
            if self._names.get(handler.name) is handler:
                del self._names[handler.name]
            if self._requirers.get(handler.name) is handler:
                del self._requirers[handler.name]

    def given_directory(self, path: Path) -> Path | None:
        """The photon directory the trust policy judges ``path`` against, if one was given."""
        return self._directories.get(path)

    def give_directory(self, path: Path, directory: Path) -> None:
        self._directories[path] = directory

    def resolve(self, photon: PhotonRef) -> PhotonSource:
        """The loaded source a handler, photon name or path names.

        :raises TypeError: if ``photon`` is neither a handler, a ``str`` nor a path.
        :raises PhotonNotFoundError: if nothing loaded matches (a handler replaced by a reload
            or unloaded no longer does).
        """
        if isinstance(photon, Handler):
            source = self._by_filepath.get(photon.filepath)
            if source is not None and photon in source.handlers:
                return source
            raise PhotonNotFoundError(f"photon {photon.name!r} is not loaded (any more)", photon)
        check_reference(photon)
        if isinstance(photon, str) and photon in self._names:
            return self._by_filepath[self._names[photon].filepath]
        # A loaded source's own path names it, also once a symlink on the way leads elsewhere.
        source = self._sources.get(Path(photon)) or self._sources.get(source_path(photon))
        if source is None:
            raise PhotonNotFoundError(f"no loaded photon named or at {os.fspath(photon)!r}", photon)
        return source

    def named(self, photon: PhotonRef) -> Handler | list[Handler]:
        """The handler a reference names; a path names every photon of its source."""
        source = self.resolve(photon)
        if isinstance(photon, Handler):
            return photon
        if isinstance(photon, str) and photon in self._names:
            return self._names[photon]
        return list(source.handlers) if len(source.handlers) != 1 else source.handlers[0]

    def conflict(
        self, handlers: Iterable[Handler], replacing: Iterable[Path] = ()
    ) -> PhotonNameConflictError | None:
        """The first name in ``handlers`` already taken by a photon of another source."""
        replaced = {os.fspath(path) for path in replacing}  # a loaded photon's filepath
        for handler in handlers:
            existing = self._names.get(handler.name)
            if existing is not None and existing.filepath not in replaced:
                return PhotonNameConflictError(handler.name, handler.filepath, existing.filepath)
        return None

    def helpers_in_use(self, excluding: Iterable[Path] = ()) -> set[int]:
        """The ids of the helper modules that loaded sources (but ``excluding`` of this
        registry) use: every loader's, since two loaders of one tree share its helpers."""
        excluded = set(excluding)
        in_use: set[int] = set()
        for registry in _live_registries():
            # Another loader's thread may change its registry meanwhile: read copies.
            for source in list(registry.sources.values()):
                # Most sources use no helper: skip them before hashing their path.
                if source.helpers and (registry is not self or source.path not in excluded):
                    in_use.update(map(id, list(source.helpers.values())))
        return in_use

    def sources_naming(self, module_name: str, directory: Path) -> set[Path]:
        """The loaded sources at or below ``directory`` whose code names ``module_name``: those
        that import it (or try to) once a helper of that name comes."""
        return {
            source.path
            for source in self._sources.values()
            if source.path.is_relative_to(directory)
            and any(module_name in names_used(module) for module in source.modules.values())
        }

    def helper_users(self) -> dict[Path, set[Path]]:
        """Each helper's file (or package directory) → the sources that import it; a helper
        package's submodules count as the package."""
        users: dict[Path, set[Path]] = {}
        for source in self._sources.values():
            for _, _, location in _helper_locations(source.helpers):
                users.setdefault(location, set()).add(source.path)
        return users

    def helper_checksums(self) -> dict[Path, str | None]:
        """Each helper's location → the checksum of the bytes every source using it runs, read
        at its import; ``None`` when they run different copies (or one not read here)."""
        read: dict[Path, set[str | None]] = {}
        for source in self._sources.values():
            for name, module, location in _helper_locations(source.helpers):
                outermost = _outermost_helper(name, module, source.helpers)
                read.setdefault(location, set()).add(_checksum_read(outermost))
        return {location: sums.pop() if len(sums) == 1 else None for location, sums in read.items()}

    def helper_copies(self, location: Path) -> list[ModuleType]:
        """The copies of the helper at ``location`` (a module, or a package's modules) that
        loaded sources run."""
        return [
            module
            for source in self._sources.values()
            for _, module, at in _helper_locations(source.helpers)
            if at == location
        ]

    def sources_running_live(self, location: Path) -> set[Path]:
        """The sources that run the copy of the helper at ``location`` that ``sys.modules``
        holds: the one their import would take now, so a reload would change nothing."""
        return {
            source.path
            for source in self._sources.values()
            for name, module, at in _helper_locations(source.helpers)
            if at == location and sys.modules.get(name) is module
        }

    def set_aside_helper(self, location: Path) -> None:
        """Take the helper of ``location`` out of ``sys.modules``, a package with all its
        submodules (the sources using it keep them), so that the next source importing it runs
        its changed files anew, never a changed ``__init__.py`` over an old submodule. Every
        copy the sources hold is set aside, also one out of ``sys.modules`` at that moment (an
        unload let go of it): none goes back."""
        for source in self._sources.values():
            drop_modules(
                {
                    name: module
                    for name, module, at in _helper_locations(source.helpers)
                    if at == location
                },
                set_aside=True,
            )

    def lock_of(self, path: Path) -> asyncio.Lock:
        lock = self._locks.get(path)
        if lock is None:
            lock = self._locks[path] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def locked(self, paths: Iterable[Path]) -> AsyncIterator[None]:
        """Serialise operations per source; several are locked in path order (no deadlock)."""
        # Deduplicated in their given order, so paths that come sorted (a directory's) are
        # sorted in one pass instead of from the scrambled order of a set.
        locked_paths = sorted(dict.fromkeys(paths))
        for path in locked_paths:
            self._lock_users[path] = self._lock_users.get(path, 0) + 1
        locks = [self.lock_of(path) for path in locked_paths]
        held = 0
        try:
            refuse_held(locks, "an operation on " + _listing(locked_paths))
            for lock in locks:
                await lock.acquire()
                held += 1
            with holding(locks):
                yield
        finally:
            for lock in reversed(locks[:held]):
                lock.release()
            for path in locked_paths:
                self._forget_when_idle(path)

    def _forget_when_idle(self, path: Path) -> None:
        users = self._lock_users.pop(path, 1) - 1
        if users > 0:
            self._lock_users[path] = users
        elif path not in self._sources:
            self._locks.pop(path, None)
            self._directories.pop(path, None)


def _listing(paths: Sequence[Path], shown: int = 3) -> str:
    """The first ``shown`` paths, and how many more (a directory's load locks each source)."""
    listed = ", ".join(map(str, paths[:shown]))
    return listed if len(paths) <= shown else f"{listed} and {len(paths) - shown} more"


def check_reference(photon: object) -> None:
    """A photon reference that is not a handler must be a name or a path, and not empty."""
    if not isinstance(photon, (str, os.PathLike)):
        raise TypeError(f"expected a Handler, a photon name or a path, not {type(photon).__name__}")
    if not os.fspath(photon):
        raise PhotonNotFoundError("an empty name or path names no photon", photon)
    if "\0" in os.fspath(photon):
        raise PhotonNotFoundError(f"{os.fspath(photon)!r} holds a NUL byte: no photon", photon)


def _helper_locations(
    helpers: Mapping[str, ModuleType],
) -> Iterator[tuple[str, ModuleType, Path]]:
    """Each helper module with the location of the outermost helper it belongs to: a package's
    directory for its submodules too, since a package changes (and is re-imported) as a whole.
    A namespace package is no helper: its modules and packages are helpers of their own."""
    for name, module in helpers.items():
        location = _location_of(_outermost_helper(name, module, helpers))
        if location is not None:
            yield name, module, location


def _checksum_read(module: ModuleType) -> str | None:
    """The SHA-512 of the bytes a helper module (its whole package) was compiled from, as the
    watch hashes the disk; ``None`` for another module."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return loader.checksum if isinstance(loader, SourceLoader) else None


def _outermost_helper(
    name: str, module: ModuleType, helpers: Mapping[str, ModuleType]
) -> ModuleType:
    """The outermost helper package among those holding helper ``name``, else ``module``."""
    package_name = ""
    for part in name.split(".")[:-1]:
        package_name = f"{package_name}.{part}" if package_name else part
        package = helpers.get(package_name)
        if package is not None:
            return package
    return module


def _location_of(module: ModuleType) -> Path | None:
    """A helper module's file, or its package's directory."""
    file = getattr(module, "__file__", None)
    if file is None:
        return None
    location = Path(file)
    return location.parent if location.name == "__init__.py" else location
