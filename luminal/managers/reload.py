"""The reload transaction: all new versions of some sources run, with the running photons that
require them restarted on them, or all old versions are back.

Read :meth:`Reload.run` top to bottom: :meth:`~Reload.prepare` imports and validates the new
code, and checks every requirement it will have to meet, while the old photons keep running;
:meth:`~Reload.swap` has each old photon and each running dependent export its state and
finalize (dependents first) before the new versions are created, import the state and start
(providers first); :meth:`~Reload.roll_back` undoes a failed swap; :meth:`~Reload.commit` lets
the old versions go.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NoReturn

from luminal.dependencies import Photon, PlannedPhoton, dependency_order, requirement_error
from luminal.errors import LuminalError, PhotonNameConflictError, PhotonReloadError
from luminal.importing import reclaim_names, restore_modules, stash_modules
from luminal.managers.handler import NO_STATE, Handler, HandlerState
from luminal.managers.registry import PhotonSource
from luminal.managers.reporting import Reporter
from luminal.managers.staging import Staging
from luminal.sources import drop_modules

__all__ = ["Reload", "SourceReload", "restart_previous"]


@dataclass
class SourceReload:
    """One source's part of a reload: its old and new versions, and how far the swap got."""

    old: PhotonSource
    new: PhotonSource
    started_names: set[str]
    states: dict[str, Any] = field(default_factory=dict)
    started: list[Handler] = field(default_factory=list)


class Reload:
    """One reload of ``olds``, all or nothing, taking along ``dependents``: the running photons
    of other sources that require theirs, in dependency order (the caller holds every lock)."""

    def __init__(
        self,
        staging: Staging,
        reporter: Reporter,
        olds: Sequence[PhotonSource],
        dependents: Sequence[Handler] = (),
    ) -> None:
        self._staging = staging
        self._registry = staging.registry
        self._reporter = reporter
        self.olds = list(olds)
        self.paths = [old.path for old in olds]
        self.dependents = list(dependents)
        self.items: list[SourceReload] = []
        self._stashed: dict[str, ModuleType] = {}
        self._dependent_states: dict[str, Any] = {}
        self._started: list[Handler] = []

    async def run(self) -> list[SourceReload]:
        """Reload every source, or raise :class:`PhotonReloadError` with all put back."""
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
            await self.roll_back()
            await self._fail(error, "it was rolled back")
        self.commit()
        for item in self.items:
            names = [handler.name for handler in item.old.handlers]
            await self._reporter.report_import_threads(item.old.path, names, item.old.threads)
        return self.items

    async def prepare(self) -> None:
        """Import and validate every new version; the old ones keep running."""
        self._stashed = stash_modules(
            ({**old.modules, **old.helpers} for old in self.olds),
            in_place={old.module_name for old in self.olds},
        )
        for old in self.olds:
            new = await self._staging.prepare(
                old.path,
                old.photon_base,
                old.other_classes,
                old.recursive,
                entry_points=old.entry_points,
            )
            started = {handler.name for handler in old.handlers if handler.started}
            self.items.append(SourceReload(old, new, started))
        new_handlers = [handler for item in self.items for handler in item.new.handlers]
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
        not run) or be part of a cycle."""
        # A loaded photon's filepath is its source's path as text: no Path built per photon.
        replaced = {os.fspath(path) for path in self.paths}
        planned: dict[str, Photon] = {
            name: handler
            for name, handler in self._registry.photons.items()
            if handler.filepath not in replaced
        }
        to_start = [handler for item in self.items for handler in self._to_start(item)]
        planned.update((handler.name, PlannedPhoton.of(handler)) for handler in to_start)
        for handler in [*to_start, *self.dependents]:
            error = requirement_error(handler, planned, handler.filepath)
            if error is not None:
                raise error

    def _undo_prepare(self) -> None:
        for item in self.items:
            self._staging.drop_source(item.new, replacing=self.paths)
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

    @staticmethod
    def _to_start(item: SourceReload) -> list[Handler]:
        """A new photon starts when its previous version was started; one new to the file
        starts when any photon of the file was started."""
        old_names = {handler.name for handler in item.old.handlers}
        return [
            handler
            for handler in item.new.handlers
            if handler.name in item.started_names
            or (item.started_names and handler.name not in old_names)
        ]

    async def swap(self) -> None:
        """Replace the running photons of every source by the new versions'.

        The old photons and the running dependents export their state and are finalized
        (in reverse dependency order) before the new ones are created, so a photon may take a
        port, file lock or device in ``__init__``: between the two, no version answers hook
        calls. Then the new versions and the dependents (on fresh instances of their class)
        start in dependency order, each importing its state.
        """
        owner = {id(handler): item for item in self.items for handler in item.old.handlers}
        running = [
            handler for item in self.items for handler in item.old.handlers if handler.started
        ]
        for handler in dependency_order([*running, *self.dependents]):
            states = owner[id(handler)].states if id(handler) in owner else self._dependent_states
            states[handler.name] = await handler.export_state()
        for handler in reversed(dependency_order([*running, *self.dependents])):
            await handler.stop()
        for item in self.items:
            self._staging.replace(item.new)
        item_of = {id(handler): item for item in self.items for handler in self._to_start(item)}
        new = [handler for item in self.items for handler in self._to_start(item)]
        for handler in dependency_order([*new, *self.dependents]):
            self._started.append(handler)
            source = item_of.get(id(handler))
            if source is None:
                state = self._dependent_states.get(handler.name, NO_STATE)
                await handler.restart(state, action="restarted, on a reloaded requirement,")
                continue
            instance = await handler.create_instance()
            await handler.activate(instance, source.states.get(handler.name, NO_STATE))
            source.started.append(handler)

    async def roll_back(self) -> None:
        """Undo :meth:`swap`: stop what it started (in reverse order) and drop the new
        versions; restart the old versions and the dependents, in dependency order."""
        for handler in reversed(self._started):
            if handler.started:
                await handler.stop()
        for item in reversed(self.items):
            for handler in item.new.handlers:
                handler.release()
            self._staging.drop_source(item.new, replacing=self.paths)
        states: dict[str, Any] = dict(self._dependent_states)
        for item in self.items:
            self._staging.replace(item.old)
            states.update(item.states)
        self._restore_modules()
        olds = [handler for item in self.items for handler in item.old.handlers]
        previous = dependency_order([*olds, *self.dependents])
        await restart_previous(self._reporter, previous, states)

    def commit(self) -> None:
        """Let the old versions go, with their helpers that nothing loaded uses any more; the
        new versions' helpers keep their names (see :func:`reclaim_names`)."""
        in_use = self._registry.helpers_in_use()
        for item in self.items:
            for handler in item.old.handlers:
                handler.release()
            drop_modules(item.old.helpers, keep=in_use)
            reclaim_names(item.new.helpers)

    async def _fail(self, error: Exception, outcome: str) -> NoReturn:
        reload_error = PhotonReloadError(
            f"reload of {', '.join(map(str, self.paths))} failed, {outcome}: {error}",
            [str(path) for path in self.paths],
        )
        reload_error.__cause__ = error
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
