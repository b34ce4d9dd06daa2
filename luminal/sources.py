"""Photon sources: canonical paths, SHA-512 checksums and importing straight from source.

A photon source is a ``.py`` file or a package directory. It is imported under a private module
name so that two files called ``greeter.py`` never clash, and always compiled from the bytes that
were hashed: Python's timestamp ``.pyc`` check (whole seconds and size) would run stale code after
a same-size rewrite within one second.

This module is the one place where source bytes that Luminal lets run are read (regular files
only: a FIFO or device named ``*.py`` is never opened for reading), checked (a :data:`SourceCheck`,
the trust policy's, judges the bytes read) and compiled (from those bytes). Photon files,
packages and their modules, and helper modules all come through it: helpers, however they are
imported (``import helpers`` next to the photon, the ``sys.path.insert(0, ...)`` idiom,
``importlib.import_module``), are found by :class:`HelperFinder`. It asks the other finders first,
so it never shadows the standard library or installed packages, and takes over any top-level
module they find inside a directory of loaded photons.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import os
import re
import stat
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import NamedTuple, NoReturn

from luminal.errors import PhotonLoadError, PhotonTrustError
from luminal.tree import (
    display_path,
    is_ignored_name,
    is_installed_location,
    is_output_directory,
    is_project_directory,
    iter_package_files,
    not_a_source_reason,
)

__all__ = [
    "HelperFinder",
    "ImportRequest",
    "ImportedSource",
    "SourceCheck",
    "SourceLoader",
    "canonical_path",
    "checksum_files",
    "import_source",
    "import_sources",
    "is_ignored_name",
    "is_project_directory",
    "iter_source_files",
    "load_error",
    "module_name_for",
    "raise_load_error",
    "read_regular_file",
    "read_source",
    "release_helpers",
    "source_path",
]

SourceCheck = Callable[[Path, "Path | None", Mapping[Path, bytes], str], None]
"""Judges a source before any of it runs: ``(source, photon_directory, files, checksum)``, with
the source's canonical path, the directory it was loaded from (``None``: its own), the bytes read
per file and their checksum; refuses by raising (the trust policy's ``check_source``)."""

CHUNK_SIZE = 2**20
# What pathlib's exists() and is_dir() take for "not there" (ENOENT, ENOTDIR, EBADF, ELOOP;
# on Windows not ready, invalid name, unresolvable name).
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
_MISSING_WINERRORS = frozenset({21, 123, 1921})
# Any character but a letter or digit (str.isalnum), and "_", which becomes "_" all the same.
_NOT_ALPHANUMERIC = re.compile(r"\W")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def canonical_path(path: str | os.PathLike[str]) -> Path:
    """The one spelling of ``path``: absolute, symlinks and ``..`` resolved, no trailing slash."""
    return Path(os.path.realpath(os.fspath(path)))


def iter_source_files(path: Path) -> Iterator[Path]:
    """The ``.py`` files that make up a source: the file itself, or a package's files, sorted."""
    if not path.is_dir():
        yield path
        return
    yield from iter_package_files(path)


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file (symlinks followed).

    Opened without blocking and checked on the open descriptor, so a FIFO, socket or device
    never blocks the thread and is never read, even when swapped in after a check by name.

    :raises PhotonLoadError: if it is not a regular file.
    """
    reason = not_a_source_reason(path)
    if reason is None:
        descriptor = os.open(path, _OPEN_FLAGS)
        with open(descriptor, "rb", closefd=True) as file:
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISREG(mode):
                return file.read()
        reason = not_a_source_reason(path, mode)
    raise PhotonLoadError(f"refusing to read {display_path(path)}: {reason}", path)


def checksum_files(files: dict[Path, bytes], root: Path) -> str:
    """SHA-512 of a source's bytes; for a package, of every file's relative path and bytes."""
    digest = hashlib.sha512()
    if len(files) == 1 and root in files:
        digest.update(files[root])
        return digest.hexdigest()
    for file_path in sorted(files):
        digest.update(file_path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha512(files[file_path]).digest())
    return digest.hexdigest()


def module_name_for(path: Path, namespace: str) -> str:
    """A private, stable module name for the source at ``path`` within one loader."""
    stem = path.stem if path.is_file() else path.name
    safe_stem = _NOT_ALPHANUMERIC.sub("_", display_path(Path(stem)))
    path_digest = hashlib.sha1(os.fsencode(path), usedforsecurity=False).hexdigest()[:10]
    return f"{namespace}_{safe_stem}_{path_digest}"


class SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module from the bytes that were read and checked, never from disk again nor
    from cached bytecode."""

    def __init__(self, fullname: str, path: str, source: bytes) -> None:
        super().__init__(fullname, path)
        self._source = source

    def get_data(self, path: str) -> bytes:
        if path == self.path:
            return self._source
        return super().get_data(path)  # package data (importlib.resources), never compiled

    def get_code(self, fullname: str) -> CodeType:
        return self.source_to_code(self._source, self.path)


def _spec_for(
    name: str, location: Path, source: bytes, is_package: bool
) -> importlib.machinery.ModuleSpec | None:
    init_file = location / "__init__.py" if is_package else location
    loader = SourceLoader(name, str(init_file), source)
    return importlib.util.spec_from_file_location(
        name,
        str(init_file),
        loader=loader,
        submodule_search_locations=[str(location)] if is_package else None,
    )


_delegating = threading.local()
_importing = threading.local()
_ISOLATION = threading.RLock()
_HELPER_NAMES: set[str] = set()
# Helper modules of photon directories other than the one whose source ran last, by name.
_PARKED: dict[str, list[ModuleType]] = {}


class PackageFinder(importlib.abc.MetaPathFinder):
    """Finds the sub-modules of imported photon and helper packages in their snapshot.

    A module of the package that is not in the snapshot (created after the package was read,
    a FIFO, an ignored name) is refused, never read from disk unchecked.
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, dict[Path, bytes]] = {}
        self._helper_packages: set[str] = set()
        self._lock = threading.Lock()

    def add(self, package_name: str, files: dict[Path, bytes]) -> None:
        with self._lock:
            self._snapshots[package_name] = files

    def add_helper(self, package_name: str, files: dict[Path, bytes]) -> None:
        """Add a helper package's files: helper packages of two trees may share a name, and
        their files (absolute paths) never clash."""
        with self._lock:
            self._snapshots[package_name] = {**self._snapshots.get(package_name, {}), **files}
            self._helper_packages.add(package_name)

    def discard(self, package_name: str) -> None:
        with self._lock:
            self._snapshots.pop(package_name, None)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or "." not in fullname:
            return None
        package_name = fullname.partition(".")[0]
        with self._lock:
            files = self._snapshots.get(package_name)
            if package_name in self._helper_packages:
                _HELPER_NAMES.add(fullname)  # its tree's own, like the package (_own_helpers)
        if files is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            candidate = Path(directory, leaf)
            init_file = candidate / "__init__.py"
            module_file = candidate.with_name(leaf + ".py")
            if init_file in files:
                return _spec_for(fullname, candidate, files[init_file], is_package=True)
            if module_file in files:
                return _spec_for(fullname, module_file, files[module_file], is_package=False)
            if os.path.lexists(init_file) or os.path.lexists(module_file):
                raise ModuleNotFoundError(
                    f"refusing module {fullname}: {display_path(candidate)} is not part of "
                    f"package {package_name} as it was read and checked at load time "
                    "(reload the photon to include it)",
                    name=fullname,
                )
        return None


class HelperFinder(importlib.abc.MetaPathFinder):
    """Finds the helper modules of loaded photons, however they are imported.

    A helper is a top-level module (a ``.py`` file or a package) whose file lies in a directory
    that holds loaded photons (``roots``). The finder sits *first* in ``sys.meta_path`` and asks
    the finders after it: what they find inside a root (through ``sys.path``, as the
    ``sys.path.insert(0, os.path.dirname(__file__))`` idiom and ``importlib.import_module`` do)
    it takes over; what they find elsewhere is theirs (helpers never shadow the standard library
    or installed packages); what nobody finds it looks up in the roots (``import helpers``). A
    helper it takes over is read once, checked by ``check`` and compiled from the bytes read.
    """

    def __init__(self, package_finder: PackageFinder, check: SourceCheck | None = None) -> None:
        self._roots: Counter[Path] = Counter()
        self._lock = threading.Lock()
        self._package_finder = package_finder
        self._check = check

    def add_root(self, root: Path) -> None:
        with self._lock:
            self._roots[root] += 1

    def remove_root(self, root: Path) -> None:
        with self._lock:
            self._roots[root] -= 1
            if self._roots[root] <= 0:
                del self._roots[root]

    @property
    def roots(self) -> list[Path]:
        with self._lock:
            return list(self._roots)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname or getattr(_delegating, "active", False):
            return None
        roots = self.roots
        if not roots:
            return None
        current = _current_root()
        found = _spec_of_other_finders(fullname)
        if found is not None:
            location = _source_location(found)
            root = _root_holding(location, roots) if location is not None else None
            if location is None or root is None:
                return None  # not a helper: the finder that found it answers
            if current is None or root == current or not _helper_at(current, fullname):
                return self._helper_spec(fullname, location, root)
        if current is not None and current in roots:
            roots = [current, *(root for root in roots if root != current)]
        for root in roots:
            location = _helper_at(root, fullname) if not is_installed_location(root) else None
            if location is not None:
                return self._helper_spec(fullname, location, root)
        return None

    def _helper_spec(
        self, name: str, location: Path, root: Path
    ) -> importlib.machinery.ModuleSpec | None:
        """Read, check and snapshot a helper; it is compiled from these bytes."""
        files = read_source(location)
        is_package = location.suffix != ".py"
        init_file = location / "__init__.py" if is_package else location
        if init_file not in files:
            return None
        if self._check is not None:
            absolute = Path(os.path.abspath(location))
            self._check(absolute, root, files, checksum_files(files, location))
        if is_package:
            self._package_finder.add_helper(name, files)
        _HELPER_NAMES.add(name)  # one atomic set operation, read under _ISOLATION
        return _spec_for(name, location, files[init_file], is_package)


def _helper_at(root: Path, name: str) -> Path | None:
    """The helper package or module called ``name`` in ``root``, if there is one."""
    if os.path.lexists(root / name / "__init__.py"):
        return root / name
    if os.path.lexists(root / f"{name}.py"):
        return root / f"{name}.py"
    return None


def _spec_of_other_finders(fullname: str) -> importlib.machinery.ModuleSpec | None:
    """What the rest of ``sys.meta_path`` finds for a top-level name, Luminal's finders aside."""
    previous = getattr(_delegating, "active", False)
    _delegating.active = True
    try:
        for finder in list(sys.meta_path):
            if isinstance(finder, (HelperFinder, PackageFinder)):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find_spec(fullname, None)
            if spec is not None:
                return spec
        return None
    finally:
        _delegating.active = previous


def _source_location(spec: importlib.machinery.ModuleSpec) -> Path | None:
    """The ``.py`` file or package directory a spec would run, if it is Python source."""
    if not spec.has_location or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    origin = Path(spec.origin)
    return origin.parent if spec.submodule_search_locations is not None else origin


def _root_holding(location: Path, roots: Sequence[Path]) -> Path | None:
    """The root that ``location`` lies in, unless it lies in output there (a virtual
    environment's ``site-packages`` inside a photon directory holds installed packages) or the
    root is an installation directory (an installed photon's neighbours are distributions)."""
    absolute = Path(os.path.abspath(location))
    for root in roots:
        if absolute.is_relative_to(root) and not is_installed_location(root):
            current = root
            for part in absolute.relative_to(root).parts[:-1]:
                current = current / part
                if is_ignored_name(part) or is_output_directory(current):
                    return None
            return root
    return None


def is_helper_module(module: ModuleType) -> bool:
    """Whether ``module`` was imported by a :class:`HelperFinder`."""
    spec = getattr(module, "__spec__", None)
    return spec is not None and isinstance(spec.loader, SourceLoader) and "." not in spec.name


@dataclass
class ImportedSource:
    """A freshly imported photon source, not yet visible to anyone."""

    path: Path
    is_package: bool
    module: ModuleType
    checksum: str
    files: dict[Path, bytes]
    modules: dict[str, ModuleType] = field(default_factory=dict)
    helpers: dict[str, ModuleType] = field(default_factory=dict)


def read_source(path: Path) -> dict[Path, bytes]:
    """Read every file of a source once; the bytes read are the bytes hashed and compiled."""
    return {file_path: read_regular_file(file_path) for file_path in iter_source_files(path)}


def import_source(
    path: Path,
    name: str,
    package_finder: PackageFinder,
    recursive: bool = False,
    check: SourceCheck | None = None,
    submodules: Sequence[str] = (),
    photon_directory: Path | None = None,
) -> ImportedSource:
    """Import the source at ``path`` as module ``name`` and return it with all it brought in.

    For a package, ``recursive`` also imports every sub-module, so photons defined below
    ``__init__`` are found; ``submodules`` (dotted, relative to the package) imports just those,
    as entry points name them. Runs in a worker thread. On failure every module it added to
    ``sys.modules`` is removed again and the exception propagates. ``check`` judges the bytes
    read (against ``photon_directory``), before any of them is executed, and may refuse them.
    """
    mode = _existing_mode(path)
    if mode is None:
        raise ModuleNotFoundError(f"no photon source at {display_path(path)}", path=str(path))
    reason = not_a_source_reason(path, mode)
    if reason is not None:
        raise PhotonLoadError(f"cannot load {display_path(path)}: {reason}", path)
    is_package = stat.S_ISDIR(mode)
    files = read_source(path)
    init_file = path / "__init__.py" if is_package else path
    if init_file not in files:
        raise ModuleNotFoundError(f"{path} is not a Python module or package", path=str(path))
    checksum = checksum_files(files, path)
    if check is not None:
        check(path, photon_directory, files, checksum)
    spec = _spec_for(name, path, files[init_file], is_package)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module spec for {path}", path=str(path))
    try:
        with _own_helpers(path.parent):
            return _execute(
                spec, path, is_package, files, checksum, package_finder, recursive, submodules
            )
    except PhotonTrustError as error:
        if error.path == str(path):
            raise
        raise PhotonTrustError(
            f"refusing {display_path(path)}: it imports a refused helper: {error}",
            str(path),
            error.rule,
        ) from error


def _execute(
    spec: importlib.machinery.ModuleSpec,
    path: Path,
    is_package: bool,
    files: dict[Path, bytes],
    checksum: str,
    package_finder: PackageFinder,
    recursive: bool,
    submodules: Sequence[str],
) -> ImportedSource:
    """Run a checked source's module and collect what it brought into ``sys.modules``."""
    assert spec.loader is not None
    name = spec.name
    before = sys.modules.copy()
    module = importlib.util.module_from_spec(spec)
    if is_package:
        package_finder.add(name, files)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        if is_package and recursive:
            _import_submodules(name, path, files)
        for submodule in submodules:
            importlib.import_module(f"{name}.{submodule}")
    except BaseException:
        # Only what this import brought in: other threads may be importing at the same time.
        for added in sys.modules.keys() - before.keys():
            added_module = sys.modules.get(added)
            if (
                added == name
                or added.startswith(name + ".")
                or (added_module is not None and is_helper_module(added_module))
            ):
                sys.modules.pop(added, None)
        package_finder.discard(name)
        raise
    imported = ImportedSource(path, is_package, module, checksum, files)
    for added in _added_modules(before, name):
        added_module = sys.modules[added]
        if added == name or added.startswith(name + "."):
            imported.modules[added] = added_module
        elif is_helper_module(added_module):
            imported.helpers[added] = added_module
    imported.helpers.update(referenced_helpers(module))
    return imported


@contextlib.contextmanager
def _own_helpers(root: Path) -> Iterator[None]:
    """While a source of ``root`` runs, the plain helper names in ``sys.modules`` are ``root``'s.

    Helpers of other directories are parked (taken out of ``sys.modules``, kept here) and those
    of ``root`` that were parked come back, so ``import helpers`` in two trees (or two loaders)
    gives each tree its own ``helpers.py``, shared by the photons of that tree. Helper lookups
    prefer ``root`` meanwhile. Serialised, since ``sys.modules`` is shared by every thread.
    """
    with _ISOLATION:
        for name in list(_HELPER_NAMES):
            current = sys.modules.get(name)
            if current is not None and not _lies_in(current, root):
                _PARKED.setdefault(name, []).append(sys.modules.pop(name))
            parked = _PARKED.get(name, [])
            own = next((module for module in parked if _lies_in(module, root)), None)
            if own is not None and name not in sys.modules:
                parked.remove(own)
                sys.modules[name] = own
        _importing.roots = [*getattr(_importing, "roots", []), root]
        try:
            yield
        finally:
            _importing.roots = _importing.roots[:-1]


def release_helpers(modules: Mapping[str, ModuleType]) -> None:
    """Forget parked helper modules that the loader drops (unload) or stashes (reload)."""
    with _ISOLATION:
        for name, module in modules.items():
            parked = _PARKED.get(name)
            if parked is not None and module in parked:
                parked.remove(module)
                if not parked:
                    del _PARKED[name]


def _lies_in(module: ModuleType, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).parent.is_relative_to(root)


def _current_root() -> Path | None:
    """The directory of the source whose code runs on this thread, if any."""
    roots: list[Path] = getattr(_importing, "roots", [])
    return roots[-1] if roots else None


def _existing_mode(path: Path) -> int | None:
    """The ``st_mode`` of ``path`` (symlinks followed), or ``None`` where ``Path.exists`` would
    say that it does not exist: one ``stat`` instead of ``exists``, ``is_dir`` and ``is_file``."""
    try:
        return os.stat(path).st_mode
    except OSError as error:
        if error.errno in _MISSING_ERRNOS or getattr(error, "winerror", None) in _MISSING_WINERRORS:
            return None
        raise
    except ValueError:
        return None


def _added_modules(before: dict[str, ModuleType], name: str) -> Iterable[str]:
    """The names added to ``sys.modules`` since ``before`` was copied from it.

    A photon file usually adds only its own module, which is answered without going over every
    module name (they grow with each photon loaded): ``sys.modules`` keeps insertion order, so
    when it is one longer, ends with ``name`` and, just before it, with the last entry of
    ``before`` (the same module), nothing else was added.
    """
    if len(sys.modules) == len(before) + 1 and before and name not in before:
        last_before = next(reversed(before))
        # One C call, so no other thread changes sys.modules while it runs.
        newest = tuple(itertools.islice(reversed(sys.modules), 2))
        if newest == (name, last_before) and sys.modules.get(last_before) is before[last_before]:
            return (name,)
    return sys.modules.keys() - before.keys()


class ImportRequest(NamedTuple):
    """One source for :func:`import_sources`: its path, its private module name, and the
    sub-modules to import with it (dotted, relative to the package, as entry points name them)."""

    path: Path
    name: str
    submodules: Sequence[str] = ()
    photon_directory: Path | None = None


def import_sources(
    requests: Sequence[ImportRequest],
    package_finder: PackageFinder,
    helper_finder: HelperFinder,
    recursive: bool = False,
    check: SourceCheck | None = None,
) -> list[ImportedSource | Exception]:
    """Import several sources in turn, as :func:`import_source`, in one worker-thread call.

    One hand-off to a worker thread per directory instead of one per file. A source that fails
    leaves its exception in its place and the others are imported all the same. While the
    sources are imported, their directories are open to helper imports. A ``KeyboardInterrupt``
    or ``SystemExit`` propagates after the sources imported so far are removed from
    ``sys.modules`` again. ``check`` is applied to each source as in :func:`import_source`.
    """
    results: list[ImportedSource | Exception] = []
    roots = list(dict.fromkeys(request.path.parent for request in requests))
    for root in roots:
        helper_finder.add_root(root)
    try:
        for path, name, submodules, photon_directory in requests:
            try:
                results.append(
                    import_source(
                        path, name, package_finder, recursive, check, submodules, photon_directory
                    )
                )
            except Exception as error:
                results.append(error)
    except BaseException:
        for result in results:
            if isinstance(result, ImportedSource):
                for module_name, module in result.modules.items():
                    if sys.modules.get(module_name) is module:
                        del sys.modules[module_name]
                package_finder.discard(result.module.__name__)
        raise
    finally:
        for root in roots:
            helper_finder.remove_root(root)
    return results


def _import_submodules(package_name: str, path: Path, files: dict[Path, bytes]) -> None:
    for file_path in files:
        parts = [
            part for part in file_path.relative_to(path).with_suffix("").parts if part != "__init__"
        ]
        if parts:
            importlib.import_module(".".join([package_name, *parts]))


def referenced_helpers(module: ModuleType) -> dict[str, ModuleType]:
    """Helper modules that ``module`` uses, directly or through other helpers."""
    found: dict[str, ModuleType] = {}
    pending = [module]
    while pending:
        current = pending.pop()
        for value in list(vars(current).values()):
            candidate: ModuleType | None
            if isinstance(value, ModuleType):
                candidate = value
            else:
                owner = getattr(value, "__module__", None)
                candidate = sys.modules.get(owner) if isinstance(owner, str) else None
            if (
                candidate is not None
                and candidate is not current
                and is_helper_module(candidate)
                and candidate.__name__ not in found
            ):
                found[candidate.__name__] = candidate
                pending.append(candidate)
    return found


def source_path(photon: str | os.PathLike[str]) -> Path:
    """The source a path names: a package's directory for its ``__init__.py``."""
    path = canonical_path(photon)
    return path.parent if path.name == "__init__.py" else path


def load_error(path: Path, error: BaseException) -> PhotonLoadError:
    if isinstance(error, PhotonLoadError):
        return error
    if isinstance(error, SyntaxError):
        where = f"line {error.lineno}"
        if error.filename != str(path):
            where = f"{error.filename}, {where}"
        return PhotonLoadError(f"syntax error in photon {path}, {where}: {error.msg}", path)
    return PhotonLoadError(f"importing photon {path} raised {type(error).__name__}: {error}", path)


def raise_load_error(path: Path, error: BaseException) -> NoReturn:
    """Raise ``error`` as a :class:`PhotonLoadError` of ``path``, chained to it (a load error
    is raised as it is, never as its own cause)."""
    if isinstance(error, PhotonLoadError):
        raise error
    raise load_error(path, error) from error
