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
from collections.abc import Iterator, Sequence
from pathlib import Path

from luminal.tree import is_installed_location

__all__ = ["taking_turns"]

# The directories whose sources run now (a count per source), and the turns they take.
_RUNNING: dict[Path, int] = {}
_TURNS = threading.Condition()
# Top-level module names of directories, with the modification time they were listed at.
_NAMES: dict[Path, tuple[int, frozenset[str]]] = {}


@contextlib.contextmanager
def taking_turns(root: Path) -> Iterator[None]:
    """Run a source of ``root`` once no source of another directory that holds a module of the
    same top-level name runs: until then, either could import the other's helper from
    ``sys.modules``, even the first time a name is imported anywhere."""
    with _TURNS:
        if _RUNNING.keys() - {root}:  # else nothing to wait for (the common case)
            _TURNS.wait_for(lambda: not _shares_a_name(root, [r for r in _RUNNING if r != root]))
        _RUNNING[root] = _RUNNING.get(root, 0) + 1
    try:
        yield
    finally:
        with _TURNS:
            running = _RUNNING.pop(root) - 1
            if running > 0:
                _RUNNING[root] = running
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
