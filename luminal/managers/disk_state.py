"""What a watched tree holds on disk now: its photon sources and their checksums.

Pure functions of the file system, shared by the watch's worker: which sources a changed path
stands for, whether a loaded source is still there, and what its content hashes to now.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from luminal.errors import PhotonLoadError
from luminal.reading import canonical_path, checksum_files, read_source
from luminal.tree import is_ignored_name, select_sources
from luminal.trust import TrustPolicy

__all__ = [
    "check_disjoint",
    "current_checksum",
    "is_special_file",
    "lock_file_path",
    "merge_overlapping",
    "read_checksum",
    "source_in_place",
    "source_present",
    "sources_touched_by",
    "unreachable_links",
]


def check_disjoint(directories: Sequence[Path]) -> None:
    """Refuse two watched trees that share files: each source has one tree to follow it."""
    for index, directory in enumerate(directories):
        for other in directories[:index]:
            if directory.is_relative_to(other) or other.is_relative_to(directory):
                raise ValueError(f"watched directories overlap: {other} and {directory}")


def source_present(path: Path) -> bool:
    """Whether a loaded source is still there: its file, or its package's ``__init__.py``."""
    return (path / "__init__.py").is_file() if path.is_dir() else path.is_file()


def is_special_file(path: Path) -> bool:
    """Whether ``path`` is there but is neither a regular file nor a directory (a FIFO, a
    socket, a device): named like a source, its load fails with that reason, unread."""
    return os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path))


def source_in_place(root: Path, path: Path) -> bool:
    """Whether a loaded source of the tree at ``root`` is still the source it was loaded as: at
    the canonical path it was loaded from (a directory on its way that became a symlink leads to
    another file, which is not the one loaded), and not inside a package of the tree (a
    namespace directory that gained an ``__init__.py``: it is that package's module now)."""
    if not source_present(path) or os.path.realpath(path) != os.fspath(path):
        return False
    if not path.is_relative_to(root):
        return True
    return not any((root / parent / "__init__.py").is_file() for parent in _between(root, path))


def _between(root: Path, path: Path) -> list[Path]:
    """The directories from ``root`` (excluded) down to ``path``'s parent, relative to root."""
    return list(path.relative_to(root).parents)[:-1]


def sources_touched_by(root: Path, path: Path, sources: Mapping[Path, object]) -> set[Path]:
    """Loaded ``sources`` that ``path`` of the tree at ``root`` is, lies in (a package's module)
    or contains; an ``__init__.py`` touches every source of its directory, which it makes a
    package (or, gone, a namespace directory again)."""
    touched: set[Path] = set()
    if path.name == "__init__.py" and path.parent != root:
        touched.update(source for source in sources if source.is_relative_to(path.parent))
    for candidate in (path, *path.parents):
        if candidate in sources:
            touched.add(candidate)
        if candidate == root:
            break
    if path.suffix != ".py" or path.is_dir():
        touched.update(source for source in sources if source.is_relative_to(path))
    return touched


def unreachable_links(
    root: Path, sources: Iterable[Path], given_directory: Callable[[Path], Path | None]
) -> set[Path]:
    """The loaded sources of the tree at ``root`` that a symlink of the tree led to (out of it,
    or into a hidden directory, so no path of the tree spells them) and that no entry of the
    tree leads to any more: the link was removed or re-pointed. Walks the tree only when the
    tree has such sources."""
    prefix = os.path.join(root, "")
    linked = set()
    for path in sources:
        text = os.fspath(path)  # compared as text: building parents costs, per source, per save
        if given_directory(path) == root and (
            not text.startswith(prefix)
            or any(map(is_ignored_name, text[len(prefix) :].split(os.sep)))
        ):
            linked.add(path)
    if not linked:
        return set()
    return linked - set(select_sources(root, recursive=True).sources)


def current_checksum(path: Path) -> str | None:
    """SHA-512 of a source as it is on disk now (as the loader computes it), or ``None`` if it
    cannot be read (it vanished meanwhile, or is no longer a regular file)."""
    try:
        files = read_source(path)
    except (OSError, PhotonLoadError):
        return None
    return checksum_files(files, path) if files else None


def read_checksum(path: Path) -> tuple[str | None, dict[Path, bytes]]:
    """As :func:`current_checksum`, with the bytes hashed, so that a reload it decides on
    imports those bytes instead of reading the source again."""
    try:
        files = read_source(path)
    except (OSError, PhotonLoadError):
        return None, {}
    return (checksum_files(files, path) if files else None), files


def merge_overlapping(groups: Iterable[set[Path]]) -> list[set[Path]]:
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


def lock_file_path(trust: TrustPolicy | None) -> Path | None:
    """The canonical path of the trust policy's lock file, if it has one."""
    lock_file = trust.lock_file if trust is not None else None
    return None if lock_file is None else canonical_path(os.fspath(lock_file))
