"""Turning watchdog file events into debounced per-file change notices on the event loop.

The threading model: watchdog's observer thread runs the event forwarder's ``dispatch``, which
filters the event and hands each path to the event loop with ``loop.call_soon_threadsafe``;
that is the only hand-off between the threads. Everything else (the per-file debounce timers
and the callback that receives a settled path) runs on the loop. A path settles once
``debounce`` seconds pass without a new event for it, so an editor's burst of writes, renames
and ``touch`` calls becomes one notice per file. Where the observer reports a writer closing a
file (inotify's ``IN_CLOSE_WRITE``), a file written in place also waits for its writer to close
it (at most ``CLOSE_WAIT`` seconds after its last write), so a slow writer's empty or half-written
file is never handed on as a save.

Where the native observer cannot start because inotify ran out of watches or instances
(``ENOSPC``/``EMFILE``), a WARNING says so and watchdog's polling observer watches the tree
instead, rather than missing changes silently.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # watchdog is imported once a tree is watched, not with luminal
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

from luminal.tree import is_ignored_name

__all__ = [
    "DEFAULT_DEBOUNCE",
    "DirectoryWatcher",
    "ObserverFactory",
    "follow_directory",
    "stop_watchers",
]

logger = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 0.015
"""Seconds a file must stay quiet before its change is handed on."""

POLLING_INTERVAL = 1.0
"""Seconds between scans of the polling observer used when inotify is exhausted."""

CLOSE_WAIT = 1.0
"""Seconds a file written in place may stay open after its last write before its change is
handed on all the same (a writer that keeps it open)."""

ObserverFactory = Callable[[], "BaseObserver"]

_EXHAUSTION_ERRNOS = frozenset({errno.ENOSPC, errno.EMFILE})
# Reading a file changes nothing. Spelled out: watchdog < 5 has no constants for these.
_IGNORED_EVENT_TYPES = frozenset({"opened", "closed_no_write"})
_WRITE_EVENT_TYPES = frozenset({"created", "modified"})


@cache
def _forwarder_class() -> Callable[[DirectoryWatcher], FileSystemEventHandler]:
    """The watchdog event handler class, made when the first tree is watched."""
    from watchdog.events import EVENT_TYPE_MODIFIED, FileSystemEventHandler

    class EventForwarder(FileSystemEventHandler):
        """Runs on watchdog's thread: keeps the paths that matter and passes them to the loop."""

        def __init__(self, watcher: DirectoryWatcher) -> None:
            super().__init__()
            self._watcher = watcher

        def dispatch(self, event: FileSystemEvent) -> None:
            if event.event_type in _IGNORED_EVENT_TYPES:
                return
            if event.is_directory and event.event_type == EVENT_TYPE_MODIFIED:
                return
            writing = event.event_type in _WRITE_EVENT_TYPES and not event.is_directory
            for raw_path in (event.src_path, event.dest_path):
                if raw_path:
                    path = Path(os.fsdecode(raw_path))
                    if self._watcher.is_relevant(path, event.is_directory):
                        self._watcher._hand_over(path, writing)

    return EventForwarder


def _native_observer() -> BaseObserver:
    from watchdog.observers import Observer

    return Observer()


def _reports_closing(observer: BaseObserver) -> bool:
    """Whether ``observer`` says when a writer closes a file (Linux's inotify observer)."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux
        return False
    return isinstance(observer, InotifyObserver)


def _polling_observer() -> BaseObserver:
    from watchdog.observers.polling import PollingObserver

    return PollingObserver(timeout=POLLING_INTERVAL)


class DirectoryWatcher:
    """Watches a directory tree and calls ``on_settled(path)`` on ``loop`` once a path is quiet.

    ``path`` is a ``.py`` file or a directory below ``root`` that changed, appeared or vanished
    (a move gives both its ends); hidden, temporary and ``__pycache__`` names are ignored. The
    callback decides what the change means.

    :param observer_factory: makes the watchdog observer; watchdog's native ``Observer`` by
        default. Pass ``PollingObserver`` for file systems without change events (network
        shares, some container mounts).
    :param only: watch ``root`` itself only (not its sub-directories) for changes to these
        entries, of any name: how a tree's own directory and a lock file are followed.
    :param accept: watch ``root`` itself only, for changes to the entries it accepts (how the
        ``*.dist-info`` directories of site-packages are followed).
    """

    def __init__(
        self,
        root: Path,
        on_settled: Callable[[Path], None],
        *,
        loop: asyncio.AbstractEventLoop,
        debounce: float = DEFAULT_DEBOUNCE,
        observer_factory: ObserverFactory | None = None,
        only: frozenset[Path] | None = None,
        accept: Callable[[Path], bool] | None = None,
    ) -> None:
        if debounce < 0:
            raise ValueError(f"debounce must be >= 0 seconds, not {debounce}")
        self._root = root
        self._on_settled = on_settled
        self._loop = loop
        self._debounce = debounce
        self._observer_factory: ObserverFactory = observer_factory or _native_observer
        self._observer: BaseObserver | None = None
        self._timers: dict[Path, asyncio.TimerHandle] = {}
        self._writing: dict[Path, float] = {}  # file → loop time of its last write, until closed
        self._deferred: set[Path] = set()
        self._reports_closing = False
        self.lost = False
        """Whether the watched directory was found gone (:func:`follow_directory`)."""
        self._closed = False
        self._only = only
        self._accept = accept

    @property
    def root(self) -> Path:
        return self._root

    @property
    def pending(self) -> frozenset[Path]:
        """The paths waiting for their debounce delay (or for their writer to close them)."""
        return frozenset(self._timers)

    @property
    def waiting_for_close(self) -> frozenset[Path]:
        """The files whose debounce delay passed while a writer still held them open."""
        return frozenset(self._deferred)

    def is_relevant(self, path: Path, is_directory: bool) -> bool:
        """Whether a change to ``path`` can concern a photon: a ``.py`` file or a directory in
        the tree, with no hidden or temporary component (or one of the ``only`` entries)."""
        if self._only is not None:
            return path in self._only
        if self._accept is not None:
            return path.parent == self._root and self._accept(path)
        try:
            parts = path.relative_to(self._root).parts
        except ValueError:
            return False
        if not parts or any(is_ignored_name(part) for part in parts):
            return False
        return is_directory or path.suffix == ".py"

    def start(self) -> None:
        """Schedule the tree and start the observer thread; blocking, so call it in a thread.

        :raises OSError: if the observer cannot start for another reason than inotify limits.
        """
        try:
            self._observer = self._start_observer(self._observer_factory)
        except OSError as error:
            if error.errno not in _EXHAUSTION_ERRNOS:
                raise
            logger.warning(
                "cannot watch %s with inotify (%s); raise fs.inotify.max_user_watches or "
                "max_user_instances. Falling back to polling the tree every %s s.",
                self._root,
                error,
                POLLING_INTERVAL,
            )
            self._observer = self._start_observer(_polling_observer)

    def _start_observer(self, factory: ObserverFactory) -> BaseObserver:
        observer = factory()
        try:
            observer.schedule(
                _forwarder_class()(self),
                str(self._root),
                recursive=self._only is None and self._accept is None,
            )
            observer.start()
        except BaseException:
            _discard_observer(observer, timeout=5.0)
            raise
        self._reports_closing = _reports_closing(observer)
        return observer

    def stop(self, timeout: float) -> bool:
        """Stop the observer thread and join it; whether it ended within ``timeout``.

        Blocking, so call it in a thread. Events still in flight are dropped on the loop.
        """
        self._closed = True
        observer, self._observer = self._observer, None
        if observer is None:
            return True
        return _discard_observer(observer, timeout)

    def restart(self, timeout: float) -> None:
        """Watch the tree again from a new observer (its directory was re-created); blocking.

        :raises OSError: if the observer cannot start.
        """
        self.stop(timeout)
        self._closed = False
        self.start()

    def cancel_pending(self) -> None:
        """Forget the paths still waiting for their debounce delay (call on the loop)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._writing.clear()
        self._deferred.clear()

    def _hand_over(self, path: Path, writing: bool) -> None:
        """Called on watchdog's thread: the one hand-off to the loop. ``writing``: the event
        says the file was written in place (a close of it will follow)."""
        if self._closed:
            return
        try:
            self._loop.call_soon_threadsafe(self._touch, path, writing)
        except RuntimeError:
            # The host's loop is closed: it exited without stop_watching_photons.
            self._closed = True

    def _touch(self, path: Path, writing: bool) -> None:
        if self._closed:
            return
        if writing and self._reports_closing:
            self._writing[path] = self._loop.time()
        else:  # closed, moved or deleted: no writer holds it any more
            self._writing.pop(path, None)
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
        self._timers[path] = self._loop.call_later(self._debounce, self._settle, path)

    def _settle(self, path: Path) -> None:
        self._timers.pop(path, None)
        last_write = self._writing.get(path)
        if last_write is not None:
            remaining = last_write + CLOSE_WAIT - self._loop.time()
            if remaining > 0:  # still open for writing: wait for its close
                self._deferred.add(path)
                self._timers[path] = self._loop.call_later(remaining, self._settle, path)
                return
            del self._writing[path]
        self._deferred.discard(path)
        if not self._closed:
            self._on_settled(path)


def _discard_observer(observer: BaseObserver, timeout: float) -> bool:
    """Stop an observer (started or not) and every thread it made; whether all ended."""
    observer.stop()
    if observer.is_alive():
        observer.join(timeout)
        return not observer.is_alive()
    return True


async def stop_watchers(watchers: Iterable[DirectoryWatcher], timeout: float) -> None:
    """Stop each watcher's observer thread from a worker thread and join it, warning about
    one that did not end within ``timeout``."""
    for watcher in watchers:
        if not await asyncio.to_thread(watcher.stop, timeout):
            logger.warning(
                "the watchdog observer of %s did not stop within %s s", watcher.root, timeout
            )


async def follow_directory(
    watcher: DirectoryWatcher, timeout: float, what: str, while_gone: str
) -> bool:
    """Follow a watched directory that was deleted, renamed or re-created; whether it is there.

    While it is gone its observer is stopped (inotify would follow a moved directory under
    paths that no longer hold it) and a WARNING names it once, as ``what``, saying what
    happens ``while_gone``; once it is back, a new observer watches it, and a WARNING says so
    if it was found gone before.

    :raises OSError: if the new observer cannot start.
    """
    root = watcher.root
    if not root.is_dir():
        await asyncio.to_thread(watcher.stop, timeout)
        if not watcher.lost:
            watcher.lost = True
            logger.warning(
                "%s %s was deleted or renamed: %s, and it is followed again if it reappears",
                what,
                root,
                while_gone,
            )
        return False
    await asyncio.to_thread(watcher.restart, timeout)
    if watcher.lost:
        watcher.lost = False
        logger.warning("%s %s is back: it is followed again", what, root)
    return True
