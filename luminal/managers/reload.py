"""The reload transaction: all new versions of some sources run, with the running photons that
require them restarted on them, or all old versions are back.

Read :meth:`Reload.run` top to bottom: :meth:`~Reload.prepare` imports and validates the new
code, and checks every requirement it will have to meet, while the old photons keep running;
:meth:`~Reload.swap` has each old photon and each running dependent export its state and
finalize (dependents first) before the new versions are created, import the state and start
(providers first); :meth:`~Reload.roll_back` undoes a failed swap; :meth:`~Reload.commit` lets
the old versions go.

The new versions are those of the old sources' own paths, or the given targets
(an installed distribution whose upgrade moved a photon to another module): a photon hands its
state to the new photon of its name, whichever source that lives in; an old source that no
target replaces goes with the commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from luminal.dependencies import Photon, PlannedPhoton, dependency_order, requirement_error
from luminal.discovery import EntryPointSelection
from luminal.errors import LuminalError, PhotonLoadError, PhotonNameConflictError, PhotonReloadError
from luminal.importing import reclaim_names, restore_modules, stash_modules
from luminal.managers.handler import NO_STATE, Handler, HandlerState
from luminal.managers.hooktasks import completed
from luminal.managers.registry import PhotonSource
from luminal.managers.reporting import Reporter
from luminal.managers.staging import Staging
from luminal.sources import drop_modules

__all__ = ["Reload", "ReloadTarget", "restart_previous"]


@dataclass(frozen=True)
class ReloadTarget:
    """A new version for a reload to prepare: the source at ``path``, with the photons
    ``entry_points`` name; it takes the settings (photon base, classes) of the old source at
    its path, or of the first old source."""

    path: Path
    entry_points: EntryPointSelection | None = None


class Reload:
    """One reload of ``olds``, all or nothing, taking along ``dependents``: the running photons
    of other sources that require theirs, in dependency order (the caller holds every lock,
    the targets' paths included). ``report``: whether a failure is reported here, or by the
    caller that says what it means."""

    def __init__(
        self,
        staging: Staging,
        reporter: Reporter,
        olds: Sequence[PhotonSource],
        dependents: Sequence[Handler] = (),
        targets: Sequence[ReloadTarget] | None = None,
        report: bool = True,
    ) -> None:
        self._staging = staging
        self._registry = staging.registry
        self._reporter = reporter
        self.olds = list(olds)
        self.paths = [old.path for old in olds]
        self.targets = (
            [ReloadTarget(old.path, old.entry_points) for old in self.olds]
            if targets is None
            else list(targets)
        )
        self.dependents = list(dependents)
        self.news: list[PhotonSource] = []
        self._report = report
        self._stashed: dict[str, ModuleType] = {}
        self._states: dict[str, Any] = {}
        self._started_names: set[str] = set()
        self._waiting_names: set[str] = set()
        self._started: list[Handler] = []
        self._switched = False

    async def run(self) -> list[PhotonSource]:
        """Reload every source, or raise :class:`PhotonReloadError` with all put back; return
        the new versions."""
        try:
            await self.prepare()
        except Exception as error:
            self._undo_prepare()
            await self._fail(error, "nothing changed")
        except BaseException:  # cancelled: once the import thread is done, undo as above
            self._staging.importer.after_abandoned(self._undo_cancelled)
            raise
        try:
            await self.swap()
        except Exception as error:
            await completed(self.roll_back())
            await self._fail(error, "it was rolled back")
        except BaseException:  # cancelled while swapping: the old versions run again, then it ends
            await completed(self.roll_back())
            raise
        self.commit()
        for old in self.olds:
            names = [handler.name for handler in old.handlers]
            await self._reporter.report_import_threads(old.path, names, old.threads)
        return self.news

    async def prepare(self) -> None:
        """Import and validate every new version; the old ones keep running."""
        self._stashed = stash_modules(
            ({**old.modules, **old.helpers} for old in self.olds),
            in_place={old.module_name for old in self.olds},
        )
        self._started_names = {
            handler.name for old in self.olds for handler in old.handlers if handler.started
        }
        self._waiting_names = {
            handler.name
            for old in self.olds
            for handler in old.handlers
            if handler.state is HandlerState.WAITING
        }
        old_at = {old.path: old for old in self.olds}
        for target in self.targets:
            like = old_at.get(target.path, self.olds[0])
            if target.path not in old_at and target.path in self._registry.sources:
                raise PhotonLoadError(f"{target.path} is loaded already", target.path)
            new = await self._staging.prepare(
                target.path,
                like.photon_base,
                like.other_classes,
                like.recursive,
                entry_points=target.entry_points,
            )
            self.news.append(new)
        new_handlers = [handler for new in self.news for handler in new.handlers]
        conflict = self._registry.conflict(new_handlers, replacing=self.paths)
        if conflict is not None:
            raise conflict
        names = [handler.name for handler in new_handlers]
        if len(names) != len(set(names)):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise PhotonNameConflictError(duplicate, str(self.paths[0]), str(self.paths[-1]))
        self._check_requirements()

    def _check_requirements(self) -> None:
        """Refuse a reload after which a photon it starts or restarts would miss a requirement
        (a new provider's version its dependents do not accept, a new requirement that does
        not run) or be part of a cycle, or a waiting photon would wait in a cycle for ever."""
        # A loaded photon's filepath is its source's path as text: no Path built per photon.
        replaced = {os.fspath(path) for path in self.paths}
        planned: dict[str, Photon] = {
            name: handler
            for name, handler in self._registry.photons.items()
            if handler.filepath not in replaced
        }
        to_start = self._to_start()
        planned.update((handler.name, PlannedPhoton.of(handler)) for handler in to_start)
        for handler in [*to_start, *self.dependents]:
            error = requirement_error(handler, planned, handler.filepath)
            if error is not None:
                raise error
        starting = {id(handler) for handler in to_start}
        for handler in (handler for new in self.news for handler in new.handlers):
            if handler.name in self._waiting_names and id(handler) not in starting:
                error = requirement_error(
                    handler, {**planned, handler.name: handler}, handler.filepath
                )
                if error is not None and error.cycle:  # not what it waits for: that may come
                    raise error

    def _undo_prepare(self) -> None:
        for new in self.news:
            self._staging.drop_source(new, replacing=self.paths)
        self._restore_modules()
        for old in self.olds:
            self._staging.importer.add_package(old.module_name, old.package_files)

    def _undo_cancelled(self) -> None:
        """Undo a prepare that was cancelled, if the old versions are still the loaded ones
        (another operation may have replaced or unloaded them meanwhile)."""
        if all(self._registry.sources.get(old.path) is old for old in self.olds):
            self._undo_prepare()

    def _restore_modules(self) -> None:
        """Put the old versions' modules and helpers back in ``sys.modules`` where nothing else
        took their names meanwhile (once the new versions' have left): a concurrent reload of
        a photon of the same tree keeps the helper its new version imported. The same rule
        for a failure and a cancellation, at import or at start."""
        restore_modules([self._stashed, *(old.helpers for old in self.olds)])

    def _to_start(self) -> list[Handler]:
        """A new photon starts when its previous version (in any old source) was started, or
        was waiting and the new one requires nothing; one new to the reload starts when a
        photon of the source it replaces was started (any old source's, for a source at a new
        path)."""
        old_at = {old.path: old for old in self.olds}
        old_names = {handler.name for old in self.olds for handler in old.handlers}
        chosen: list[Handler] = []
        for new in self.news:
            before = [old_at[new.path]] if new.path in old_at else self.olds
            any_started = any(
                handler.name in self._started_names for old in before for handler in old.handlers
            )
            chosen.extend(
                handler
                for handler in new.handlers
                if handler.name in self._started_names
                or (handler.name in self._waiting_names and not handler.requires)
                or (any_started and handler.name not in old_names)
            )
        return chosen

    async def swap(self) -> None:
        """Replace the running photons of every source by the new versions'.

        The old photons and the running dependents export their state and are finalized
        (in reverse dependency order) before the new ones are created, so a photon may take a
        port, file lock or device in ``__init__``: between the two, no version answers hook
        calls. Then the new versions and the dependents (on fresh instances of their class)
        start in dependency order, each importing the state of its name.
        """
        running = [handler for old in self.olds for handler in old.handlers if handler.started]
        for handler in dependency_order([*running, *self.dependents]):
            self._states[handler.name] = await handler.export_state()
        for handler in reversed(dependency_order([*running, *self.dependents])):
            await handler.stop_under_lock()
        self._switch(self.olds, self.news)
        self._switched = True
        new = self._to_start()
        renewed = {id(handler) for handler in new}
        for handler in dependency_order([*new, *self.dependents]):
            self._started.append(handler)
            state = self._states.get(handler.name, NO_STATE)
            if id(handler) not in renewed:
                await handler.restart(state, action="restarted, on a reloaded requirement,")
                continue
            instance = await handler.create_instance()
            await handler.activate(instance, state)
        for handler in (handler for new in self.news for handler in new.handlers):
            if handler.name in self._waiting_names:
                handler.wait_for_requirements()  # started by the waiting starts after the commit

    def _switch(self, leaving: Iterable[PhotonSource], coming: Iterable[PhotonSource]) -> None:
        """Register ``coming`` in place of ``leaving``: at a path that ``leaving`` held, as a
        reload replaces a source; at a new path with its root opened to imports, and a path
        that none of ``coming`` takes is closed."""
        leaving, coming = list(leaving), list(coming)
        left = {source.path for source in leaving}
        taken = {source.path for source in coming}
        for source in leaving:
            if source.path not in taken:
                self._registry.remove(source)
                self._staging.importer.close_root(source.root, source.module_name)
        for source in coming:
            if source.path in left:
                self._staging.replace(source)
            else:
                self._registry.put(source)
                self._staging.importer.open_root(
                    source.root, source.module_name, source.package_files
                )

    async def roll_back(self) -> None:
        """Undo :meth:`swap`: stop what it started (in reverse order) and drop the new
        versions; restart the old versions and the dependents, in dependency order."""
        for handler in reversed(self._started):
            if handler.started:
                await handler.stop_under_lock()
        for new in reversed(self.news):
            for handler in new.handlers:
                handler.release()
            self._staging.drop_source(new, replacing=self.paths)
        if self._switched:
            self._switch(self.news, self.olds)
        else:  # the drops took the old versions' package modules too
            for old in self.olds:
                self._staging.replace(old)
        self._restore_modules()
        olds = [handler for old in self.olds for handler in old.handlers]
        previous = dependency_order([*olds, *self.dependents])
        await restart_previous(self._reporter, previous, self._states)

    def commit(self) -> None:
        """Let the old versions go, with their helpers that nothing loaded uses any more (and
        the module of one that no new version replaced); the new versions' helpers keep their
        names (see :func:`reclaim_names`)."""
        in_use = self._registry.helpers_in_use()
        replaced = {new.path for new in self.news}
        for old in self.olds:
            for handler in old.handlers:
                handler.release()
            drop_modules(old.helpers, keep=in_use)
            if old.path not in replaced:
                drop_modules(old.modules)
        for new in self.news:
            reclaim_names(new.helpers)

    async def _fail(self, error: Exception, outcome: str) -> NoReturn:
        reload_error = PhotonReloadError(
            f"reload of {', '.join(map(str, self.paths))} failed, {outcome}: {error}",
            [str(path) for path in self.paths],
        )
        reload_error.__cause__ = error
        if self._report:
            await self._reporter.report(str(self.paths[0]), reload_error)
        raise reload_error from error


async def restart_previous(
    reporter: Reporter,
    handlers: Sequence[Handler],
    states: Mapping[str, Any] | None = None,
) -> None:
    """Start the previous version of a source again after a failed reload (its modules are
    back in ``sys.modules``).

    The handlers the reload had stopped start again on a fresh instance of their previous
    class, importing the state they exported. A restart that fails is reported and the others
    go on.
    """
    for handler in handlers:
        if handler.state is HandlerState.STOPPED or (
            handler.state is HandlerState.LOADED and handler.name in (states or {})
        ):
            try:
                await handler.restart((states or {}).get(handler.name, NO_STATE))
            except LuminalError as error:
                await reporter.report(handler.filepath, error)
