"""Which copy of a helper module holds its plain name in ``sys.modules``.

Two photon directories (or two loaders) may each have a ``helpers.py``: while a source of one
runs, :func:`own_helpers` parks the other directories' helpers of the names it has (takes them
out of ``sys.modules`` and keeps them here) and gives it its own back. Within one directory,
photons share one copy: when a version goes live, :func:`give_back_helpers` puts back the
helpers its import took that another import let go of meanwhile (a failed, cancelled or
unloaded neighbour), where the directory's next source finds them.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

from luminal.finders import (
    SourceLoader,
    helper_at,
    helper_names,
    is_helper_module,
    running_source_of,
)
from luminal.turns import taking_turns

__all__ = [
    "bind_to_namespace",
    "give_back_helpers",
    "own_helpers",
    "release_helpers",
    "set_aside_helpers",
    "unbind_from_namespace",
    "unpark_helpers",
]

# Guards parking: held for a moment, never while photon code runs.
_PARKING = threading.RLock()
# Helper modules of photon directories other than the one whose source ran last, by name.
_PARKED: dict[str, list[ModuleType]] = {}
# The directories whose sources run now (a count per source), under _PARKING.
_RUNNING: Counter[Path] = Counter()


@contextlib.contextmanager
def own_helpers(root: Path, tree: Path | None = None) -> Iterator[None]:
    """While a source of ``root`` runs, the plain helper names in ``sys.modules`` are ``root``'s.

    Helpers of other directories are parked (taken out of ``sys.modules``, kept here) and those
    of ``root`` that were parked come back, so ``import helpers`` in two trees (or two loaders)
    gives each tree its own ``helpers.py``, shared by the photons of that tree. Helper lookups
    prefer ``root`` meanwhile. Sources of two directories that hold a module of the same name
    take turns (:func:`~luminal.turns.taking_turns`); the others run as they come, so a photon
    whose import hangs holds up no tree but those sharing a module name with it.
    """
    with taking_turns(root):
        with _PARKING:
            _RUNNING[root] += 1
            for name in _clashing_names(root):
                current = sys.modules.get(name)
                if current is not None and _home_of(name, current) != root:
                    _PARKED.setdefault(name, []).append(sys.modules.pop(name))
                parked = _PARKED.get(name, [])
                own = next((module for module in parked if _home_of(name, module) == root), None)
                if own is not None and name not in sys.modules:
                    parked.remove(own)
                    sys.modules[name] = own
            hidden = _hide_other_trees_helpers(root, tree or root)
        try:
            with running_source_of(root, tree):
                yield
        finally:
            with _PARKING:
                _RUNNING[root] -= 1
                if not _RUNNING[root]:
                    del _RUNNING[root]
            give_back_helpers(hidden, going_live=False)


def _hide_other_trees_helpers(root: Path, tree: Path) -> dict[str, ModuleType]:
    """Park, for the time a source of ``root`` runs, the helpers in ``sys.modules`` that lie
    outside its ``tree`` under names ``root`` has no helper of: they are another tree's, which
    its ``import helpers`` must not find (the caller holds ``_PARKING``). Those of a directory
    whose source runs now stay: its import may be taking them."""
    hidden: dict[str, ModuleType] = {}
    for name in helper_names():
        current = sys.modules.get(name)
        if (
            current is None
            or _loader_of(current) is None
            or _lies_in(current, tree)
            or any(_lies_in(current, running) for running in _RUNNING if running != root)
        ):
            continue
        unbind_from_namespace(name, current)
        _PARKED.setdefault(name, []).append(sys.modules.pop(name))
        hidden[name] = current
    return hidden


def _clashing_names(root: Path) -> list[str]:
    """The helper names that ``root`` has a helper for, and that ``sys.modules`` holds for
    another directory or that have a module of ``root`` parked."""
    clashing = []
    for name in helper_names():
        current = sys.modules.get(name)
        foreign = current is not None and _home_of(name, current) != root
        parked = any(_home_of(name, module) == root for module in _PARKED.get(name, ()))
        if (foreign or parked) and helper_at(root, name.partition(".")[0]) is not None:
            clashing.append(name)
    return clashing


def release_helpers(modules: Mapping[str, ModuleType]) -> None:
    """Forget parked helper modules that the loader drops."""
    with _PARKING:
        for name, module in modules.items():
            _unpark(name, module)


def set_aside_helpers(modules: Iterable[ModuleType]) -> None:
    """Mark helper modules whose file changed: no version going live puts them back."""
    for module in modules:
        loader = _loader_of(module)
        if loader is not None:
            loader.set_aside = True


def unpark_helpers(modules: Mapping[str, ModuleType]) -> dict[str, ModuleType]:
    """Take those of ``modules`` that are parked out of parking, and return them: a reload
    stashes its previous version's helpers, so its source runs them anew, and
    :func:`give_back_helpers` parks them again if the reload fails."""
    taken: dict[str, ModuleType] = {}
    with _PARKING:
        for name, module in modules.items():
            if module in _PARKED.get(name, ()):
                _unpark(name, module)
                taken[name] = module
    return taken


def give_back_helpers(modules: Mapping[str, ModuleType], going_live: bool) -> None:
    """Put helper modules back where their tree's sources find them: in ``sys.modules`` where
    the name is free, parked where another directory's helper holds it or while a source of
    another directory with a helper of that name runs (it would take this one).

    ``going_live``: a version whose import ran these goes live (a load or a reload commits).
    The name belongs to the copy whose import ran last, so it also takes the name from an
    older copy of the same file. Otherwise a previous version stays (a reload failed or was
    cancelled): its copies, older than any other, only take free names. A copy set aside (its
    file changed or is gone) is never put back: the sources using it keep it, and the next
    import runs what the disk holds.
    """
    with _PARKING:
        for name, module in modules.items():
            loader = _loader_of(module)
            if loader is None or loader.set_aside:
                continue
            current = sys.modules.get(name)
            root = _home_of(name, module)
            if current is module or root is None:
                continue
            if current is None and not _runs_with_a_helper(name, root):
                _unpark(name, module)
                sys.modules[name] = module
                bind_to_namespace(name, module)
            elif current is None or _home_of(name, current) != root:
                if module not in _PARKED.get(name, ()):
                    _PARKED.setdefault(name, []).append(module)
            elif going_live and _same_file(current, module) and _run(current) < loader.run:
                sys.modules[name] = module
                bind_to_namespace(name, module)


def _loader_of(module: ModuleType) -> SourceLoader | None:
    """The loader of a helper module (``None`` for any other module)."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return loader if isinstance(loader, SourceLoader) and is_helper_module(module) else None


def _run(module: ModuleType) -> int:
    loader = _loader_of(module)
    return loader.run if loader is not None else -1


def _same_file(module: ModuleType, other: ModuleType) -> bool:
    return getattr(module, "__file__", None) == getattr(other, "__file__", None)


def _home_of(name: str, module: ModuleType) -> Path | None:
    """The directory holding the top-level helper that module ``name`` belongs to (its
    ``helpers.py``, ``helpers/`` or namespace directory): the one directory whose sources
    import it. A sub-directory's helper of the same name is another helper."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    is_package = getattr(module.__spec__, "submodule_search_locations", None) is not None
    return Path(file).parents[name.count(".") + is_package]


def _runs_with_a_helper(name: str, root: Path) -> bool:
    """Whether a source of a directory other than ``root`` runs now that has a helper
    called ``name``."""
    return any(other != root and helper_at(other, name) is not None for other in _RUNNING)


def _unpark(name: str, module: ModuleType) -> None:
    """Forget ``module`` if it is parked (the caller holds ``_PARKING``)."""
    parked = _PARKED.get(name)
    if parked is not None and module in parked:
        parked.remove(module)
        if not parked:
            del _PARKED[name]


def _lies_in(module: ModuleType, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).parent.is_relative_to(root)


def bind_to_namespace(name: str, module: ModuleType) -> None:
    """Bind a module put back in ``sys.modules`` as an attribute of its namespace package, as
    its import did (``import nsdir.mod`` then reads ``nsdir.mod``)."""
    parent = _namespace_parent(name)
    if parent is not None:
        setattr(parent, name.rpartition(".")[2], module)


def unbind_from_namespace(name: str, module: ModuleType) -> None:
    """Let go of a module taken out of ``sys.modules`` where its namespace package holds it:
    a namespace package is no helper and stays, and ``from nsdir import mod`` reads the
    attribute before it imports anything."""
    parent = _namespace_parent(name)
    child = name.rpartition(".")[2]
    if parent is not None and vars(parent).get(child) is module:
        delattr(parent, child)


def _namespace_parent(name: str) -> ModuleType | None:
    """The namespace package (no file of its own) in ``sys.modules`` that ``name`` is in."""
    parent = sys.modules.get(name.rpartition(".")[0]) if "." in name else None
    if parent is None or getattr(parent, "__file__", None) is not None:
        return None
    return parent if hasattr(parent, "__path__") else None
