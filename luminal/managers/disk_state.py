"""What a watched tree holds on disk now: its photon sources and their checksums.

Pure functions of the file system, shared by the watch's worker: which sources a changed path
stands for, whether a loaded source is still there, and what its content hashes to now.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from luminal.errors import DirectoryNotFoundError
from luminal.sources import (
    canonical_path,
    checksum_files,
    is_ignored_name,
    is_project_directory,
    read_source,
)

__all__ = [
    "check_disjoint",
    "current_checksum",
    "merge_overlapping",
    "source_present",
    "sources_at",
    "watched_directory",
]


def watched_directory(directory: str | os.PathLike[str]) -> Path:
    """The canonical path of a directory to watch.

    :raises TypeError: if ``directory`` is not a ``str`` or path.
    :raises DirectoryNotFoundError: if it is missing or not a directory.
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"photons_directory must be a str or os.PathLike, not {type(directory).__name__}"
        )
    path = canonical_path(directory)
    if not path.is_dir():
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


def source_present(path: Path) -> bool:
    """Whether a loaded source is still there: its file, or its package's ``__init__.py``."""
    return (path / "__init__.py").is_file() if path.is_dir() else path.is_file()


def current_checksum(path: Path) -> str | None:
    """SHA-512 of a source as it is on disk now (as the loader computes it), or ``None`` if it
    cannot be read (it vanished meanwhile)."""
    try:
        files = read_source(path)
    except OSError:
        return None
    return checksum_files(files, path) if files else None


def sources_at(root: Path, path: Path) -> set[Path]:
    """The photon sources at or below ``path`` as ``load_photons(root, recursive=True)`` sees
    them: loose ``.py`` files and top-level packages of plain directories, none inside a
    distribution's project directory."""
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        if (current / "__init__.py").is_file():
            return {current}
        if is_project_directory(current):
            return set()
    if path.is_file():
        return {path} if path.suffix == ".py" and path.name != "__init__.py" else set()
    if not path.is_dir():
        return set()
    if (path / "__init__.py").is_file():
        return {path}
    if is_project_directory(path):
        return set()
    found: set[Path] = set()
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            if not is_ignored_name(entry.name):
                found |= sources_at(root, Path(entry.path))
    return found


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
