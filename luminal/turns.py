"""Sources of directories that hold a module of the same name take turns to run.

``sys.modules`` is one for every thread: while a source of one directory runs, another
directory's source that imports a module of a name both hold (``import helpers``) would be
handed the first one's from ``sys.modules``, even the first time that name is imported
anywhere. So such sources never run at the same time; sources of one directory, and of
directories without a name in common, run as they come.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from luminal.tree import is_installed_location

__all__ = ["taking_turns"]

# The directories whose sources run now (a count per source), the turns they take, and how
# many threads wait for one (none, mostly: then nobody is woken).
_RUNNING: dict[Path, int] = {}
_MUTEX = threading.Lock()
_TURNS = threading.Condition(_MUTEX)
_WAITING = [0]
# Top-level module names of directories, with the modification time they were listed at.
_NAMES: dict[Path, tuple[int, frozenset[str]]] = {}


def taking_turns(root: Path) -> contextlib.AbstractContextManager[None]:
    """Run a source of ``root`` once no source of another directory that holds a module of the
    same top-level name runs: until then, either could import the other's helper from
    ``sys.modules``, even the first time a name is imported anywhere."""
    return _Turn(root)


class _Turn:
    """One source's turn (a class rather than a generator: one is taken per source imported,
    and the lock is the condition's own, taken without a wrapper)."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        root = self.root
        with _MUTEX:
            if _RUNNING.keys() - {root}:  # else nothing to wait for (the common case)
                _WAITING[0] += 1
                try:
                    _TURNS.wait_for(
                        lambda: not _shares_a_name(root, [r for r in _RUNNING if r != root])
                    )
                finally:
                    _WAITING[0] -= 1
            _RUNNING[root] = _RUNNING.get(root, 0) + 1

    def __exit__(self, *exc_info: object) -> None:
        with _MUTEX:
            running = _RUNNING.pop(self.root) - 1
            if running > 0:
                _RUNNING[self.root] = running
            if _WAITING[0]:
                _TURNS.notify_all()


def _shares_a_name(root: Path, others: Sequence[Path]) -> bool:
    if not others:
        return False
    names = _module_names(root)
    return bool(names) and any(names & _module_names(other) for other in others)


def _module_names(directory: Path) -> frozenset[str]:
    """The top-level module names a directory holds (``.py`` files and packages), listed again
    only when it changed; none for an installation directory, whose modules are no helpers."""
    if is_installed_location(directory):
        return frozenset()
    try:
        modified = os.stat(directory).st_mtime_ns
        known = _NAMES.get(directory)
        if known is not None and known[0] == modified:
            return known[1]
        with os.scandir(directory) as entries:
            names = frozenset(
                entry.name[:-3] if entry.name.endswith(".py") else entry.name
                for entry in entries
                if entry.name.endswith(".py")
                or os.path.lexists(os.path.join(entry.path, "__init__.py"))
            )
    except OSError:
        return frozenset()
    _NAMES[directory] = (modified, names)
    return names
