"""Photon sources: canonical paths, SHA-512 checksums and importing straight from source.

A photon source is a ``.py`` file or a package directory. It is imported under a private module
name so that two files called ``greeter.py`` never clash, and always compiled from the bytes that
were hashed: Python's timestamp ``.pyc`` check (whole seconds and size) would run stale code after
a same-size rewrite within one second.

Helper modules that photons import by their plain name (``import helpers`` next to the photon) are
found by :class:`HelperFinder`, which sits *after* the standard finders so it never shadows the
standard library or installed packages.
"""

from __future__ import annotations

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import NamedTuple, NoReturn

from luminal.errors import PhotonLoadError

__all__ = [
    "HelperFinder",
    "ImportRequest",
    "ImportedSource",
    "SourceLoader",
    "canonical_path",
    "checksum_files",
    "import_source",
    "import_sources",
    "is_project_directory",
    "iter_source_files",
    "load_error",
    "module_name_for",
    "raise_load_error",
    "source_path",
]

CHUNK_SIZE = 2**20
# What pathlib's exists() and is_dir() take for "not there" (ENOENT, ENOTDIR, EBADF, ELOOP;
# on Windows not ready, invalid name, unresolvable name).
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
_MISSING_WINERRORS = frozenset({21, 123, 1921})
# Any character but a letter or digit (str.isalnum), and "_", which becomes "_" all the same.
_NOT_ALPHANUMERIC = re.compile(r"\W")
IGNORED_DIRECTORIES = frozenset({"__pycache__"})


def canonical_path(path: str | os.PathLike[str]) -> Path:
    """The one spelling of ``path``: absolute, symlinks and ``..`` resolved, no trailing slash."""
    return Path(os.path.realpath(os.fspath(path)))


def is_ignored_name(name: str) -> bool:
    """Hidden, editor-temporary and cache names that never hold a photon."""
    return (
        name.startswith((".", "#", "~"))
        or name.endswith(("~", ".swp", ".swx", ".tmp"))
        or name in IGNORED_DIRECTORIES
    )


def iter_source_files(path: Path) -> Iterator[Path]:
    """The ``.py`` files that make up a source: the file itself, or a package's files, sorted."""
    if path.is_file():
        yield path
        return
    for root, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(name for name in dirnames if not is_ignored_name(name))
        for filename in sorted(filenames):
            if filename.endswith(".py") and not is_ignored_name(filename):
                yield Path(root, filename)


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
    safe_stem = _NOT_ALPHANUMERIC.sub("_", stem)
    path_digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{namespace}_{safe_stem}_{path_digest}"


class SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module from a given snapshot of its source, never from cached bytecode."""

    def __init__(self, fullname: str, path: str, source: bytes | None = None) -> None:
        super().__init__(fullname, path)
        self._source = source

    def get_data(self, path: str) -> bytes:
        if self._source is not None and path == self.path:
            return self._source
        return super().get_data(path)

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        return self.source_to_code(source, self.path)


def _spec_for(
    name: str, location: Path, source: bytes | None, is_package: bool
) -> importlib.machinery.ModuleSpec | None:
    init_file = location / "__init__.py" if is_package else location
    loader = SourceLoader(name, str(init_file), source)
    return importlib.util.spec_from_file_location(
        name,
        str(init_file),
        loader=loader,
        submodule_search_locations=[str(location)] if is_package else None,
    )


class PackageFinder(importlib.abc.MetaPathFinder):
    """Finds the sub-modules of imported photon packages, compiling them from their snapshot."""

    def __init__(self, namespace: str) -> None:
        self._prefix = namespace + "_"
        self._snapshots: dict[str, dict[Path, bytes]] = {}
        self._lock = threading.Lock()

    def add(self, package_name: str, files: dict[Path, bytes]) -> None:
        with self._lock:
            self._snapshots[package_name] = files

    def discard(self, package_name: str) -> None:
        with self._lock:
            self._snapshots.pop(package_name, None)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self._prefix) or path is None:
            return None
        package_name = fullname.partition(".")[0]
        with self._lock:
            files = self._snapshots.get(package_name)
        if files is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            candidate = Path(directory, leaf)
            if (candidate / "__init__.py").is_file():
                return _spec_for(
                    fullname, candidate, files.get(candidate / "__init__.py"), is_package=True
                )
            module_file = candidate.with_name(leaf + ".py")
            if module_file.is_file():
                return _spec_for(fullname, module_file, files.get(module_file), is_package=False)
        return None


class HelperFinder(importlib.abc.MetaPathFinder):
    """Finds top-level helper modules that live next to loaded photons.

    It is appended to ``sys.meta_path``, after the standard finders, and only answers for
    directories that currently hold loaded photons (``roots``).
    """

    def __init__(self) -> None:
        self._roots: Counter[Path] = Counter()
        self._lock = threading.Lock()

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
        if path is not None or "." in fullname:
            return None
        for root in self.roots:
            package_dir = root / fullname
            if (package_dir / "__init__.py").is_file():
                return _spec_for(fullname, package_dir, None, is_package=True)
            module_file = root / (fullname + ".py")
            if module_file.is_file():
                return _spec_for(fullname, module_file, None, is_package=False)
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
    return {file_path: file_path.read_bytes() for file_path in iter_source_files(path)}


def import_source(
    path: Path,
    name: str,
    package_finder: PackageFinder,
    recursive: bool = False,
    verify: Callable[[Path, str], None] | None = None,
    submodules: Sequence[str] = (),
) -> ImportedSource:
    """Import the source at ``path`` as module ``name`` and return it with all it brought in.

    For a package, ``recursive`` also imports every sub-module, so photons defined below
    ``__init__`` are found; ``submodules`` (dotted, relative to the package) imports just those,
    as entry points name them. Runs in a worker thread. On failure every module it added to
    ``sys.modules`` is removed again and the exception propagates. ``verify(path, checksum)``
    runs on the bytes read, before any of them is executed, and may refuse them by raising.
    """
    mode = _existing_mode(path)
    if mode is None:
        raise ModuleNotFoundError(f"no photon source at {path}", path=str(path))
    is_package = stat.S_ISDIR(mode)
    files = {path: path.read_bytes()} if stat.S_ISREG(mode) else read_source(path)
    init_file = path / "__init__.py" if is_package else path
    if init_file not in files:
        raise ModuleNotFoundError(f"{path} is not a Python module or package", path=str(path))
    checksum = checksum_files(files, path)
    if verify is not None:
        verify(path, checksum)
    spec = _spec_for(name, path, files[init_file], is_package)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module spec for {path}", path=str(path))
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


def import_sources(
    requests: Sequence[ImportRequest],
    package_finder: PackageFinder,
    helper_finder: HelperFinder,
    recursive: bool = False,
    verify: Callable[[Path, str], None] | None = None,
) -> list[ImportedSource | Exception]:
    """Import several sources in turn, as :func:`import_source`, in one worker-thread call.

    One hand-off to a worker thread per directory instead of one per file. A source that fails
    leaves its exception in its place and the others are imported all the same. While the
    sources are imported, their directories are open to helper imports. A ``KeyboardInterrupt``
    or ``SystemExit`` propagates after the sources imported so far are removed from
    ``sys.modules`` again. ``verify`` is applied to each source as in :func:`import_source`.
    """
    results: list[ImportedSource | Exception] = []
    roots = list(dict.fromkeys(request.path.parent for request in requests))
    for root in roots:
        helper_finder.add_root(root)
    try:
        for path, name, submodules in requests:
            try:
                results.append(
                    import_source(path, name, package_finder, recursive, verify, submodules)
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


def is_project_directory(path: Path) -> bool:
    """A distribution's project root: its photons are meant to be installed, not walked."""
    return (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()


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
