"""Importing photon sources for one loader: its finders, import-thread batches, ``sys.modules``.

An :class:`Importer` owns a loader's private module namespace and its two finders. Every import
of a photon source goes through :meth:`Importer.import_batch` (one call on an import thread,
:mod:`luminal.importthreads`, for any number of sources), and every module a loader lets go
of leaves ``sys.modules`` through :func:`drop_modules` or :func:`stash_modules`; a reload that
fails or is cancelled puts the stashed ones back with :func:`restore_modules`, and one that
succeeds gives its helpers their names back with :func:`reclaim_names`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from luminal.codecache import CodeCache
from luminal.finders import HelperFinder, PackageFinder, is_helper_module
from luminal.importthreads import ImportThreads
from luminal.parking import give_back_helpers, unpark_helpers
from luminal.reading import SourceCheck
from luminal.sources import (
    FailedImport,
    ImportedSource,
    ImportRequest,
    drop_modules,
    import_sources,
    module_name_for,
)
from luminal.trust import TrustPolicy

__all__ = [
    "Importer",
    "drop_modules",
    "reclaim_names",
    "restore_modules",
    "stash_modules",
]

T = TypeVar("T")

_loader_numbers = itertools.count()


class Importer:
    """A loader's import machinery: the namespace of its module names and its finders.

    The finders sit in ``sys.meta_path`` while a source is loaded or importing; ``has_sources``
    tells whether any is loaded, ``helpers_in_use`` the ids of the helper modules that loaded
    sources hold (those stay in ``sys.modules`` when an import that ran them is dropped).
    """

    def __init__(
        self,
        trust: TrustPolicy | None,
        has_sources: Callable[[], bool],
        helpers_in_use: Callable[[], Collection[int]],
        code_cache: Path | None = None,
    ) -> None:
        self.namespace = f"luminal_photon{next(_loader_numbers)}"
        self.check: SourceCheck | None = trust.check_source if trust is not None else None
        check_compiled = trust.check_compiled if trust is not None else None
        cache = CodeCache(code_cache, strict=trust is not None) if code_cache is not None else None
        self.package_finder = PackageFinder(check_compiled, cache)
        self.helper_finder = HelperFinder(self.package_finder, self.check, check_compiled)
        self._has_sources = has_sources
        self._helpers_in_use = helpers_in_use
        self._in_flight = 0
        self._abandoned = 0  # batches whose caller was cancelled, their thread still running
        self._after_abandoned: list[Callable[[], None]] = []
        self._read: dict[Path, dict[Path, bytes]] = {}
        self._threads = ImportThreads()

    def close(self) -> None:
        """Let the import threads end (a busy one once its import is done)."""
        self._threads.close()

    def read_already(self, path: Path, files: dict[Path, bytes]) -> None:
        """The bytes of ``path`` just read (and hashed) to decide to reload it: its next import
        uses them instead of reading the source again."""
        self._read[path] = files

    def forget_read(self) -> None:
        """Drop the bytes that no import used (the decision they were read for is done)."""
        self._read.clear()

    def module_name(self, path: Path) -> str:
        return module_name_for(path, self.namespace)

    def install_finders(self) -> None:
        for finder in (self.helper_finder, self.package_finder):
            if finder not in sys.meta_path:
                sys.meta_path.insert(0, finder)

    def remove_finders_when_idle(self) -> None:
        """Take the finders out of ``sys.meta_path`` once no source is loaded or importing."""
        if self._has_sources() or self._in_flight:
            return
        for finder in (self.package_finder, self.helper_finder):
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)

    def open_root(self, root: Path, package_name: str, package_files: dict[Path, bytes]) -> None:
        """Let a committed source's directory and package modules be imported."""
        self.install_finders()
        self.helper_finder.add_root(root)
        self.add_package(package_name, package_files)

    def add_package(self, package_name: str, package_files: dict[Path, bytes]) -> None:
        if package_files:
            self.package_finder.add(package_name, package_files)

    def close_root(self, root: Path, package_name: str) -> None:
        self.helper_finder.remove_root(root)
        self.package_finder.discard(package_name)

    async def import_batch(
        self,
        paths: Sequence[Path],
        recursive: bool,
        submodules: Mapping[Path, Sequence[str]] | None = None,
        directories: Mapping[Path, Path] | None = None,
    ) -> dict[Path, ImportedSource | Exception]:
        """Import sources on one import thread; a failure is kept in its place.

        ``submodules`` names, per source, the modules to import besides its top module (those
        its entry points name); ``directories`` the photon directory the trust policy judges
        each source against.
        """
        if not paths:
            return {}
        requests = self._requests(paths, submodules or {}, directories or {})

        def run_imports() -> list[ImportedSource | FailedImport]:
            return import_sources(
                requests, self.package_finder, self.helper_finder, recursive, self.check
            )

        state = {"abandoned": False, "counted": False}

        def abandon(outcomes: list[ImportedSource | FailedImport] | None) -> None:
            state["abandoned"] = True
            self._abandon(outcomes, counted=state["counted"])

        self.install_finders()
        self._in_flight += 1
        try:
            outcomes = await self._threads.run(run_imports, abandon)
            return {
                path: self._settled(outcome) for path, outcome in zip(paths, outcomes, strict=True)
            }
        except asyncio.CancelledError:
            if not state["abandoned"]:  # its thread still runs: abandon comes later
                state["counted"] = True
                self._abandoned += 1
            raise
        finally:
            self._in_flight -= 1
            self.remove_finders_when_idle()

    def _requests(
        self,
        paths: Sequence[Path],
        submodules: Mapping[Path, Sequence[str]],
        directories: Mapping[Path, Path],
    ) -> list[ImportRequest]:
        return [
            ImportRequest(
                path,
                self.module_name(path),
                submodules.get(path, ()),
                directories.get(path),
                self._read.pop(path, None),
            )
            for path in paths
        ]

    def _settled(self, outcome: ImportedSource | FailedImport) -> ImportedSource | Exception:
        """A source imported, or the error of one that failed once the helpers its import ran
        have left ``sys.modules``: those that a loaded source took meanwhile stay, and an
        import still under way that took one puts it back when it goes live (its tree's
        photons share one copy)."""
        if isinstance(outcome, ImportedSource):
            return outcome
        drop_modules(outcome.helpers, keep=self._helpers_in_use())
        return outcome.error

    def _abandon(self, outcomes: list[ImportedSource | FailedImport] | None, counted: bool) -> None:
        """Forget the imports of a batch whose caller stopped waiting (it was cancelled): their
        modules, and the helpers they ran or took that no loaded source holds."""
        for outcome in outcomes or ():
            if isinstance(outcome, ImportedSource):
                self.package_finder.discard(outcome.module.__name__)
                drop_modules(outcome.modules)
                drop_modules(outcome.helpers, keep=self._helpers_in_use())
            else:
                self._settled(outcome)
        self._abandoned -= counted
        if not self._abandoned:
            callbacks, self._after_abandoned = self._after_abandoned, []
            for callback in callbacks:
                callback()

    def after_abandoned(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once no import thread whose caller was cancelled runs (now, if
        none does): what it imported has left ``sys.modules`` by then."""
        if self._abandoned:
            self._after_abandoned.append(callback)
        else:
            callback()

    async def import_one(
        self, path: Path, recursive: bool, submodules: Sequence[str], directory: Path | None
    ) -> ImportedSource:
        """Import one source (a batch of one) and raise what it raised."""
        if not os.path.lexists(path):
            raise ModuleNotFoundError(f"no photon source at {path}", path=str(path))
        directories = {path: directory} if directory is not None else None
        outcome = (await self.import_batch([path], recursive, {path: submodules}, directories))[
            path
        ]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def stash_modules(
    modules: Iterable[Mapping[str, ModuleType]], in_place: Collection[str] = ()
) -> dict[str, ModuleType]:
    """Take modules out of ``sys.modules`` so a reload imports them afresh; return them, to be
    put back with :func:`restore_modules` if the reload fails.

    Those named in ``in_place`` (the sources' own modules, which the reload assigns its new
    version over) stay where they are: a key deleted and added again would take a new slot of
    ``sys.modules`` each time, and the dictionary grows when its slots run out. Helpers that
    another directory's source parked are taken out of parking (and put back there if the
    reload fails).
    """
    stashed: dict[str, ModuleType] = {}
    for group in modules:
        for name, module in group.items():
            if sys.modules.get(name) is module:
                stashed[name] = module if name in in_place else sys.modules.pop(name)
        stashed.update(unpark_helpers(group))
    return stashed


def restore_modules(modules: Iterable[Mapping[str, ModuleType]]) -> None:
    """Put back the modules of a reload that failed or was cancelled, each where its name is
    free: a name that another source's import took meanwhile (a photon of the same tree
    reloaded at the same time, importing the helper afresh) keeps that source's module. A
    helper whose name another directory's helper holds is parked, as it was.

    The reload's own new modules have left ``sys.modules`` by then, so a name that is taken
    was taken by someone else.
    """
    for group in modules:
        give_back_helpers(group, going_live=False)
        for name, module in group.items():
            if not is_helper_module(module):
                sys.modules.setdefault(name, module)


def reclaim_names(modules: Mapping[str, ModuleType]) -> None:
    """Give the helpers of a version that goes live (a load or a reload commits) their names
    back where another import let go of them meanwhile: one of the tree that ran the helper
    and failed, was cancelled or unloaded while this version's import took it from
    ``sys.modules`` (it is free now), or an older copy of the same file that a failed reload
    put back. The name belongs to the copy whose import ran last; a helper set aside because
    its file changed stays out."""
    give_back_helpers(modules, going_live=True)
