"""The operations of one loader: load, unload and reload sources, under their locks.

:class:`Operations` is built from the parts it drives (the registry, the staging of sources, the
reporter, the settings), never from the loader. Each operation takes its sources' locks, changes
the registry, and sends its events and reports once the locks are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import pluggy

from luminal.dependencies import dependency_order
from luminal.errors import (
    DirectoryLoadError,
    LoaderClosedError,
    PhotonLoadError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
)
from luminal.importing import Importer
from luminal.managers.dependents import Dependents
from luminal.managers.handler import Handler, HandlerState
from luminal.managers.registry import PhotonRef, PhotonSource, Registry
from luminal.managers.reload import Reload, ReloadTarget
from luminal.managers.reporting import Reporter, Settings
from luminal.managers.staging import Staging
from luminal.reading import canonical_path
from luminal.sources import ImportedSource, raise_load_error
from luminal.tree import display_path, select_sources

__all__ = ["Operations", "Stage", "Staged", "given_directory"]

Staged = tuple[PhotonSource | None, list[PhotonLoadError]]
"""A staged source, ready to commit (or ``None``), and the failures to report for it."""

Stage = Callable[[Path, ImportedSource | Exception], Awaitable[Staged]]
"""Validates one imported source (or its import's failure) into a :data:`Staged`."""


class Operations:
    """Loads, unloads and reloads the sources of one registry."""

    def __init__(
        self,
        registry: Registry,
        staging: Staging,
        reporter: Reporter,
        settings: Settings,
        dependents: Dependents,
    ) -> None:
        self.registry = registry
        self.staging = staging
        self.reporter = reporter
        self.settings = settings
        self.dependents = dependents
        self.closed = False
        """Set once :meth:`close` begins: a load whose import was running then commits nothing."""

    @classmethod
    def create(
        cls,
        settings: Settings,
        plugin_manager: pluggy.PluginManager,
        unregistered: Callable[[object], None] | None = None,
    ) -> Operations:
        """The operations of a new, empty registry, with their import machinery; their handlers
        tell ``unregistered`` of each instance they unregister."""
        registry = Registry()
        importer = Importer(
            settings.trust,
            lambda: bool(registry.sources),
            registry.helpers_in_use,
            settings.code_cache,
        )
        reporter = Reporter(plugin_manager, settings.logging)
        dependents = Dependents(registry)
        staging = Staging(
            registry,
            importer,
            reporter,
            settings,
            dependents.start_waiting,
            unregistered,
            dependents.locked_for_stop,
        )
        return cls(registry, staging, reporter, settings, dependents)

    async def load(
        self,
        paths: Sequence[Path],
        recursive: bool,
        stage: Stage,
        submodules: Mapping[Path, Sequence[str]] | None = None,
    ) -> tuple[list[Handler], list[PhotonLoadError]]:
        """Load sources (canonical paths) in order; return their handlers and the failures.

        The one load pipeline, for files, packages and entry points: the sources are imported in
        one worker-thread call (a hand-off per file costs about as much as a small import), then
        staged and committed one by one (a failure dropped and reported, a source loaded already
        returned as it is); events and reports follow in path order once the locks are released.
        """
        outcomes: list[tuple[Path, Staged]] = []
        handlers: list[Handler] = []
        async with self.registry.locked(paths):
            fresh = list(dict.fromkeys(path for path in paths if path not in self.registry.sources))
            directories = {
                path: directory
                for path in fresh
                if (directory := self.registry.given_directory(path)) is not None
            }
            imports = await self.staging.importer.import_batch(
                fresh, recursive, submodules, directories
            )
            self._refuse_when_closed(imports)
            for path in paths:
                loaded = self.registry.sources.get(path)
                if loaded is not None:
                    self.reporter.log(
                        logging.WARNING,
                        "%s is already loaded; use reload_photon to refresh it",
                        path,
                    )
                    handlers.extend(loaded.handlers)
                    continue
                source, errors = await stage(path, imports[path])
                if source is not None:
                    self.staging.commit(source)
                    handlers.extend(source.handlers)
                outcomes.append((path, (source, errors)))
        errors = []
        for path, (source, failures) in outcomes:
            for error in failures:
                await self.reporter.report(str(path), error)
            errors.extend(failures)
            if source is not None:
                await self._announce_loaded(path, source)
        return dependency_order(handlers), errors

    def _refuse_when_closed(self, imports: Mapping[Path, ImportedSource | Exception]) -> None:
        """Drop a load's imports, and refuse it, when the loader was closed while they ran.

        :raises LoaderClosedError: if it was.
        """
        if not self.closed:
            return
        for imported in imports.values():
            if isinstance(imported, ImportedSource):
                self.staging.drop(imported.module.__name__, imported.modules, imported.helpers)
        raise LoaderClosedError(
            "this loader was closed while the load imported; nothing of it was loaded"
        )

    def stage_file(self, photon_base: type, other_classes: Sequence[str], recursive: bool) -> Stage:
        """The :data:`Stage` of a loose file or package: validated, then checked for a name
        that another source holds."""

        async def stage(path: Path, imported: ImportedSource | Exception) -> Staged:
            try:
                if isinstance(imported, Exception):
                    raise_load_error(path, imported)
                source = await self.staging.prepare(
                    path, photon_base, other_classes, recursive, imported=imported
                )
                conflict = self.registry.conflict(source.handlers)
                if conflict is not None:
                    self.staging.drop_source(source)
                    raise conflict
            except PhotonLoadError as error:
                return None, [error]
            return source, []

        return stage

    async def _announce_loaded(self, path: Path, source: PhotonSource) -> None:
        for handler in source.handlers:
            self.reporter.log(logging.INFO, "loaded photon %s from %s", handler.name, path)
            await self.reporter.broadcast("luminal_photon_loaded", handler=handler)
        if not source.handlers:
            self.reporter.log(logging.WARNING, "no photon found in %s", path)

    async def load_source(
        self, path: Path, photon_base: type, other_classes: Sequence[str], recursive: bool
    ) -> list[Handler]:
        """Load one source (a plain directory loads as a photon directory).

        :raises PhotonLoadError: if the source fails to import or validate.
        """
        if path.is_dir() and not (path / "__init__.py").is_file():
            return await self.load_directory(
                path,
                photon_base,
                other_classes,
                recursive,
                photon_directory=self.registry.given_directory(path),
            )
        stage = self.stage_file(photon_base, other_classes, recursive)
        handlers, errors = await self.load([path], recursive, stage)
        if errors:
            raise errors[0]
        return handlers

    async def load_directory(
        self,
        directory: Path,
        photon_base: type,
        other_classes: Sequence[str],
        recursive: bool,
        *,
        photon_directory: Path | None = None,
    ) -> list[Handler]:
        """Load every photon source of a directory (:func:`luminal.tree.select_sources`).

        :raises DirectoryLoadError: if any source failed and ``suppress_errors`` is off; the
            photons that loaded stay loaded and are listed in ``handlers``.
        """
        # The trust policy judges every source of the tree against the directory the host named,
        # not the sub-directory it sits in.
        photon_directory = photon_directory or directory
        selection = await asyncio.to_thread(select_sources, directory, recursive)
        for project in selection.projects:
            self.reporter.log(
                logging.INFO,
                "skipping %s: it is a distribution's project; install it and use load_entry_points",
                project,
            )
        for path in selection.sources:
            if path not in self.registry.sources:
                self.registry.give_directory(path, photon_directory)
        stage = self.stage_file(photon_base, other_classes, recursive)
        handlers, errors = await self.load(selection.sources, recursive, stage)
        for path, reason in selection.refused:
            error = PhotonLoadError(f"cannot load {display_path(path)}: {reason}", path)
            await self.reporter.report(display_path(path), error)
            errors.append(error)
        if errors and not self.settings.suppress_errors:
            raise DirectoryLoadError(str(directory), errors, handlers)
        return handlers

    async def unload_path(
        self, path: Path, discard_unstarted: bool = False, force_stop: bool = False
    ) -> bool:
        """Unload the source at ``path`` (gracefully unless ``force_stop``); whether all its
        photons owned stopped.

        :raises PhotonNotFoundError: if nothing is loaded there.
        :raises PhotonNotInitializedError: if none of its photons was started (unless
            ``discard_unstarted``).
        """
        async with self.dependents.locked_with_dependents([path], self.registry.resolve) as (
            (source,),
            dependents,
        ):
            if not discard_unstarted and not _may_unload_source(source):
                raise PhotonNotInitializedError(
                    f"no photon of {path} was started (unload it with force_stop=True)",
                    source.handlers[0].name if source.handlers else None,
                )
            (clean,) = await self._stop_all([source], dependents, force_stop)
        await self._announce_unloaded(source)
        return clean

    async def unload(self, photons: Sequence[PhotonRef], force_stop: bool) -> list[bool]:
        """Check every reference, then unload each source once; whether each stopped cleanly.

        :raises PhotonNotFoundError: if a reference names nothing loaded; nothing is unloaded.
        :raises PhotonNotInitializedError: if a photon was never started, without ``force_stop``.
        """

        def check(photon: PhotonRef) -> PhotonSource:
            return self._checked_for_unload(photon, force_stop)

        async with self.dependents.locked_with_dependents(photons, check) as (sources, dependents):
            unloaded = list({source.path: source for source in sources}.values())
            cleans = await self._stop_all(unloaded, dependents, force_stop)
        for source in unloaded:
            await self._announce_unloaded(source)
        outcomes = {source.path: clean for source, clean in zip(unloaded, cleans, strict=True)}
        return [outcomes[source.path] for source in sources]

    def _checked_for_unload(self, photon: PhotonRef, force_stop: bool) -> PhotonSource:
        source = self.registry.resolve(photon)
        named = (
            photon if isinstance(photon, Handler) else self.registry.photons.get(os.fspath(photon))
        )
        if force_stop:
            return source
        if named is not None and not _may_unload(named):
            raise PhotonNotInitializedError(f"photon {named.name!r} was never started", named.name)
        if not _may_unload_source(source):
            raise PhotonNotInitializedError(
                f"no photon of {source.path} was started; start it or unload with force_stop=True"
            )
        return source

    async def _stop_all(
        self, sources: Sequence[PhotonSource], dependents: Sequence[Handler], force_stop: bool
    ) -> list[bool]:
        """Suspend the ``dependents``, then stop and forget each source; whether each stopped
        cleanly. An unload whose caller is cancelled meanwhile is finished all the same, what
        remains force-stopped (nobody waits for its finalizers any more) and announced, then
        the cancellation goes on: no photon is left half unloaded."""
        try:
            await self._suspend(dependents, force_stop=False)
            return [await self._stop_and_discard(source, force_stop) for source in sources]
        except BaseException:
            await self._suspend(dependents, force_stop=True)
            for source in sources:
                if self.registry.sources.get(source.path) is source:
                    await self._stop_and_discard(source, force_stop=True)
                await self._announce_unloaded(source)
            raise

    async def _suspend(self, dependents: Sequence[Handler], force_stop: bool) -> None:
        """Stop the running ``dependents`` of what is unloaded, dependents of dependents first;
        they stay loaded, waiting for their requirements to run again."""
        for handler in reversed(dependents):
            if handler.started:
                self.reporter.log(
                    logging.INFO, "stopping %s: a photon it requires is unloaded", handler.name
                )
                await handler.suspend(force_stop)

    async def _stop_and_discard(self, source: PhotonSource, force_stop: bool) -> bool:
        """Stop a source's started photons and forget it; whether all they owned stopped."""
        clean = True
        for handler in source.handlers:
            if handler.started:
                clean = await handler.stop_under_lock(force_stop) and clean
        self.staging.discard(source)
        names = [handler.name for handler in source.handlers]
        return (
            await self.reporter.report_import_threads(source.path, names, source.threads) and clean
        )

    async def _announce_unloaded(self, source: PhotonSource) -> None:
        for handler in source.handlers:
            self.reporter.log(logging.INFO, "unloaded photon %s from %s", handler.name, source.path)
            await self.reporter.broadcast("luminal_photon_unloaded", handler=handler)

    async def reload(self, photons: Sequence[PhotonRef]) -> list[Handler]:
        """Reload the sources that ``photons`` name, all or nothing (see :mod:`.reload`)."""
        async with self.dependents.locked_with_dependents(photons, self.registry.resolve) as (
            sources,
            dependents,
        ):
            olds = list({id(source): source for source in sources}.values())
            running = [handler for handler in dependents if handler.started]
            news = await Reload(self.staging, self.reporter, olds, running).run()
        return await self._announce_reloaded(olds, news)

    async def reload_paths(
        self,
        paths: Sequence[Path],
        targets: Sequence[ReloadTarget] | None = None,
        report: bool = True,
    ) -> list[Handler]:
        """Reload the sources at ``paths``, all or nothing: each from its own path, or (given
        ``targets``) as those new sources, the photons of each name handing over their state.
        ``report``: whether a failure is reported here too, not only raised.

        :raises PhotonNotFoundError: if a path is not loaded; nothing is reloaded then.
        """
        unique = list(dict.fromkeys(paths))
        new_paths = [target.path for target in targets or ()]
        async with self.dependents.locked_with_dependents(
            unique, self.registry.resolve, also=new_paths
        ) as (olds, dependents):
            running = [handler for handler in dependents if handler.started]
            reload = Reload(self.staging, self.reporter, olds, running, targets, report)
            news = await reload.run()
        return await self._announce_reloaded(olds, news)

    async def _announce_reloaded(
        self, olds: Sequence[PhotonSource], news: Sequence[PhotonSource]
    ) -> list[Handler]:
        """Log and broadcast a committed reload (a photon is reloaded by the new photon of its
        name, whichever source that lives in); return the fresh handlers."""
        result: list[Handler] = []
        old_by_name = {handler.name: handler for old in olds for handler in old.handlers}
        for new in news:
            for handler in new.handlers:
                result.append(handler)
                self.reporter.log(
                    logging.INFO, "reloaded photon %s from %s", handler.name, new.path
                )
                previous = old_by_name.pop(handler.name, None)
                if previous is not None:
                    await self.reporter.broadcast(
                        "luminal_photon_reloaded", old=previous, new=handler
                    )
                else:
                    await self.reporter.broadcast("luminal_photon_loaded", handler=handler)
        for handler in old_by_name.values():
            await self.reporter.broadcast("luminal_photon_unloaded", handler=handler)
        await self.dependents.start_waiting()
        return dependency_order(result)

    async def close(self, force_stop: bool = False) -> None:
        """Unload every source (unstarted ones are discarded), dependents first, gracefully
        unless ``force_stop``, then let the import threads end. A close whose caller is
        cancelled meanwhile (``wait_for``) is finished all the same, the sources left
        force-stopped, as a cancelled unload is: no photon of a closed loader runs on."""
        self.closed = True
        try:
            await self._unload_everything(force_stop)
        except BaseException:
            await self._unload_everything(force_stop=True)
            raise
        finally:
            self.staging.importer.remove_finders_when_idle()
            self.staging.importer.close()

    async def _unload_everything(self, force_stop: bool) -> None:
        """Unload the loaded sources until none is left (one that loaded meanwhile too)."""
        while self.registry.sources:
            dependents_first = [
                Path(handler.filepath)
                for handler in reversed(dependency_order(self.registry.photons.values()))
            ]
            for path in dict.fromkeys([*dependents_first, *self.registry.sources]):
                with contextlib.suppress(PhotonNotFoundError):
                    await self.unload_path(path, discard_unstarted=True, force_stop=force_stop)


def _may_unload(handler: Handler) -> bool:
    """Whether a photon may be unloaded without ``force_stop``: it runs, or it is waiting for
    its requirements (then nothing of it runs to finalize)."""
    return handler.started or handler.state is HandlerState.WAITING


def _may_unload_source(source: PhotonSource) -> bool:
    """Whether a source may be unloaded without ``force_stop``: a photon of it may, or it holds
    none (a helper, a file without photons), so nothing of it can run."""
    return not source.handlers or any(_may_unload(handler) for handler in source.handlers)


def given_directory(photon_path: str | os.PathLike[str]) -> Path:
    """The directory a photon path was given in, before its own symlinks are followed."""
    return canonical_path(os.path.dirname(os.path.abspath(os.fspath(photon_path))))
