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


def _module_name(module: str) -> str:
    """``managers/handler.py`` → ``luminal.managers.handler`` (a package is its ``__init__``)."""
    parts = ["luminal", *module[: -len(".py")].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _run_time_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports while it runs (not under
    ``TYPE_CHECKING``, not inside a function), its parent packages included: an import of a
    sub-module runs its package first, holding the sub-module's lock. ``luminal`` itself is
    left out: it is imported (with what it imports up front) before any name is asked of it."""
    imported: set[str] = {name.rpartition(".")[0]}
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    with_parents = {
        ".".join(n.split(".")[:i]) for n in imported for i in range(1, n.count(".") + 2)
    }
    return (with_parents & known) - {name, "luminal"}


def _cycle_from(roots: list[str], imports: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``imports`` reachable from ``roots`` (names along it), ``None`` if none."""
    done: set[str] = set()
    for root in roots:
        if root in done:
            continue
        path = [root]
        stack = [iter(sorted(imports.get(root, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path.pop())
            elif nxt in path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                stack.append(iter(sorted(imports.get(nxt, ()))))
    return None


def test_what_a_lazy_name_imports_has_no_import_cycle() -> None:
    # ``luminal.X`` imports X's module on the thread that asks: two threads asking for two
    # names at once each hold a module lock, and a cycle among the modules (a package that
    # imports its own sub-module is one) makes them wait for each other (_DeadlockError).
    import luminal

    trees = {_module_name(module): tree for module, tree in _modules()}
    imports = {name: _run_time_imports(name, tree, set(trees)) for name, tree in trees.items()}
    roots = sorted({*vars(luminal)["_LAZY_NAMES"].values(), "luminal.managers"})
    assert _cycle_from(roots, imports) is None


def test_the_cycle_check_sees_a_package_that_imports_its_sub_module() -> None:
    known = {"luminal", "luminal.managers", "luminal.managers.handler"}
    package = ast.parse("from luminal.managers.handler import Handler\n")
    handler = ast.parse("import os\nfrom luminal import errors\n")
    imports = {
        "luminal.managers": _run_time_imports("luminal.managers", package, known),
        "luminal.managers.handler": _run_time_imports("luminal.managers.handler", handler, known),
    }
    cycle = ["luminal.managers.handler", "luminal.managers", "luminal.managers.handler"]
    assert _cycle_from(["luminal.managers.handler"], imports) == cycle
