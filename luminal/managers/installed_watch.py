"""Following installed photons: ``pip install``, ``pip install -U``, ``pip uninstall`` and saves
to an editable install's source, applied to a running loader.

:class:`InstalledWatch` is what ``watch_photons(..., entry_points=True)`` adds to a
:class:`~luminal.managers.watching.PhotonWatch`. It watches the ``sys.path`` directories that
hold distribution metadata (their own entries only: a ``*.dist-info`` directory appearing,
vanishing or renamed). Once those have been quiet for :data:`ENVIRONMENT_SETTLE` seconds and
every changed distribution of the group has its ``RECORD`` (which pip writes last), each change
is applied (:class:`~luminal.managers.installed_changes.DistributionChanges`): an upgrade or
downgrade reloads the distribution's photons atomically from the new version with its new entry
points, an uninstall unloads them, a new distribution loads and starts. An editable install's
source directory (one its installer recorded as editable, or outside the metadata directories)
is watched as a tree, and a changed source or helper reloads. One worker task applies everything
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from luminal.discovery import EntryPointPolicy, EntryPointSelection, normalize_distribution_name
from luminal.errors import PhotonNotFoundError, PhotonReloadError
from luminal.managers.disk_state import current_checksum
from luminal.managers.environment import (
    InstalledDistribution,
    in_metadata,
    installing,
    invalidate_caches,
    metadata_directories,
    scan_group,
)
from luminal.managers.handler import Handler
from luminal.managers.installed import InstalledPhotons, check_entry_point_arguments
from luminal.managers.installed_changes import DistributionChanges
from luminal.managers.operations import Operations
from luminal.managers.starting import start_loaded
from luminal.photon import IPhoton
from luminal.watcher import DirectoryWatcher, ObserverFactory, follow_directory

__all__ = ["ENVIRONMENT_SETTLE", "RECORD_PATIENCE", "InstalledWatch", "installed_watch_for"]

logger = logging.getLogger(__name__)

Starter = Callable[[Iterable[Handler]], Awaitable[None]]
"""Starts loaded handlers (the watch of the trees passes its step's, which starts them with
the trees' photons)."""

ENVIRONMENT_SETTLE = 0.1
"""Seconds the metadata directories must stay quiet before a change is applied (at least the
watch's ``debounce``); a distribution still without its final ``RECORD`` is looked at again
after as long."""

POLL_INTERVAL = 0.25
"""Seconds between looks at the metadata directories' modification times: watchdog's inotify
observer dies when pip's temporary directories vanish under it, so events alone are not
trusted to notice every install."""

RECORD_PATIENCE = 600
"""How many settle delays an installer still at work is waited for: then a ``RECORD`` that
names no ``INSTALLER`` (a wheel unzipped by hand) or no ``RECORD`` at all (Debian's packages)
is applied, and so is a removal whose moved-aside metadata a killed pip left behind."""


class InstalledWatch:
    """The installed photons of one entry-point group, followed in one loader."""

    def __init__(
        self,
        operations: Operations,
        group: str,
        policy: EntryPointPolicy | None,
        debounce: float,
        observer_factory: ObserverFactory | None,
    ) -> None:
        self._operations = operations
        self._registry = operations.registry
        self._reporter = operations.reporter
        self.group = group
        self._policy = policy
        self._settle = max(debounce, ENVIRONMENT_SETTLE)
        self._make_watcher = functools.partial(
            DirectoryWatcher,
            loop=asyncio.get_running_loop(),
            debounce=debounce,
            observer_factory=observer_factory,
        )
        self.directories: list[Path] = []
        self._sites: list[Path] = []  # those holding metadata at the start
        self._environment: list[DirectoryWatcher] = []
        self._editable: dict[Path, DirectoryWatcher] = {}
        self._editable_guards: dict[Path, DirectoryWatcher] = {}  # each root's entry in its parent
        self._changes = DistributionChanges(operations, group, policy, lambda: self._stopped)
        self._timer: asyncio.TimerHandle | None = None
        self._waits = 0
        self._rescan = False
        self._edited: set[Path] = set()
        self._helper_checksums: dict[Path, str] = {}
        self.worker: asyncio.Task[None] | None = None
        self._stopped = False
        self._mtimes: dict[Path, int] = {}
        self._poller: asyncio.TimerHandle | None = None

    @property
    def known(self) -> dict[str, InstalledDistribution]:
        """The group's distributions as last applied, by normalized name."""
        return self._changes.known

    async def start(self, start: Starter | None = None) -> None:
        """Load and start (by ``start``) the group's photons not loaded yet, then watch the
        environment."""
        self.directories = await asyncio.to_thread(metadata_directories)
        self._sites = await asyncio.to_thread(metadata_directories, True)
        self._changes.known = await asyncio.to_thread(scan_group, self.group, self.directories)
        handlers, failed = await InstalledPhotons(self._operations).load_reporting(
            self.group, None, self._policy, IPhoton
        )
        self._changes.wait_for_names(failed)
        await (start or start_loaded)(handlers)
        for directory in self.directories:
            watcher = self._make_watcher(
                directory, self._on_environment, accept=functools.partial(in_metadata, directory)
            )
            self._environment.append(watcher)
            await self._start_watcher(watcher)
        await self._follow_editable()
        self._mtimes = _mtimes(self.directories)
        self._poll()
        self._reporter.log(
            logging.INFO,
            "watching installed photons of %r in %d directories",
            self.group,
            len(self.directories),
        )

    async def stop(self, timeout: float) -> None:
        """Drop what waits, stop the observers and let the worker finish its step."""
        self._stopped = True
        if self._poller is not None:
            self._poller.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._stop_watchers(timeout)
        worker = self.worker
        if worker is not None and worker is not asyncio.current_task():
            await asyncio.wait([worker])  # cancelled by halt() if the caller gave up
            # Its step may have been starting an observer meanwhile, or adding one.
            await self._stop_watchers(timeout)
        self._editable.clear()
        self._editable_guards.clear()

    def halt(self) -> None:
        """A stop's caller gave up: cancel the change being applied (an upgrade whose import
        never returns is abandoned, the old version kept) and apply no more."""
        self._stopped = True
        if self.worker is not None and self.worker is not asyncio.current_task():
            self.worker.cancel()

    async def _stop_watchers(self, timeout: float) -> None:
        watchers = [*self._environment, *self._editable.values(), *self._editable_guards.values()]
        for watcher in watchers:
            watcher.cancel_pending()
        for watcher in watchers:
            await asyncio.to_thread(watcher.stop, timeout)

    async def _start_watcher(self, watcher: DirectoryWatcher) -> None:
        try:
            await asyncio.to_thread(watcher.start)
        except OSError as error:
            logger.warning("cannot watch %s for installed photons: %s", watcher.root, error)

    def _on_environment(self, path: Path) -> None:
        """A metadata entry changed: apply once the directories are quiet for a while."""
        self._waits = 0
        self._schedule()

    def _poll(self) -> None:
        """Notice a metadata directory whose entries changed (its modification time)."""
        if self._stopped:
            return
        current = _mtimes(self.directories)
        if current != self._mtimes:
            self._mtimes = current
            self._on_environment(self.directories[0])
        self._poller = asyncio.get_running_loop().call_later(POLL_INTERVAL, self._poll)

    def _schedule(self) -> None:
        if self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._settle, self._settled)

    def _settled(self) -> None:
        self._timer = None
        self._rescan = True
        self._wake()

    def _on_edit(self, path: Path) -> None:
        if not self._stopped:
            self._edited.add(path)
            self._wake()

    def _wake(self) -> None:
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(
                self._follow(), name=f"luminal-watch-installed {self.group}"
            )

    async def _follow(self) -> None:
        while (self._rescan or self._edited) and not self._stopped:
            try:
                if self._rescan:
                    self._rescan = False
                    await self._apply_environment()
                edited, self._edited = self._edited, set()
                if edited:
                    await self._apply_edits(edited)
            except Exception:
                logger.exception("applying a change of the installed photons failed")

    async def _apply_environment(self) -> None:
        """Apply every distribution of the group that changed and is complete.

        The observers are restarted first: watchdog's inotify observer stops reporting after
        pip moves a ``*.dist-info`` out of the tree (its uninstall stash), and what changes
        from now on must not be missed; the scan that follows sees what came before."""
        for watcher in self._environment:
            try:
                await asyncio.to_thread(watcher.restart, self._operations.settings.stop_timeout)
            except OSError as error:  # the modification-time poll still notices changes
                logger.debug("cannot watch %s again: %s", watcher.root, error)
        await asyncio.to_thread(invalidate_caches)
        current = await asyncio.to_thread(scan_group, self.group, self.directories)
        waiting = False
        patient = self._waits < RECORD_PATIENCE
        for key in sorted(self.known.keys() | current.keys()):
            old, new = self.known.get(key), current.get(key)
            if old == new or self._stopped:
                continue
            if patient and installing(old, new):
                logger.debug("the installer is still at work on %s: waiting", key)
                waiting = True
                continue
            await self._changes.apply(key, old, new)
        if waiting and self._waits < RECORD_PATIENCE:
            self._waits += 1
            self._schedule()
        await self._changes.retry_freed_names()
        await self._follow_editable()

    async def _follow_editable(self) -> None:
        """Watch the source directories of the loaded editable installs, and no others: a
        source is editable when a distribution naming it was installed so, or when it lies
        outside every directory holding metadata (setuptools leaves a ``src/`` layout's
        ``*.egg-info`` beside its packages)."""
        # Those found at the start count too: pip may have moved site-packages aside meanwhile.
        sites = [*await asyncio.to_thread(metadata_directories, True), *self._sites]
        wanted = _outermost(
            source.path.parent
            for source in self._registry.sources.values()
            if source.entry_points is not None
            and (
                self._installed_editable(source.entry_points)
                or not any(source.path.is_relative_to(directory) for directory in sites)
            )
        )
        timeout = self._operations.settings.stop_timeout
        for root in [root for root in self._editable if root not in wanted]:
            await asyncio.to_thread(self._editable.pop(root).stop, timeout)
            guard = self._editable_guards.pop(root, None)
            if guard is not None:
                await asyncio.to_thread(guard.stop, timeout)
        for root in wanted:
            if root not in self._editable and not self._stopped:
                watcher = self._make_watcher(root, self._on_edit)
                self._editable[root] = watcher
                await self._start_watcher(watcher)
                if root.parent != root:  # a deleted, re-created root is noticed (as a tree's)
                    guard = self._make_watcher(root.parent, self._on_edit, only=frozenset({root}))
                    self._editable_guards[root] = guard
                    await self._start_watcher(guard)

    async def _check_editable_root(self, root: Path) -> None:
        """Follow an editable source directory again once it is re-created (``rm -rf src``,
        then ``git checkout src``): its observer went with the directory. Its photons keep
        running meanwhile, their distribution still installed."""
        try:  # also when it came back within the debounce: the observer is the old one's
            await follow_directory(
                self._editable[root],
                self._operations.settings.stop_timeout,
                "editable source directory",
                "its photons keep running",
            )
        except OSError as error:
            logger.warning("cannot watch %s for installed photons: %s", root, error)

    def _installed_editable(self, selection: EntryPointSelection) -> bool:
        return any(
            distribution is not None and distribution.editable
            for distribution in (
                self.known.get(normalize_distribution_name(source.entry.distribution))
                for source in selection.sources
            )
        )

    async def _apply_edits(self, edited: set[Path]) -> None:
        """Reload the editable sources that changed, and the users of a changed helper."""
        for root in edited & self._editable.keys():
            await self._check_editable_root(root)
        groups: set[Path] = set()
        for path, source in list(self._registry.sources.items()):
            if source.entry_points is None or not any(_touches(path, each) for each in edited):
                continue
            if await asyncio.to_thread(current_checksum, path) not in (None, source.checksum):
                groups.add(path)
        imported = self._registry.helper_checksums()  # what runs, until a change is applied
        for location, users in self._registry.helper_users().items():
            if any(_touches(location, each) for each in edited):
                current = await asyncio.to_thread(current_checksum, location)
                known = self._helper_checksums.get(location, imported.get(location))
                if current is not None and known != current:
                    self._helper_checksums[location] = current
                    groups |= {user for user in users if user in self._registry.sources}
        if not groups:
            return
        try:
            handlers = await self._operations.reload_paths(sorted(groups))
        except (PhotonReloadError, PhotonNotFoundError):
            return  # reported; the previous version keeps running
        await start_loaded(handlers)


def _mtimes(directories: Iterable[Path]) -> dict[Path, int]:
    times: dict[Path, int] = {}
    for directory in directories:
        with contextlib.suppress(OSError):
            times[directory] = directory.stat().st_mtime_ns
    return times


def _touches(source: Path, changed: Path) -> bool:
    return source == changed or changed.is_relative_to(source) or source.is_relative_to(changed)


def _outermost(roots: Iterable[Path]) -> list[Path]:
    unique = sorted(set(roots), key=lambda root: len(root.parts))
    kept: list[Path] = []
    for root in unique:
        if not any(root.is_relative_to(other) for other in kept):
            kept.append(root)
    return kept


def installed_watch_for(
    operations: Operations,
    watching_trees: bool,
    entry_points: object,
    group: object,
    policy: object,
    debounce: float,
    observer_factory: ObserverFactory | None,
) -> InstalledWatch | None:
    """Check ``watch_photons``' installed-photon arguments; the watch they ask for, if any.

    :raises TypeError: if an argument has the wrong type, or no directory is given and
        ``entry_points`` is off (nothing to watch).
    """
    if not isinstance(entry_points, bool):
        raise TypeError(f"entry_points must be a bool, not {type(entry_points).__name__}")
    if not entry_points:
        if not watching_trees:
            raise TypeError("photons_directory may be None only with entry_points=True")
        return None
    check_entry_point_arguments(group, None, policy, IPhoton)
    assert isinstance(group, str)
    assert policy is None or isinstance(policy, EntryPointPolicy)
    return InstalledWatch(operations, group, policy, debounce, observer_factory)
