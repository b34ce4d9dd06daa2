"""Following photon directory trees: watchdog's change notices, applied to a loader in order.

:class:`PhotonWatch` is what ``Loader.watch_photons`` starts and ``stop_watching_photons`` stops.
Its one worker task runs on the loop that called ``watch_photons`` and drives the loader's own
load, reload and unload, so every photon lifecycle stays on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from luminal.errors import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    PhotonLoadError,
    PhotonNotFoundError,
    PhotonReloadError,
    PhotonStartError,
)
from luminal.managers.handler import Handler, HandlerState
from luminal.photon import IPhoton
from luminal.sources import (
    canonical_path,
    checksum_files,
    read_source,
    source_path,
)
from luminal.tree import sources_at
from luminal.watcher import DirectoryWatcher

if TYPE_CHECKING:
    from luminal.managers.loader import Loader

__all__ = ["PhotonWatch", "check_disjoint", "watched_directory"]

logger = logging.getLogger(__name__)


class PhotonWatch:
    """The watched trees of one loader and the changes not applied yet.

    ``dirty`` maps each watched root to its settled paths not applied yet; ``failed`` remembers
    the checksum of sources that failed to load, so a ``touch`` does not retry them.
    """

    def __init__(self, loader: Loader, watchers: list[DirectoryWatcher]) -> None:
        self._loader = loader
        self.watchers = watchers
        self.dirty: dict[Path, set[Path]] = {}
        self.worker: asyncio.Task[None] | None = None
        self.halting = False
        self.failed: dict[Path, str | None] = {}
        self.helper_checksums: dict[Path, str] = {}

    @property
    def roots(self) -> list[Path]:
        return [watcher.root for watcher in self.watchers]

    @property
    def pending(self) -> frozenset[Path]:
        """The paths still waiting for their debounce delay, in every watched tree."""
        return frozenset().union(*(watcher.pending for watcher in self.watchers))

    async def start(self) -> None:
        """Start the observers, then load and start each tree in the order given."""
        for watcher in self.watchers:
            await asyncio.to_thread(watcher.start)
        for root in self.roots:
            await self._load_tree(root)

    async def stop(self, halt_threads: bool, timeout: float) -> None:
        """Drop what waits for its debounce, stop and join the observers, and let the worker
        finish its batch (or, with ``halt_threads``, the one operation in progress)."""
        for watcher in self.watchers:
            watcher.cancel_pending()
        self.dirty.clear()
        self.halting = halt_threads
        for watcher in self.watchers:
            if not await asyncio.to_thread(watcher.stop, timeout):
                logger.warning(
                    "the watchdog observer of %s did not stop within %s s", watcher.root, timeout
                )
        worker = self.worker
        if worker is not None and worker is not asyncio.current_task():
            await worker

    def on_change(self, root: Path, path: Path) -> None:
        """A path of the tree at ``root`` settled (on the loop): queue it for the one worker that
        applies changes in order."""
        if self.halting:
            return
        self.dirty.setdefault(root, set()).add(path)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(
                self._follow_changes(), name=f"luminal-watch {self.roots[0]}"
            )

    async def _follow_changes(self) -> None:
        while self.dirty and not self.halting:
            batches, self.dirty = self.dirty, {}
            for root, paths in batches.items():
                if self.halting:
                    return
                try:
                    await self._apply_changes(root, paths)
                except Exception:
                    logger.exception("applying the changes to %s failed", sorted(map(str, paths)))

    async def _load_tree(self, directory: Path) -> None:
        try:
            handlers = await self._loader.load_photons(directory, recursive=True)
        except DirectoryLoadError as error:
            handlers = error.handlers
            for failure in error.errors:
                if failure.path is not None:
                    failed_path = Path(failure.path)
                    self.failed[failed_path] = await asyncio.to_thread(
                        _current_checksum, failed_path
                    )
        await self._start(handlers)

    async def _apply_changes(self, root: Path, paths: set[Path]) -> None:
        """Bring the loader in step with the settled ``paths`` of the tree at ``root``: unload
        what vanished, reload what changed (with the photons that use a changed helper), load
        what is new."""
        affected: set[Path] = set()
        candidates: set[Path] = set()
        for path in paths:
            affected |= self._sources_touched_by(root, path)
            candidates |= sources_at(root, path)
        self._forget_vanished_failures(paths)
        gone = {path for path in affected if not _source_present(path)}
        helpers_changed = False
        for path in sorted(gone):
            if self.halting:
                return
            helpers_changed |= await self._unload(path)
            if path.is_dir():
                candidates |= sources_at(root, path)
        groups: list[set[Path]] = []
        for path in sorted(affected - gone):
            source = self._loader._sources.get(path)
            current = await asyncio.to_thread(_current_checksum, path)
            if source is not None and current is not None and current != source.checksum:
                groups.append({path})
                helpers_changed |= not source.handlers
        for location, users in self._helper_users().items():
            if not any(path == location or path.is_relative_to(location) for path in paths):
                continue
            current = await asyncio.to_thread(_current_checksum, location)
            if current is not None and self.helper_checksums.get(location) == current:
                continue
            if current is not None:
                self.helper_checksums[location] = current
            helpers_changed = True
            groups.append(users - gone)
        for group in _merge_overlapping(groups):
            if self.halting:
                return
            await self._reload(group)
        to_load = {path for path in candidates if path not in self._loader._sources}
        if to_load:
            for path in [path for path in self._loader._sources if path.is_relative_to(root)]:
                if not _source_present(path):
                    await self._unload(path)
        tried_since_helper_change: set[Path] = set()
        for path in sorted(to_load):
            if self.halting:
                return
            if await self._load(root, path, force=False):
                helpers_changed = True
                tried_since_helper_change.clear()
            else:
                tried_since_helper_change.add(path)
        if not helpers_changed:
            return
        for path in sorted(set(self.failed) - tried_since_helper_change):
            if self.halting:
                return
            await self._load(root, path, force=True)

    def _forget_vanished_failures(self, paths: set[Path]) -> None:
        """Drop the failure memory of sources at or below ``paths`` that are gone."""
        for failed in [
            failed
            for failed in self.failed
            if any(failed == path or failed.is_relative_to(path) for path in paths)
        ]:
            if not os.path.lexists(failed):
                del self.failed[failed]

    def _sources_touched_by(self, root: Path, path: Path) -> set[Path]:
        """Loaded sources that ``path`` is, lies in (a package's module) or contains."""
        touched = set()
        for candidate in (path, *path.parents):
            if candidate in self._loader._sources:
                touched.add(candidate)
            if candidate == root:
                break
        if path.suffix != ".py" or path.is_dir():
            touched.update(
                source for source in self._loader._sources if source.is_relative_to(path)
            )
        return touched

    def _helper_users(self) -> dict[Path, set[Path]]:
        """Each helper module's file (or package directory) → the sources that import it."""
        users: dict[Path, set[Path]] = {}
        for source in self._loader._sources.values():
            for module in source.helpers.values():
                file = getattr(module, "__file__", None)
                if file is None:
                    continue
                location = Path(file)
                if location.name == "__init__.py":
                    location = location.parent
                users.setdefault(location, set()).add(source.path)
        return users

    async def _unload(self, path: Path) -> bool:
        """Unload a vanished source; whether it was a helper (a source without photons)."""
        source = self._loader._sources.get(path)
        if source is None:
            return False
        with contextlib.suppress(PhotonNotFoundError):
            await self._loader._absorb_source(path, force_stop=False, discard_unstarted=True)
        return not source.handlers

    async def _reload(self, group: set[Path]) -> None:
        paths = sorted(path for path in group if path in self._loader._sources)
        if not paths:
            return
        try:
            handlers = await self._loader._reload_sources(paths)
        except PhotonReloadError:
            return  # reported by _reload_sources; the previous version keeps running
        except PhotonNotFoundError:
            return  # unloaded meanwhile by the host
        await self._start(handlers)

    async def _load(self, root: Path, path: Path, force: bool) -> bool:
        """Load and start a new source of the tree at ``root``; whether it is a helper (a source
        without photons).

        A source that fails is remembered, so that it is tried again when its content or a
        helper changes, not on every ``touch``.
        """
        current = await asyncio.to_thread(_current_checksum, path)
        if current is None or path in self._loader._sources:
            self.failed.pop(path, None)
            return False
        if not force and path in self.failed and self.failed[path] == current:
            return False
        # The trust policy judges symlinks and permissions against the watched tree, as it
        # does for the sources of the initial load.
        self._loader._photon_directories[source_path(path)] = root
        try:
            handlers = await self._loader._emit_photon(path, IPhoton, [], recursive=True)
        except PhotonLoadError:
            self.failed[path] = current  # reported by _emit_photon
            return False
        self.failed.pop(path, None)
        await self._start(handlers)
        return not handlers

    async def _start(self, handlers: Iterable[Handler]) -> None:
        """Start what is not started yet; a photon that fails stays loaded (``start`` reports
        it), and its next save reloads and starts it."""
        for handler in handlers:
            if handler.state is HandlerState.LOADED:
                with contextlib.suppress(PhotonStartError):
                    await handler.start()


def watched_directory(directory: str | os.PathLike[str]) -> Path:
    """The canonical path of a directory to watch.

    :raises TypeError: if ``directory`` is not a ``str`` or path.
    :raises DirectoryNotFoundError: if it is missing, not a directory, or an empty path.
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"photons_directory must be a str or os.PathLike, not {type(directory).__name__}"
        )
    path = canonical_path(directory) if os.fspath(directory) else None
    if path is None or not path.is_dir():
        raise DirectoryNotFoundError(
            f"photon directory {os.fspath(directory)!r} is missing or not a directory", directory
        )
    return path


def check_disjoint(directories: Sequence[Path]) -> None:
    """Refuse two watched trees that share files: each source has one tree to follow it."""
    for index, directory in enumerate(directories):
        for other in directories[:index]:
            if directory.is_relative_to(other) or other.is_relative_to(directory):
                raise ValueError(f"watched directories overlap: {other} and {directory}")


def _source_present(path: Path) -> bool:
    """Whether a loaded source is still there: its file, or its package's ``__init__.py``."""
    return (path / "__init__.py").is_file() if path.is_dir() else path.is_file()


def _current_checksum(path: Path) -> str | None:
    """SHA-512 of a source as it is on disk now (as the loader computes it), or ``None`` if it
    cannot be read (it vanished meanwhile, or is no longer a regular file)."""
    try:
        files = read_source(path)
    except (OSError, PhotonLoadError):
        return None
    return checksum_files(files, path) if files else None


def _merge_overlapping(groups: Iterable[set[Path]]) -> list[set[Path]]:
    """Merge groups of sources that share a source, so each is reloaded in one atomic step."""
    merged: list[set[Path]] = []
    for group in groups:
        combined = set(group)
        for other in [other for other in merged if other & combined]:
            merged.remove(other)
            combined |= other
        if combined:
            merged.append(combined)
    return merged
