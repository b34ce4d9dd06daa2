"""Which helper modules a photon module uses: those it holds a value of, and those of its own
tree that its code names (``from helpers import VALUE`` keeps a value, not the module).

A loaded source keeps the helpers it uses in ``sys.modules`` and reloads when one of them
changes; a helper that comes later reloads the sources whose code names it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from luminal.finders import SourceLoader, helper_names, is_helper_module

__all__ = ["names_used", "referenced_helpers"]


def names_used(module: ModuleType) -> frozenset[str]:
    """The names the code of ``module`` refers to (empty for a module not compiled here)."""
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    return loader.names if isinstance(loader, SourceLoader) else frozenset()


def referenced_helpers(module: ModuleType) -> dict[str, ModuleType]:
    """Helper modules that ``module`` uses, directly or through other helpers: those it holds
    (a module, a class or function defined there) and those of its tree that its code imports
    by name (``from helpers import VALUE`` keeps only a value without a module)."""
    found: dict[str, ModuleType] = {}
    helpers = frozenset(helper_names())
    if not helpers:  # no helper was ever imported: none can be used
        return found
    pending = [module]
    while pending:
        current = pending.pop()
        for candidate in _held_modules(current, helpers):
            if (
                candidate is not current
                and is_helper_module(candidate)
                and candidate.__name__ not in found
            ):
                found[candidate.__name__] = candidate
                pending.append(candidate)
    return found


def _held_modules(module: ModuleType, helpers: frozenset[str]) -> Iterator[ModuleType]:
    """The modules ``module`` holds a value of, and the helpers of its tree (of the names
    ``helpers``) its code names."""
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            yield value
        else:
            owner = getattr(value, "__module__", None)
            held = sys.modules.get(owner) if isinstance(owner, str) else None
            if held is not None:
                yield held
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return
    for name in names_used(module) & helpers:
        imported = sys.modules.get(name)
        helper_file = getattr(imported, "__file__", None)
        if imported is not None and isinstance(helper_file, str):
            spec = imported.__spec__
            is_package = spec is not None and spec.submodule_search_locations is not None
            tree = Path(helper_file).parents[name.count(".") + is_package]
            if Path(file).is_relative_to(tree):  # its tree's helper, not another tree's
                yield imported
