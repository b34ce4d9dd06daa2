"""Photon sources: private module names and importing a source straight from its checked bytes.

A photon source is a ``.py`` file or a package directory. It is imported under a private module
name so that two files called ``greeter.py`` never clash, and always compiled from the bytes that
were read and hashed (:mod:`luminal.reading`): Python's timestamp ``.pyc`` check (whole seconds
and size) would run stale code after a same-size rewrite within one second. A :data:`SourceCheck`
judges those bytes before any of them runs; package modules and helpers are compiled from checked
bytes too (:mod:`luminal.finders`).
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import itertools
import os
import re
import stat
import sys
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, NoReturn

from luminal.errors import PhotonLoadError, PhotonTrustError
from luminal.finders import (
    HelperFinder,
    PackageFinder,
    is_helper_module,
    recording_modules,
    spec_for,
)
from luminal.guard import photon_code
from luminal.helperuse import referenced_helpers
from luminal.ownership import threads_started_since
from luminal.parking import (
    own_helpers,
    release_helpers,
    set_aside_helpers,
    unbind_from_namespace,
)
from luminal.reading import (
    SourceCheck,
    canonical_path,
    checksum_files,
    read_source,
)
from luminal.tree import display_path, not_a_source_reason

__all__ = [
    "FailedImport",
    "ImportRequest",
    "ImportedSource",
    "drop_modules",
    "import_source",
    "import_sources",
    "load_error",
    "module_name_for",
    "raise_load_error",
    "source_path",
]

# What pathlib's exists() and is_dir() take for "not there" (ENOENT, ENOTDIR, EBADF, ELOOP;
# on Windows not ready, invalid name, unresolvable name).
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
_MISSING_WINERRORS = frozenset({21, 123, 1921})
# Any character but a letter or digit (str.isalnum), and "_", which becomes "_" all the same.
_NOT_ALPHANUMERIC = re.compile(r"\W")


def module_name_for(path: Path, namespace: str) -> str:
    """A private, stable module name for the source at ``path`` within one loader: its file
    name without ``.py`` (a package's directory name as it is), made an identifier."""
    text = os.fspath(path)
    name = os.path.basename(text)
    stem = name[:-3] if name.endswith(".py") else name
    safe_stem = _NOT_ALPHANUMERIC.sub("_", display_path(stem))
    path_digest = hashlib.sha1(os.fsencode(text), usedforsecurity=False).hexdigest()[:10]
    return f"{namespace}_{safe_stem}_{path_digest}"


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
    threads: list[threading.Thread] = field(default_factory=list)
    """Plain threads that appeared while the source's module ran (it started them)."""
    root: Path | None = None
    """The directory holding the source, as the import used it (one object per directory)."""


def import_source(
    request: ImportRequest,
    package_finder: PackageFinder,
    recursive: bool = False,
    check: SourceCheck | None = None,
    *,
    ran_helpers: dict[str, ModuleType],
) -> ImportedSource:
    """Import the source ``request`` names and return it with all it brought in.

    For a package, ``recursive`` also imports every sub-module and the request's
    ``submodules`` just those. Runs in a worker thread, within
    :func:`~luminal.parking.own_helpers` of the source's directory; on failure its own modules
    leave ``sys.modules``, the helpers it ran are put in ``ran_helpers`` (another import of the
    tree may have taken them meanwhile) and the exception propagates. ``check`` judges the
    bytes read (against the request's ``photon_directory``) before any of them runs.
    """
    path, name, submodules, photon_directory, files = request
    is_package, files, checksum = _checked_source(path, check, photon_directory, files)
    init_file = path / "__init__.py" if is_package else path
    spec = spec_for(name, path, files[init_file], is_package, package_finder.code_cache)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module spec for {path}", path=str(path))
    try:
        return _execute(
            spec,
            path,
            is_package,
            files,
            checksum,
            package_finder,
            recursive,
            submodules,
            ran_helpers,
        )
    except PhotonTrustError as error:
        if error.path == str(path):
            raise
        raise PhotonTrustError(
            f"refusing {display_path(path)}: it imports a refused helper: {error}",
            str(path),
            error.rule,
        ) from error


def _checked_source(
    path: Path,
    check: SourceCheck | None,
    photon_directory: Path | None,
    files: dict[Path, bytes] | None,
) -> tuple[bool, dict[Path, bytes], str]:
    """Whether the source at ``path`` is a package, its bytes (read unless ``files`` has them)
    and their checksum, once ``check`` has judged them."""
    mode = _existing_mode(path)
    if mode is None:
        raise ModuleNotFoundError(f"no photon source at {display_path(path)}", path=str(path))
    reason = not_a_source_reason(path, mode)
    if reason is not None:
        raise PhotonLoadError(f"cannot load {display_path(path)}: {reason}", path)
    is_package = stat.S_ISDIR(mode)
    if files is None:
        files = read_source(path, mode)
    init_file = path / "__init__.py" if is_package else path
    if init_file not in files:
        raise ModuleNotFoundError(f"{path} is not a Python module or package", path=str(path))
    checksum = checksum_files(files, path)
    if check is not None:
        check(path, photon_directory, files, checksum)
    return is_package, files, checksum


def _execute(
    spec: importlib.machinery.ModuleSpec,
    path: Path,
    is_package: bool,
    files: dict[Path, bytes],
    checksum: str,
    package_finder: PackageFinder,
    recursive: bool,
    submodules: Sequence[str],
    ran_helpers: dict[str, ModuleType],
) -> ImportedSource:
    """Run a checked source's module and collect what it brought into ``sys.modules``; on
    failure, drop its own modules and leave the helpers it ran in ``ran_helpers``."""
    assert spec.loader is not None
    name = spec.name
    module = importlib.util.module_from_spec(spec)
    if is_package:
        package_finder.add(name, files)
    newest = _newest_module(name)  # what the import adds comes after it
    before = len(sys.modules)
    sys.modules[name] = module  # over a previous version: a new key would grow sys.modules
    with recording_modules() as recorded:
        try:
            with photon_code():
                spec.loader.exec_module(module)
                if is_package and recursive:
                    _import_submodules(name, path, files)
                for submodule in submodules:
                    importlib.import_module(f"{name}.{submodule}")
        except BaseException:
            modules, helpers = _brought_in(name, recorded, (newest, before))
            drop_modules(modules)
            ran_helpers.update(helpers)
            package_finder.discard(name)
            raise
    imported = ImportedSource(path, is_package, module, checksum, files)
    imported.modules, imported.helpers = _brought_in(name, recorded, (newest, before))
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


def _brought_in(
    name: str, recorded: Sequence[ModuleType], mark: tuple[str, int]
) -> tuple[dict[str, ModuleType], dict[str, ModuleType]]:
    """The modules of source ``name`` and the helpers its import brought into ``sys.modules``.

    Its modules are those under its private name (found among the names added after
    ``mark``, the last one before the import and how many there were, so compiled package
    modules count too); its helpers are those that its import ran (``recorded`` on its
    thread), never what other threads imported meanwhile.
    """
    prefix = name + "."
    modules: dict[str, ModuleType] = {}
    if (own := sys.modules.get(name)) is not None:
        modules[name] = own
    added = _added_after(*mark)
    for added_name in added if added is not None else list(sys.modules):
        if added_name.startswith(prefix) and (module := sys.modules.get(added_name)) is not None:
            modules[added_name] = module
    helpers: dict[str, ModuleType] = {}
    for module in recorded:
        module_name = getattr(module.__spec__, "name", None)
        if not isinstance(module_name, str) or sys.modules.get(module_name) is not module:
            continue  # taken out or replaced since
        if module_name == name or module_name.startswith(prefix):
            modules[module_name] = module
        elif is_helper_module(module):
            helpers[module_name] = module
    return modules, helpers


def _newest_module(default: str) -> str:
    """The name last put in ``sys.modules`` (``default`` if it is empty)."""
    while True:
        try:
            return next(reversed(sys.modules), default)
        except RuntimeError:  # another thread changed sys.modules between the two calls
            continue


def _added_after(name: str, count: int) -> list[str] | None:
    """The names put in ``sys.modules`` after ``name`` (its keys keep insertion order), newest
    first, when ``sys.modules`` held ``count`` names then; ``None`` if ``name`` is no longer
    there, or if the names after it do not account for all that came since: ``name`` was
    taken out and put back meanwhile (another thread importing it again, say), so some added
    names are before it now. Only the newest names are looked at, so the cost does not grow
    with the modules loaded before."""
    while True:
        added: list[str] = []
        try:
            for key in reversed(sys.modules):
                if key == name:
                    return added if len(added) == len(sys.modules) - count else None
                added.append(key)
            return None
        except RuntimeError:  # another thread changed sys.modules meanwhile: look again
            continue


class FailedImport(NamedTuple):
    """A source whose import raised ``error``, with the helpers its import ran: still in
    ``sys.modules``, since another import of the tree may have taken them meanwhile."""

    error: Exception
    helpers: dict[str, ModuleType]


class ImportRequest(NamedTuple):
    """One source for :func:`import_sources`: its path, its private module name, and the
    sub-modules to import with it (dotted, relative to the package, as entry points name them)."""

    path: Path
    name: str
    submodules: Sequence[str] = ()
    photon_directory: Path | None = None
    files: dict[Path, bytes] | None = None
    """The source's bytes, if they were just read to decide on this import: not read again."""


def import_sources(
    requests: Sequence[ImportRequest],
    package_finder: PackageFinder,
    helper_finder: HelperFinder,
    recursive: bool = False,
    check: SourceCheck | None = None,
) -> list[ImportedSource | FailedImport]:
    """Import several sources in turn, as :func:`import_source`, in one worker-thread call.

    One hand-off to a worker thread per directory instead of one per file; a source that fails
    leaves a :class:`FailedImport` in its place and the others are imported all the same. The
    sources' directories are open to helper imports meanwhile, and the sources of one directory
    (in a row) own its helpers (:func:`~luminal.parking.own_helpers`) once for all of them.
    A ``KeyboardInterrupt`` or ``SystemExit`` propagates once what the batch imported is out of
    ``sys.modules`` again.
    """
    results: list[ImportedSource | FailedImport] = []
    ran_helpers: dict[str, ModuleType] = {}
    parents = _parents([request.path for request in requests])
    for root in set(parents):
        helper_finder.add_root(root)
    threads_before = set(threading.enumerate())
    try:
        for (root, photon_directory), group in itertools.groupby(
            zip(requests, parents, strict=True),
            key=lambda pair: (pair[1], pair[0].photon_directory),
        ):
            with own_helpers(root, photon_directory):  # once for a directory's sources
                for request, _ in group:
                    ran_helpers = {}
                    try:
                        imported = import_source(
                            request, package_finder, recursive, check, ran_helpers=ran_helpers
                        )
                        imported.threads = threads_started_since(threads_before)
                        threads_before.update(imported.threads)
                        imported.root = root
                        results.append(imported)
                    except Exception as error:
                        results.append(FailedImport(error, ran_helpers))
                        threads_before = set(threading.enumerate())
    except BaseException:
        _drop_imported(results, ran_helpers, package_finder)
        raise
    finally:
        for root in set(parents):
            helper_finder.remove_root(root)
    return results


def _drop_imported(
    results: Sequence[ImportedSource | FailedImport],
    ran_helpers: dict[str, ModuleType],
    package_finder: PackageFinder,
) -> None:
    """Drop what a batch imported before it was interrupted (``ran_helpers``: the helpers that
    the interrupted source ran)."""
    drop_modules(ran_helpers)
    for result in results:
        if isinstance(result, ImportedSource):
            drop_modules(result.modules)
            package_finder.discard(result.module.__name__)
        else:
            drop_modules(result.helpers)


def _parents(paths: Sequence[Path]) -> list[Path]:
    """Each path's ``parent``, one object per directory: it keys the finders' and turns'
    tables, and a ``Path`` computes its hash once (and is found by identity after that)."""
    by_name: dict[str, Path] = {}
    parents = []
    for path in paths:
        directory = os.path.dirname(os.fspath(path))
        parent = by_name.get(directory)
        if parent is None:
            parent = by_name[directory] = path.parent
        parents.append(parent)
    return parents


def _import_submodules(package_name: str, path: Path, files: dict[Path, bytes]) -> None:
    for file_path in files:
        parts = [
            part for part in file_path.relative_to(path).with_suffix("").parts if part != "__init__"
        ]
        if parts:
            importlib.import_module(".".join([package_name, *parts]))


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


def drop_modules(
    modules: Mapping[str, ModuleType], keep: Collection[int] = (), set_aside: bool = False
) -> None:
    """Take modules out of ``sys.modules`` (those whose ``id`` is in ``keep`` stay).

    This is the one place a loader lets go of modules it imported. A helper dropped here goes
    back when another source holding it goes live (:func:`~luminal.parking.give_back_helpers`),
    unless it is ``set_aside``: its file changed, and the next import runs it anew.
    """
    dropped = {name: module for name, module in modules.items() if id(module) not in keep}
    for name, module in dropped.items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
        if not set_aside:  # photons still run a set-aside helper, reading it through there
            unbind_from_namespace(name, module)
    release_helpers(dropped)
    if set_aside:
        set_aside_helpers(dropped.values())
    _clear_class_caches()


def _clear_class_caches() -> None:
    """Let go of what the standard library caches of photon classes.

    ``inspect.getattr_static``, which pluggy calls on every photon, caches class MROs:
    CPython 3.12.0-3.12.3 keep up to 128 of them alive (CPython gh-118013); later versions keep
    up to 128 entries of weak references to classes long gone, under another name.
    """
    for name in ("_shadowed_dict_from_mro_tuple", "_shadowed_dict_from_weakref_mro_tuple"):
        cache_clear = getattr(getattr(inspect, name, None), "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
