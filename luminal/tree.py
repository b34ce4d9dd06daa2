"""Which entries of a directory tree are photon sources: one rule for loading, locking and trust.

``load_photons``, ``luminal lock`` (:func:`luminal.trust.write_lock`), the trust policy and
watching all ask this module, so they never disagree about what a tree holds. A source is a
``.py`` regular file or a package directory (one holding an ``__init__.py``). Never sources:
hidden, editor-temporary and cache names; build and environment output (``build``, ``dist``,
``*.egg-info``, virtual environments, ``.tox``, ``.nox``, ``site-packages``, ``node_modules``);
and, when walking recursively, a distribution's project directory (its photons are installed).
What cannot be a source although it is named like one (a FIFO, socket or device called ``*.py``,
a name that is not valid UTF-8, a directory symlink that loops) is *refused*: the caller reports it.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = [
    "TreeSelection",
    "display_path",
    "find_modules",
    "in_project_below",
    "is_ignored_name",
    "is_installed_location",
    "is_output_directory",
    "is_project_directory",
    "iter_package_files",
    "not_a_source_reason",
    "outermost_root",
    "scan_directory",
    "scan_module",
    "select_sources",
    "sources_at",
    "tree_holding",
]

IGNORED_DIRECTORIES = frozenset({"__pycache__"})
INSTALL_DIRECTORIES = frozenset({"site-packages", "dist-packages"})
OUTPUT_DIRECTORIES = INSTALL_DIRECTORIES | {
    "build",
    "dist",
    "node_modules",
    "venv",
    ".venv",
    ".tox",
    ".nox",
}


# Top-level directories of a flat-layout project that are not its packages (as setuptools'
# flat-layout discovery excludes them).
NOT_PACKAGES = frozenset(
    {"tests", "test", "docs", "doc", "examples", "example", "benchmarks", "scripts", "tools"}
)


def is_ignored_name(name: str) -> bool:
    """Hidden, editor-temporary and cache names that never hold a photon."""
    return (
        name.startswith((".", "#", "~"))
        or name.endswith(("~", ".swp", ".swx", ".tmp"))
        or name in IGNORED_DIRECTORIES
    )


def is_output_directory(path: Path) -> bool:
    """Build or environment output: never photon sources, whatever ``.py`` files it holds."""
    name = path.name
    return (
        name in OUTPUT_DIRECTORIES
        or name.endswith(".egg-info")
        or os.path.isfile(path / "pyvenv.cfg")
    )


def is_installed_location(path: Path) -> bool:
    """Whether ``path`` lies in an installation directory (``site-packages``, ``dist-packages``),
    where the modules next to an installed photon are other distributions, not its helpers."""
    return any(part in INSTALL_DIRECTORIES for part in path.parts)


def tree_holding(location: Path, roots: Sequence[Path]) -> tuple[Path, Path] | None:
    """The root (of canonical ``roots``: directories of loaded photons) that ``location`` lies
    in, and ``location`` spelled from it: the one rule for where a helper lies. Not if it lies in
    output there (a virtual environment's ``site-packages`` inside a photon directory holds
    installed packages) or the root is an installation directory (an installed photon's
    neighbours are distributions).

    A spelling that names no root may reach one through a symlink (a ``sys.path`` entry naming
    the tree through a link to it): only then are its directories resolved, which costs a
    system call per part, see :func:`_spelled_from_a_root`.
    """
    absolute = os.path.abspath(location)
    root = _root_above(absolute, roots)
    if root is None:
        spelled = _spelled_from_a_root(absolute, roots)
        if spelled is None:
            return None
        root, absolute = spelled
    current = root
    for part in Path(absolute).relative_to(root).parts[:-1]:
        current = current / part
        if is_ignored_name(part) or is_output_directory(current):
            return None
    return root, Path(absolute)


def _spelled_from_a_root(absolute: str, roots: Sequence[Path]) -> tuple[Path, str] | None:
    """The root that ``absolute`` reaches through symlinks among its directories, and the path
    spelled from it: its directories are resolved one by one up to the first that lies in a
    root, and the rest is kept as it is spelled, so a symlink further in (a helper directory
    linked out of the tree) is judged as one, not as where it leads."""
    *directories, name = Path(absolute).parts
    resolved = directories[0]
    for index, part in enumerate(directories[1:], start=1):
        resolved = os.path.join(resolved, part)
        if os.path.islink(resolved):
            resolved = os.path.realpath(resolved)
        root = _root_above(resolved, roots)
        if root is not None:
            return root, os.path.join(resolved, *directories[index + 1 :], name)
    return None


def _root_above(absolute: str, roots: Sequence[Path]) -> Path | None:
    """The innermost root, not an installation directory, that the absolute path lies in."""
    above = [root for root in roots if _lies_in(absolute, root) and not is_installed_location(root)]
    return max(above, key=lambda root: len(str(root)), default=None)


def outermost_root(root: Path, roots: Sequence[Path]) -> Path:
    """The outermost of ``roots`` that ``root`` lies in (itself if none): the photon directory a
    helper found in ``root`` is judged against, since directories of photons inside a tree are
    roots too, and a helper's own directory or a symlink within the tree is the tree's."""
    above = [other for other in roots if _lies_in(str(root), other)]
    return min(above, key=lambda other: len(str(other)), default=root)


def _lies_in(absolute: str, root: Path) -> bool:
    """Whether the absolute path is ``root`` or lies in it; compared as text, since
    ``Path.is_relative_to`` builds every parent of the path."""
    path_text = os.path.normcase(absolute)
    root_text = os.path.normcase(str(root))
    return path_text == root_text or path_text.startswith(root_text.rstrip(os.sep) + os.sep)


def is_project_directory(path: Path) -> bool:
    """A distribution's project root: its photons are meant to be installed, not walked."""
    return os.path.isfile(path / "pyproject.toml") or os.path.isfile(path / "setup.py")


def in_project_below(root: Path, path: Path) -> bool:
    """Whether ``path`` (in the tree at ``root``) lies in a distribution's project directory
    below ``root``: what is there belongs to the project's installed photons, not to the tree."""
    relative = path.relative_to(root)
    return any(is_project_directory(root / parent) for parent in relative.parents[:-1])


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can always be printed (undecodable bytes as ``\\xNN``)."""
    text = os.fspath(path)
    if text.isascii():  # nothing to escape (the common case, without encoding it)
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def not_a_source_reason(path: str | os.PathLike[str], mode: int | None = None) -> str | None:
    """Why ``path``, named like a source, cannot be read as one; ``None`` if it can.

    ``mode`` is its ``st_mode`` (symlinks followed) when the caller has it.
    """
    text = os.fspath(path)
    if not text.isascii():  # an ASCII name is valid UTF-8 without encoding it
        try:
            os.fsencode(text).decode("utf-8")
        except UnicodeDecodeError:
            return "its name is not valid UTF-8"
    if mode is None:
        try:
            mode = os.stat(text).st_mode
        except OSError as error:
            return f"it cannot be read ({error.strerror})"
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return f"it is not a regular file ({_kind_of(mode)})"


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return f"mode {stat.filemode(mode)}"


@dataclass
class TreeSelection:
    """The sources of a tree in sorted walk order, and what was refused on the way (with why)."""

    sources: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    projects: list[Path] = field(default_factory=list)


def select_sources(directory: Path, recursive: bool) -> TreeSelection:
    """The photon sources of the canonical ``directory``, as ``load_photons`` loads them.

    Loose ``.py`` files always; packages when ``recursive`` or when the directory holds only
    packages; with ``recursive``, plain sub-directories are walked too, except output and project
    directories and a directory symlink that leads back to one already walked (a loop). A
    distribution's project directory itself holds its packages only (see :func:`_select_project`).
    """
    selection = TreeSelection()
    if is_project_directory(directory):
        _select_project(directory, selection)
    else:
        _select(directory, recursive, selection, {directory})
    # A symlink to another source of the tree names that source, once.
    selection.sources = list(dict.fromkeys(selection.sources))
    return selection


def sources_at(root: Path, path: Path) -> set[Path]:
    """The sources at or below ``path`` (which lies in the tree at ``root``), or the package it
    lies in, as ``select_sources(root, recursive=True)`` selects them: for watching, which
    learns of one changed path at a time. A FIFO, socket or device named like a source file is
    one too, as ``select_sources`` refuses it: loading it fails with the reason."""
    if is_project_directory(root):
        return {
            source
            for source in select_sources(root, recursive=True).sources
            if source == path or source.is_relative_to(path) or path.is_relative_to(source)
        }
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        if os.path.isfile(current / "__init__.py"):
            return {current}
        if is_ignored_name(part) or is_output_directory(current) or is_project_directory(current):
            return set()
    if not os.path.isdir(path):
        is_source = path.suffix == ".py" and path.name != "__init__.py" and os.path.exists(path)
        return {path} if is_source else set()
    if is_ignored_name(path.name) or is_output_directory(path):
        return set()
    if os.path.isfile(path / "__init__.py"):
        return {path}
    if is_project_directory(path):
        return set()
    return set(select_sources(path, recursive=True).sources)


def _select_project(project: Path, selection: TreeSelection) -> None:
    """A distribution's project given as the tree: its packages only, from ``src/`` when it has
    one, else the flat layout's top-level packages (never ``setup.py``, ``noxfile.py``, docs or
    tests, which are not photons and must not run)."""
    source_root = project / "src"
    if os.path.isdir(source_root):
        _select(source_root, True, selection, {project, source_root})
        return
    for path, kind in scan_directory(project, selection.refused):
        if kind == "package" and path.name not in NOT_PACKAGES:
            selection.sources.append(path)


def _select(directory: Path, recursive: bool, selection: TreeSelection, walked: set[Path]) -> None:
    entries = scan_directory(directory, selection.refused)
    if not recursive:
        packages_only = bool(entries) and all(kind == "package" for _, kind in entries)
        wanted = {"file", "package"} if packages_only else {"file"}
        selection.sources.extend(path for path, kind in entries if kind in wanted)
        return
    for entry, kind in entries:
        if kind != "directory":
            selection.sources.append(entry)
        elif directory.is_relative_to(entry):
            selection.refused.append((entry, "it is a directory symlink that loops back"))
        elif is_project_directory(entry):
            selection.projects.append(entry)
        elif entry not in walked:
            walked.add(entry)
            _select(entry, recursive, selection, walked)


def scan_directory(directory: Path, refused: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """One directory's ``.py`` files, packages and plain sub-directories (not ignored, not
    output) in name order, each with its kind (``file``, ``package``, ``directory``); entries
    named like a source that cannot be one go to ``refused`` with the reason."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.ENOTDIR):  # not gone: unreadable
            refused.append((directory, f"it cannot be listed: {error.strerror}"))
        return []
    found: list[tuple[Path, str]] = []
    for entry in entries:
        if is_ignored_name(entry.name) or entry.name == "__init__.py":
            continue
        # The directory is canonical already, so only a symlink needs resolving.
        path = Path(os.path.realpath(entry.path)) if entry.is_symlink() else Path(entry.path)
        mode = _entry_mode(entry)
        if mode is None:
            continue  # vanished, or a dangling symlink
        if stat.S_ISDIR(mode):
            if not is_output_directory(Path(entry.path)):
                found.append(
                    (path, "package" if os.path.isfile(path / "__init__.py") else "directory")
                )
        elif entry.name.endswith(".py"):
            reason = not_a_source_reason(path, mode)
            if reason is None:
                found.append((path, "file"))
            else:
                refused.append((Path(entry.path), reason))
    return found


def _entry_mode(entry: os.DirEntry[str]) -> int | None:
    """The file type bits of ``entry`` (symlinks followed), ``None`` if it is gone.

    A plain file or directory is known from the listing itself (no ``stat`` per file); a
    symlink or any other kind of entry is asked for its whole mode.
    """
    try:
        if not entry.is_symlink():
            if entry.is_file(follow_symlinks=False):
                return stat.S_IFREG
            if entry.is_dir(follow_symlinks=False):
                return stat.S_IFDIR
        return entry.stat().st_mode
    except OSError:
        return None


def iter_package_files(package: Path) -> Iterator[Path]:
    """The ``.py`` regular files of a package directory, sorted; directory symlinks are followed
    once (a loop is not walked again). FIFOs, sockets and devices are left out."""
    walked: set[str] = set()
    for root, dirnames, filenames in os.walk(package, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            dirnames[:] = []
            continue
        walked.add(real)
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not is_ignored_name(name) and not is_output_directory(Path(root, name))
        )
        for filename in sorted(filenames):
            if filename.endswith(".py") and not is_ignored_name(filename):
                path = Path(root, filename)
                reason = not_a_source_reason(path)
                if reason is None:
                    yield path
                else:
                    logger.warning(
                        "skipping %s in package %s: %s", display_path(path), package, reason
                    )


def scan_module(path: Path) -> tuple[str, bool, bool]:
    """Whether ``path`` is a module or a package: ``(path, is_dir, packages_only)``, where
    ``packages_only`` tells a directory that holds only packages.

    :raises ModuleNotFoundError: if the path does not exist or is no Python module.
    """
    if os.path.isfile(path) and path.suffix == ".py":
        return str(path), False, False
    if os.path.isdir(path):
        if os.path.isfile(path / "__init__.py"):
            return str(path), True, False
        _, packages_only = find_modules(path)
        return str(path), True, packages_only
    raise ModuleNotFoundError(f"{path} is not a photon module or package", path=str(path))


def find_modules(directory: Path) -> tuple[list[tuple[str, bool]], bool]:
    """The photon sources directly in ``directory`` (:func:`scan_directory`), each with whether
    it is a directory, and whether they are all packages."""
    entries = scan_directory(directory, [])
    found = [(str(entry), kind != "file") for entry, kind in entries]
    return found, bool(entries) and all(kind == "package" for _, kind in entries)
