"""Following photon directory trees: watchdog's change notices, applied to a loader in order.

:class:`PhotonWatch` is what ``Loader.watch_photons`` starts and ``stop_watching_photons`` stops.
Its one worker task runs on the loop that called ``watch_photons`` and drives the loader's
operations (:class:`~luminal.managers.operations.Operations`), so every photon lifecycle stays
on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

from luminal.errors import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    PhotonLoadError,
    PhotonNotFoundError,
    PhotonReloadError,
)
from luminal.managers.disk_state import (
    check_disjoint,
    current_checksum,
    is_special_file,
    lock_file_path,
    merge_overlapping,
    read_checksum,
    source_in_place,
    source_present,
    sources_touched_by,
    unreachable_links,
)
from luminal.managers.failures import Failures
from luminal.managers.helper_changes import HelperChanges
from luminal.managers.installed_watch import InstalledWatch
from luminal.managers.operations import Operations
from luminal.managers.starting import StepStarts
from luminal.photon import IPhoton
from luminal.sources import source_path
from luminal.tree import in_project_below, sources_at
from luminal.watcher import DirectoryWatcher, ObserverFactory, follow_directory, stop_watchers

__all__ = ["PhotonWatch", "check_disjoint"]

logger = logging.getLogger(__name__)

RECREATE_GRACE = 0.25
"""Seconds a deleted source may take to reappear (a safe-write with a gap) and be reloaded,
with its state, instead of being unloaded."""


class PhotonWatch:
    """The watched trees of one loader and the changes not applied yet.

    Each tree has a watcher of its own, a guard watching its directory entry in the parent (so
    a deleted, renamed or re-created tree is noticed), and the trust policy's lock file, if
    any, is watched too. ``dirty`` maps each tree to its settled paths not applied yet;
    ``failures`` remembers failed loads and refused reloads, so a ``touch`` retries nothing.
    """

    def __init__(
        self,
        operations: Operations,
        directories: Sequence[Path],
        debounce: float,
        observer_factory: ObserverFactory | None,
    ) -> None:
        self._operations = operations
        self.installed: InstalledWatch | None = None
        self._registry = operations.registry
        make_watcher = functools.partial(
            DirectoryWatcher,
            loop=asyncio.get_running_loop(),
            debounce=debounce,
            observer_factory=observer_factory,
        )
        self.watchers = [
            make_watcher(root, functools.partial(self.on_change, root)) for root in directories
        ]
        self._lock_file = lock_file_path(operations.settings.trust)
        followed: dict[Path, Callable[[Path], None]] = {
            root: self._on_root_change for root in directories if root.parent != root
        }
        if self._lock_file is not None:
            followed[self._lock_file] = self._on_lock_change
        self._guards = [
            make_watcher(path.parent, callback, only=frozenset({path}))
            for path, callback in followed.items()
        ]
        self.dirty: dict[Path, set[Path]] = {}
        self._roots_to_check: set[Path] = set()
        self._relocked = False
        self.worker: asyncio.Task[None] | None = None
        self.halting = False
        self._stopping = False
        self.failures = Failures()
        self.helpers = HelperChanges(self._registry)
        self._vanished: dict[Path, float] = {}
        self._grace_timers: list[asyncio.TimerHandle] = []
        self._starts = StepStarts()
        self._start = self._starts.start

    @property
    def roots(self) -> list[Path]:
        return [watcher.root for watcher in self.watchers]

    @property
    def pending(self) -> frozenset[Path]:
        """The paths still waiting for their debounce delay, in every watched tree."""
        return frozenset().union(*(watcher.pending for watcher in self.watchers))

    @property
    def vanishing(self) -> frozenset[Path]:
        """Loaded sources deleted from disk and still within their re-creation grace delay."""
        return frozenset(self._vanished)

    async def start(self) -> None:
        """Start the observers, then bring each tree in step with the disk, in the order given:
        a tree loaded before (or watched before) has its changed sources reloaded, its deleted
        ones unloaded and its new ones loaded; then every photon, installed ones included, is
        started in dependency order."""
        for watcher in self.watchers:
            await asyncio.to_thread(watcher.start)
        for guard in self._guards:
            try:
                await asyncio.to_thread(guard.start)
            except OSError as error:
                logger.warning("cannot watch %s for changes: %s", guard.root, error)
        async with self._starts.step(lambda: self.halting):
            for root in self.roots:
                await self._reconcile(root)
            if self.installed is not None:
                await self.installed.start(self._start)
        for root in self.roots:
            self._operations.reporter.log(logging.INFO, "watching %s for photon changes", root)

    async def stop(self, halt_threads: bool, timeout: float) -> None:
        """Drop what waits for its debounce, stop and join the observers, and let the worker
        finish its batch (or, with ``halt_threads`` or :meth:`halt`, the one operation in
        progress)."""
        self._stopping = True
        if self.installed is not None:
            await self.installed.stop(timeout)
        for watcher in [*self.watchers, *self._guards]:
            watcher.cancel_pending()
        for timer in self._grace_timers:
            timer.cancel()
        self.dirty.clear()
        self._roots_to_check.clear()
        self._relocked = False
        self.halting = self.halting or halt_threads
        await stop_watchers([*self.watchers, *self._guards], timeout)
        worker = self.worker
        if worker is not None and worker is not asyncio.current_task():
            await asyncio.wait([worker])  # cancelled by halt() if the caller gave up
        # A tree whose directory came back may have been restarted meanwhile.
        await stop_watchers(self.watchers, timeout)
        for root in self.roots:
            self._operations.reporter.log(logging.INFO, "stopped watching %s", root)

    def halt(self) -> None:
        """A stop's caller gave up: cancel the operation in progress, as a cancelled reload
        is (an import that never returns is abandoned, a swap rolled back), and apply no more."""
        self.halting = True
        if self.installed is not None:
            self.installed.halt()
        if self.worker is not None and self.worker is not asyncio.current_task():
            self.worker.cancel()

    def on_change(self, root: Path, path: Path) -> None:
        """A path of the tree at ``root`` settled (on the loop): queue it for the one worker that
        applies changes in order."""
        if self.halting:
            return
        self.dirty.setdefault(root, set()).add(path)
        self._wake()

    def _on_root_change(self, root: Path) -> None:
        """A watched tree's own directory was deleted, renamed, moved back or re-created."""
        if not self.halting:
            self._roots_to_check.add(root)
            self._wake()

    def _on_lock_change(self, lock_file: Path) -> None:
        """The trust lock file changed: what it refused may be pinned now."""
        if not self.halting:
            self._relocked = True
            self._wake()

    def _wake(self) -> None:
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(
                self._follow_changes(), name=f"luminal-watch {self.roots[0]}"
            )

    async def _follow_changes(self) -> None:
        while (self.dirty or self._roots_to_check or self._relocked) and not self.halting:
            async with self._starts.step(lambda: self.halting):
                roots, self._roots_to_check = self._roots_to_check, set()
                for root in sorted(roots):
                    await self._guarded(self._check_root(root), [root])
                if self._relocked:
                    self._relocked = False
                    await self._guarded(self._apply_relock(), [self._lock_file])
                batches, self.dirty = self.dirty, {}
                for root, paths in batches.items():
                    if self.halting:
                        return
                    await self._guarded(self._apply_changes(root, paths), paths)

    @staticmethod
    async def _guarded(step: Awaitable[None], paths: Iterable[Path | None]) -> None:
        try:
            await step
        except Exception:
            logger.exception("applying the changes to %s failed", sorted(map(str, paths)))

    async def _reconcile(self, root: Path) -> None:
        """Bring what is loaded from the tree at ``root`` in step with the disk, and start it."""
        loaded = [path for path in self._registry.sources if path.is_relative_to(root)]
        if not loaded:
            await self._load_tree(root)
            return
        await self._apply_changes(root, {root}, from_events=False)
        await self._start(
            handler
            for path, source in list(self._registry.sources.items())
            if path.is_relative_to(root)
            for handler in source.handlers
        )

    async def _check_root(self, root: Path) -> None:
        """Unload the photons of a tree whose directory is gone; follow a re-created one."""
        watcher = self._watcher_of(root)
        if self._stopping and root.is_dir():
            return
        timeout = self._operations.settings.stop_timeout
        if not await follow_directory(
            watcher, timeout, "watched directory", "its photons are unloaded"
        ):
            for path in [path for path in self._registry.sources if path.is_relative_to(root)]:
                await self._unload(path)
            return
        await self._reconcile(root)

    def _watcher_of(self, root: Path) -> DirectoryWatcher:
        return next(watcher for watcher in self.watchers if watcher.root == root)

    async def _apply_relock(self) -> None:
        """The lock file changed: files refused before may be pinned now, so forget every
        failure and bring each tree in step with the disk."""
        self.failures = Failures()
        for root in self.roots:
            if not self._watcher_of(root).lost:
                await self._reconcile(root)

    async def _load_tree(self, directory: Path) -> None:
        if not directory.is_dir():
            raise DirectoryNotFoundError(f"photon directory {directory} is missing", directory)
        try:
            handlers = await self._operations.load_directory(directory, IPhoton, [], True)
        except DirectoryLoadError as error:
            handlers = error.handlers
            for failure in error.errors:
                if failure.path is not None:
                    failed_path = Path(failure.path)
                    checksum = await asyncio.to_thread(current_checksum, failed_path)
                    self.failures.load_failed(failed_path, checksum, failure)
        await self._start(handlers)

    async def _apply_changes(
        self, root: Path, paths: set[Path], *, from_events: bool = True
    ) -> None:
        """Bring the loader in step with the settled ``paths`` of the tree at ``root``: unload
        what vanished, reload what changed (with the photons that use a changed helper), load
        what is new.

        A source that vanished is unloaded once it stayed away for ``RECREATE_GRACE``, or at
        once if something new is to be loaded (it may have moved there): a safe-write that
        deletes, then re-creates, a file is a reload with state handoff. A reconciliation
        (not ``from_events``) has no grace delay, and no helper checksums to compare with.
        """
        sources = self._registry.sources
        unlinked = await self._unlinked(root, paths, from_events)
        affected: set[Path] = set(unlinked)
        candidates: set[Path] = set()
        paths = {path for path in paths if not in_project_below(root, path)}
        for path in paths:
            affected |= sources_touched_by(root, path, sources)
            if path.is_relative_to(root):  # a link's target may lie out of the tree
                candidates |= sources_at(root, path)
        self.failures.forget_vanished(paths)
        to_load = {path for path in candidates if not self._loaded(path)}
        gone = unlinked | {path for path in affected if not source_in_place(root, path)}
        for path in affected - gone:
            self._vanished.pop(path, None)
        present = affected - gone  # a source in its grace delay is looked at again later
        if from_events and not to_load:
            gone = self._past_grace(root, gone)
        for path in sorted(gone):
            if self.halting:
                return
            await self._unload(path)
            if path.is_dir() and path.is_relative_to(root):
                candidates |= sources_at(root, path)
        groups = await self._changed_groups(present)
        if from_events and await self.helpers.add_groups(paths, gone, groups, self.vanishing):
            self.failures.helper_changed()
        try:
            await self._reload_groups(groups)
        finally:
            self._operations.staging.importer.forget_read()
        to_load = {path for path in candidates if not self._loaded(path)}
        if to_load:
            await self._unload_vanished()
        await self._load_new(root, to_load)

    async def _unlinked(self, root: Path, paths: set[Path], from_events: bool) -> set[Path]:
        """The tree's sources that a removed or re-pointed symlink led to. A save of a loaded
        source changes no link; a vanished one is looked at again after its grace delay by its
        own path, which may be a link's target."""
        sources = self._registry.sources
        if from_events and paths <= sources.keys() and not paths & self._vanished.keys():
            return set()
        given = self._registry.given_directory
        return await asyncio.to_thread(unreachable_links, root, list(sources), given)

    def _loaded(self, path: Path) -> bool:
        """Whether the source a path of the tree names is loaded, also through a symlink."""
        sources = self._registry.sources
        return path in sources or source_path(path) in sources

    async def _reload_groups(self, groups: list[set[Path]]) -> None:
        """Reload each group of changed sources in one step, then together those refused, now
        or before, because each other's running versions held their new names; a helper change
        whose users' reload was refused is held back."""
        refused: list[set[Path]] = []
        for group in merge_overlapping(groups):
            if self.halting:
                return
            if not await self._reload(group):
                refused.append(group)
        now = set().union(*refused)
        earlier = [{path} for path in self.failures.reloads if path not in now]
        tied = self.failures.tied_by_names([*refused, *earlier], self._registry.photons)
        if tied and await self._reload(set().union(*tied)):
            refused = [group for group in refused if group not in tied]
        for group in refused:
            self.helpers.failed(group)

    def _past_grace(self, root: Path, gone: set[Path]) -> set[Path]:
        """The vanished sources to unload now; the others are looked at again after the grace
        delay (and reloaded if they are back by then). A source whose photon name a failed
        file waits for goes at once."""
        loop = asyncio.get_running_loop()
        wanted = self.failures.wanted_names()
        due: set[Path] = set()
        for path in gone:
            source = self._registry.sources.get(path)
            remaining = self._vanished.setdefault(path, loop.time()) + RECREATE_GRACE - loop.time()
            if remaining <= 0 or (
                source is not None and wanted & {handler.name for handler in source.handlers}
            ):
                due.add(path)
            else:
                self._grace_timers.append(loop.call_later(remaining, self.on_change, root, path))
        self._grace_timers = [timer for timer in self._grace_timers if timer.when() > loop.time()]
        return due

    async def _changed_groups(self, present: set[Path]) -> list[set[Path]]:
        """The changed loaded sources, a group each; one that is a helper (has no photons)
        counts as a helper change. A refused source whose content is the running version again
        is said so."""
        groups: list[set[Path]] = []
        for path in sorted(present):
            source = self._registry.sources.get(path)
            current, files = await asyncio.to_thread(read_checksum, path)
            if source is None or current is None:
                continue
            if current != source.checksum or path in self.helpers.behind:
                self._operations.staging.importer.read_already(path, files)
                groups.append({path})
                if not source.handlers:
                    self.failures.helper_changed()
            elif path in self.failures.reloads:
                self.failures.reloaded([path])
                self._operations.reporter.log(
                    logging.INFO, "%s is back to the running version; nothing to reload", path
                )
        return groups

    async def _unload_vanished(self) -> None:
        """Unload every loaded source of any watched tree that is gone from disk (it may have
        moved to the path about to be loaded, in this tree or another)."""
        vanished = [
            path
            for path in self._registry.sources
            if any(path.is_relative_to(root) for root in self.roots) and not source_present(path)
        ]
        for path in vanished:
            await self._unload(path)

    async def _load_new(self, root: Path, to_load: set[Path]) -> None:
        """Load the new sources; then retry the failed ones a change may have fixed: those
        that did not collide once a helper changed, came or went after they failed, those that
        collided once their name is free."""
        for path in sorted(to_load):
            if self.halting:
                return
            current = await asyncio.to_thread(current_checksum, path)
            if not self.failures.has_failed(path, current):
                await self._load(root, path, current)
        for group in self.failures.reloads_to_retry(self._registry.photons):
            if self.halting:
                return
            await self._reload(group)
        for path in self.failures.loads_to_retry(self._registry.photons):
            failed_root = next((root for root in self.roots if path.is_relative_to(root)), None)
            if self.halting:
                return
            if failed_root is not None:
                await self._load(failed_root, path, await asyncio.to_thread(current_checksum, path))

    async def _unload(self, path: Path) -> None:
        """Unload a vanished source; one without photons is a helper that went."""
        source = self._registry.sources.get(path)
        self.failures.forget(path)
        self._vanished.pop(path, None)
        self.helpers.reloaded([path])
        if source is None:
            return
        with contextlib.suppress(PhotonNotFoundError):
            await self._operations.unload_path(path, discard_unstarted=True)
        if not source.handlers:
            self.failures.helper_changed()

    async def _reload(self, group: set[Path]) -> bool:
        """Reload the loaded sources of ``group`` in one step; whether they were not refused."""
        paths = sorted(path for path in group if path in self._registry.sources)
        if not paths:
            return True
        try:
            handlers = await self._operations.reload_paths(paths)
        except PhotonReloadError as error:  # reported; the previous version keeps running
            self.failures.reload_failed(paths, error)
            return False
        except PhotonNotFoundError:
            return True  # unloaded meanwhile by the host
        self.failures.reloaded(paths)
        self.helpers.reloaded(paths)
        await self._start(handlers)
        return True

    async def _load(self, root: Path, path: Path, current: str | None) -> None:
        """Load and start a new source of the tree at ``root`` whose content hashes to
        ``current``; one without photons is a helper that came.

        A source that fails is remembered, so that it is tried again when its content or a
        helper changes, not on every ``touch``.
        """
        if path in self._registry.sources or (current is None and not is_special_file(path)):
            self.failures.loads.pop(path, None)
            return
        # The trust policy judges symlinks and permissions against the watched tree, as it
        # does for the sources of the initial load.
        self._registry.give_directory(source_path(path), root)
        try:
            handlers = await self._operations.load_source(
                source_path(path), IPhoton, [], recursive=True
            )
        except PhotonLoadError as error:
            self.failures.load_failed(path, current, error)  # reported
            return
        self.failures.loads.pop(path, None)
        await self._start(handlers)
        if not handlers:
            await self._helper_came(path, root)

    async def _helper_came(self, path: Path, root: Path) -> None:
        """A helper came: failures may go through now, and the photons at or below its
        directory whose code names it (importing another copy it now shadows, or a fallback
        after an ``ImportError``) reload together, onto it."""
        self.failures.helper_changed()
        name = path.stem if path.suffix == ".py" else path.name
        directory = path.parent
        users = self._registry.sources_naming(name, directory)
        # A directory without __init__.py may also be a namespace package that photons above
        # it import the helper through (``import nsdir.new``): by the top directory's name.
        while directory != root and not (directory / "__init__.py").exists():
            name, directory = directory.name, directory.parent
            users |= self._registry.sources_naming(name, directory)
        await self._reload(users - self._registry.sources_running_live(path))
