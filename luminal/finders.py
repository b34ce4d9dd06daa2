"""Import hooks that compile photon package modules and helper modules from checked bytes.

:class:`PackageFinder` answers for the modules of imported photon (and helper) packages from the
snapshot read when the package was loaded; :class:`HelperFinder` takes over any other module
whose file lies in a directory of loaded photons, however it is imported. Both compile with
:class:`SourceLoader`, from the bytes that were read and checked, never from disk again. They are
meta path finders by their ``find_spec`` alone: ``importlib.abc`` would import
``importlib.resources`` and ``tempfile`` with ``luminal``. :func:`luminal.parking.own_helpers`
gives each photon directory its own helper names while its source runs.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import itertools
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import CodeType, ModuleType

from luminal.codecache import CodeCache
from luminal.reading import CompiledCheck, SourceCheck, checksum_files, read_source
from luminal.tree import display_path, is_installed_location, outermost_root, tree_holding

__all__ = [
    "HelperFinder",
    "PackageFinder",
    "SourceLoader",
    "helper_at",
    "helper_names",
    "is_helper_module",
    "recording_modules",
    "running_source_of",
    "spec_for",
    "spec_of_other_finders",
]

# Set while a HelperFinder asks the other finders, so that no HelperFinder answers meanwhile.
_delegating = threading.local()
# The directories of the sources whose code runs on this thread (innermost last).
_importing = threading.local()
# The names of every helper module (and helper package module) imported so far.
_HELPER_NAMES: set[str] = set()
# Numbers the runs of helper modules, so that of two copies of one file the newer is known.
_RUNS = itertools.count()


class SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a module from the bytes that were read and checked, never from disk again nor
    from cached bytecode. ``helper`` tells a helper module from a photon's own. A module it runs
    while :func:`recording_modules` records on the same thread is recorded there.

    ``run`` orders the runs of helper modules; ``set_aside`` says that the helper's file
    changed, so that no version going live puts this copy back
    (:func:`luminal.parking.give_back_helpers`); ``checksum`` is a helper's, of the bytes read.
    """

    run = -1
    set_aside = False
    names: frozenset[str] = frozenset()
    """The names the module's code refers to, among them every module it imports by name."""
    checksum: str | None = None

    def __init__(
        self,
        fullname: str,
        path: str,
        source: bytes,
        code_cache: CodeCache | None = None,
        helper: bool = False,
    ) -> None:
        super().__init__(fullname, path)
        self._source = source
        self._code_cache = code_cache
        self.helper = helper

    def exec_module(self, module: ModuleType) -> None:
        recorded: list[ModuleType] | None = getattr(_importing, "recorded", None)
        if recorded is not None:
            recorded.append(module)
        if self.helper:
            self.run = next(_RUNS)
        super().exec_module(module)

    def get_data(self, path: str) -> bytes:
        if path == self.path:
            return self._source
        return super().get_data(path)  # package data (importlib.resources), never compiled

    def get_code(self, fullname: str) -> CodeType:
        if self._code_cache is None:
            code = self.source_to_code(self._source, self.path)
        else:
            code = self._code_cache.code(
                self._source, self.path, lambda: self.source_to_code(self._source, self.path)
            )
        self.names = _names_in(code)
        return code


def _names_in(code: CodeType) -> frozenset[str]:
    """``co_names`` of ``code`` and of the functions and classes it defines: what
    ``from helpers import VALUE`` imports is there even if no module object is kept; a dotted
    name (``import nsdir.new as new``) counts with each of its parts."""
    names = set(code.co_names)
    pending = [code]
    while pending:
        nested = [constant for constant in pending.pop().co_consts if type(constant) is CodeType]
        for constant in nested:
            names.update(constant.co_names)
        pending += nested
    for dotted in [name for name in names if "." in name]:
        names.update(dotted.split("."))
    return frozenset(names)


def spec_for(
    name: str,
    location: Path,
    source: bytes,
    is_package: bool,
    code_cache: CodeCache | None = None,
    helper: bool = False,
) -> importlib.machinery.ModuleSpec | None:
    """The spec of a module compiled from ``source`` (through ``code_cache``, if given)."""
    init_file = location / "__init__.py" if is_package else location
    loader = SourceLoader(name, str(init_file), source, code_cache, helper)
    return importlib.util.spec_from_file_location(
        name,
        str(init_file),
        loader=loader,
        submodule_search_locations=[str(location)] if is_package else None,
    )


class PackageFinder:
    """Finds the sub-modules of imported photon and helper packages in their snapshot.

    A module of the package that is not in the snapshot (created after the package was read,
    a FIFO, an ignored name) is refused, never read from disk unchecked; compiled code in the
    package (bytecode or an extension module) is judged by ``check_compiled``.
    """

    def __init__(
        self, check_compiled: CompiledCheck | None = None, code_cache: CodeCache | None = None
    ) -> None:
        self._check_compiled = check_compiled
        self.code_cache = code_cache
        """Where every module of this loader (photon, package module, helper) is compiled."""
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

    def holds(self, fullname: str) -> bool:
        """Whether ``fullname`` is a module of a package this finder answers for."""
        with self._lock:
            return self._package_of(fullname) is not None

    def _package_of(self, fullname: str) -> str | None:
        """The innermost package with a snapshot holding ``fullname`` (the caller locks)."""
        package_name = fullname
        while "." in package_name:
            package_name = package_name.rpartition(".")[0]
            if package_name in self._snapshots:
                return package_name
        return None

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or "." not in fullname:
            return None
        with self._lock:
            package_name = self._package_of(fullname)
            if package_name is None:
                return None
            files = self._snapshots[package_name]
            helper = package_name in self._helper_packages
            if helper:
                _HELPER_NAMES.add(fullname)  # its tree's own, like the package (_own_helpers)
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            candidate = Path(directory, leaf)
            init_file = candidate / "__init__.py"
            module_file = candidate.with_name(leaf + ".py")
            if init_file in files:
                return spec_for(
                    fullname,
                    candidate,
                    files[init_file],
                    is_package=True,
                    code_cache=self.code_cache,
                    helper=helper,
                )
            if module_file in files:
                return spec_for(
                    fullname, module_file, files[module_file], False, self.code_cache, helper
                )
            if os.path.lexists(init_file) or os.path.lexists(module_file):
                raise ModuleNotFoundError(
                    f"refusing module {fullname}: {display_path(candidate)} is not part of "
                    f"package {package_name} as it was read and checked at load time "
                    "(reload the photon to include it)",
                    name=fullname,
                )
            if self._check_compiled is not None:
                for compiled in _compiled_files(candidate):
                    self._check_compiled(compiled)
        return None


class HelperFinder:
    """Finds the helper modules of loaded photons, however they are imported.

    A helper is a module (a ``.py`` file or a package) whose file lies in a directory that holds
    loaded photons (``roots``, :func:`~luminal.tree.tree_holding`) and that no snapshot answers
    for: a top-level module, or one of a namespace package (which has no file: not a helper).
    The finder sits *first* in ``sys.meta_path`` and asks the finders after it: what they find
    inside a root (through ``sys.path``, as the ``sys.path.insert(0, os.path.dirname(__file__))``
    idiom and ``importlib.import_module`` do) it takes over; what they find elsewhere is theirs
    (helpers never shadow the standard library or installed packages); a top-level name nobody
    finds it looks up in the roots (``import helpers``). A helper it takes over is read once,
    checked by ``check`` and compiled from the bytes read.
    """

    def __init__(
        self,
        package_finder: PackageFinder,
        check: SourceCheck | None = None,
        check_compiled: CompiledCheck | None = None,
    ) -> None:
        self._roots: Counter[Path] = Counter()
        self._lock = threading.Lock()
        self._package_finder = package_finder
        self._check = check
        self._check_compiled = check_compiled

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
        if getattr(_delegating, "active", False) or ("." in fullname) != (path is not None):
            return None
        roots = self.roots
        if not roots:
            return None
        if path is not None:
            if self._package_finder.holds(fullname):
                return None  # a module of a package read at load: its snapshot answers
            found = spec_of_other_finders(fullname, path)
            held = self._helper_location(found, roots) if found is not None else None
            return self._helper_spec(fullname, held[1], held[0]) if held is not None else None
        roots_running: list[Path] = getattr(_importing, "roots", [])
        current = roots_running[-1] if roots_running else None  # the source running here
        found = spec_of_other_finders(fullname)
        if found is not None:
            held = self._helper_location(found, roots)
            if held is None:
                return None  # not a helper: the finder that found it answers
            root, source = held
            if current is None or root == current or not helper_at(current, fullname):
                return self._helper_spec(fullname, source, root)
        if current is not None:
            if current not in roots:
                return None  # another loader's source imports: that loader's finder answers
            tree = (getattr(_importing, "trees", None) or [current])[-1]
            # Another tree's helper is that tree's: plain Python would not find it either.
            roots = [current, *(r for r in roots if r != current and r.is_relative_to(tree))]
        for root in roots:
            location = helper_at(root, fullname) if not is_installed_location(root) else None
            if location is not None:
                return self._helper_spec(fullname, location, root)
        return None

    def _helper_location(
        self, found: importlib.machinery.ModuleSpec, roots: Sequence[Path]
    ) -> tuple[Path, Path] | None:
        """The root holding the helper source another finder ``found``, and its path from there;
        compiled code it found in a root is judged by ``check_compiled`` (and left to it)."""
        location = _source_location(found)
        if location is not None:
            return tree_holding(location, roots)
        compiled = _compiled_origin(found)
        if self._check_compiled and compiled and tree_holding(compiled, roots):
            self._check_compiled(compiled)
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
        checksum = checksum_files(files, location)
        if self._check is not None:
            absolute = Path(os.path.abspath(location))
            directory = outermost_root(root, [*self.roots, *getattr(_importing, "trees", [])])
            self._check(absolute, directory, files, checksum)
        if is_package:
            self._package_finder.add_helper(name, files)
        _HELPER_NAMES.add(name)  # one atomic set operation
        code_cache = self._package_finder.code_cache
        spec = spec_for(name, location, files[init_file], is_package, code_cache, helper=True)
        if spec is not None and isinstance(spec.loader, SourceLoader):
            spec.loader.checksum = checksum
        return spec


def helper_at(root: Path, name: str) -> Path | None:
    """The helper package or module called ``name`` in ``root``, if there is one."""
    if os.path.lexists(root / name / "__init__.py"):
        return root / name
    if os.path.lexists(root / f"{name}.py"):
        return root / f"{name}.py"
    return None


def spec_of_other_finders(
    fullname: str, path: Sequence[str] | None = None
) -> importlib.machinery.ModuleSpec | None:
    """What ``sys.meta_path`` finds for a module without Luminal's finders, as an import would,
    loading nothing: what is installed, not the photons already loaded. ``path`` is the
    parent package's ``__path__`` for a sub-module."""
    previous = getattr(_delegating, "active", False)
    _delegating.active = True
    try:
        for finder in list(sys.meta_path):
            if isinstance(finder, (HelperFinder, PackageFinder)):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find_spec(fullname, path)
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


def _compiled_origin(spec: importlib.machinery.ModuleSpec) -> Path | None:
    """The file a spec would load that is not Python source (bytecode, an extension module)."""
    if not spec.has_location or spec.origin is None or spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _compiled_files(candidate: Path) -> list[Path]:
    """The bytecode or extension modules that the standard finders would load for
    ``candidate`` (a module's path without suffix), outside installation directories."""
    if is_installed_location(candidate):
        return []
    suffixes = [*importlib.machinery.EXTENSION_SUFFIXES, *importlib.machinery.BYTECODE_SUFFIXES]
    return [
        candidate.with_name(candidate.name + suffix)
        for suffix in suffixes
        if os.path.lexists(candidate.with_name(candidate.name + suffix))
    ]


def is_helper_module(module: ModuleType) -> bool:
    """Whether ``module`` is a helper or a module of a helper package (a photon's own module,
    from a source of the same directory, is not)."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return isinstance(loader, SourceLoader) and loader.helper


class recording_modules:  # noqa: N801 (a context manager used as a function would be)
    """The modules that :class:`SourceLoader` runs on this thread while the block runs (a
    source's import: its package modules and the helpers it brings in, and nothing that other
    threads import meanwhile). A class rather than a generator: one records each import."""

    __slots__ = ("previous",)

    def __enter__(self) -> list[ModuleType]:
        self.previous: list[ModuleType] | None = getattr(_importing, "recorded", None)
        recorded: list[ModuleType] = []
        _importing.recorded = recorded
        return recorded

    def __exit__(self, *exc_info: object) -> None:
        _importing.recorded = self.previous


@contextlib.contextmanager
def running_source_of(root: Path, tree: Path | None = None) -> Iterator[None]:
    """Helper lookups on this thread prefer ``root``, and judge against ``tree`` (the photon
    directory), while the block runs (a source of ``root``, loaded from ``tree``, runs)."""
    _importing.roots = [*getattr(_importing, "roots", []), root]
    _importing.trees = [*getattr(_importing, "trees", []), tree or root]
    try:
        yield
    finally:
        _importing.roots, _importing.trees = _importing.roots[:-1], _importing.trees[:-1]


def helper_names() -> list[str]:
    """The names of every helper module (and helper package module) imported so far."""
    return list(_HELPER_NAMES)
