"""The package's layering, checked on its syntax trees: who may import the loader, who may read
whose private attributes, and how large the loader's parts may grow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "luminal"

TOP_LAYER = {"__init__.py", "__main__.py", "runner.py", "testing.py"}
"""Modules (relative to the package) that may import ``luminal.managers.loader``; the modules
of the CLI package, ``luminal/cli/``, may too."""

PRIVATE_READS_ALLOWED = {
    ("managers/lifecycle.py", "_luminal_ownership"): "IPhoton's ownership record (a private "
    "name, so it never clashes with a photon's own attributes), given the plain threads a "
    "photon started by itself",
    ("watcher.py", "_hand_over"): "the watchdog event handler and its DirectoryWatcher are one "
    "unit of the same module",
}
"""(module, attribute) → why a module reads that private attribute of another object."""


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def _in_top_layer(module: str) -> bool:
    return module in TOP_LAYER or module.startswith("cli/")


def _imports_loader(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _names_loader(node)
    ]


def _names_loader(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == "luminal.managers.loader" for alias in node.names)
    return node.module == "luminal.managers.loader" or (
        node.module == "luminal.managers" and any(alias.name == "loader" for alias in node.names)
    )


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_reads(tree: ast.Module) -> list[tuple[int, str]]:
    """Attribute accesses ``x._name`` where ``x`` is not ``self`` or ``cls``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.append((node.lineno, node.attr))
    return found


def _sized_modules() -> Iterator[tuple[str, ast.Module, int]]:
    for module, tree in _modules():
        yield module, tree, len((PACKAGE / module).read_text().splitlines())


def test_only_the_top_layer_imports_the_loader() -> None:
    offenders = {
        module: lines
        for module, tree in _modules()
        if not _in_top_layer(module) and (lines := _imports_loader(tree))
    }
    assert offenders == {}


def test_the_layer_check_sees_an_import_under_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from luminal.managers.loader import Loader\n"
    )
    assert _imports_loader(tree) == [3]


def test_no_module_reads_another_objects_private_attributes() -> None:
    offenders = [
        f"{module}:{line}: .{name}"
        for module, tree in _modules()
        for line, name in _private_reads(tree)
        if (module, name) not in PRIVATE_READS_ALLOWED
    ]
    assert offenders == []


def test_the_private_attribute_check_sees_a_foreign_read() -> None:
    tree = ast.parse("self._mine\ncls._ours\nloader._sources\nself.part._state\nx.__dict__\n")
    assert _private_reads(tree) == [(3, "_sources"), (4, "_state")]


def test_no_module_is_over_500_lines() -> None:
    assert {module: lines for module, _, lines in _sized_modules() if lines > 500} == {}


def test_no_function_is_over_50_lines() -> None:
    long_functions = [
        f"{module}:{node.lineno} {node.name} ({length} lines)"
        for module, tree, _ in _sized_modules()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > 50
    ]
    assert long_functions == []


def test_the_loader_class_body_is_under_460_lines() -> None:
    # pluggy's PluginManager, the model facade, is about 460 lines: each public method of the
    # Loader forwards to a part, so the class grows only by the API it offers.
    tree = ast.parse((PACKAGE / "managers" / "loader.py").read_text())
    loader = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Loader"
    )
    assert (loader.end_lineno or loader.lineno) - loader.lineno + 1 < 460
