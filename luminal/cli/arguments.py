"""What the command line's paths and trust options must satisfy beyond what argparse checks."""

from __future__ import annotations

import argparse
import errno
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from luminal.cli.exits import UsageError
from luminal.cli.output import relative_path
from luminal.reading import canonical_path, existing_path
from luminal.trust import LOCK_FILE_NAME, TrustPolicy, read_lock

__all__ = [
    "check_directories",
    "group_argument",
    "package_tree_warning",
    "path_argument",
    "require_directory",
    "seconds",
    "tree_of",
    "trust_policy",
]


def trust_policy(args: argparse.Namespace, directories: Sequence[Path]) -> TrustPolicy | None:
    """The trust policy of ``luminal run`` and ``check``: on unless ``--no-trust``; pinned to
    ``--lock`` or, without it, to the one ``luminal.lock`` found in ``directories``.

    :raises UsageError: if the lock file is missing or unreadable, or several DIRs hold one.
    """
    if not args.trust:
        if args.lock is not None:
            raise UsageError("--lock and --no-trust contradict each other")
        return None
    lock_file: Path | None = args.lock
    if lock_file is None:
        lock_file = _lock_file_in(directories)
    if lock_file is not None:
        try:
            read_lock(lock_file)
        except (OSError, ValueError) as error:
            raise UsageError(
                f"cannot use lock file {lock_file}: {error}; write it with 'luminal lock DIR'"
            ) from error
    return TrustPolicy(lock_file=lock_file)


def _lock_file_in(directories: Sequence[Path]) -> Path | None:
    """The one ``luminal.lock`` of ``directories``, or ``None``.

    :raises UsageError: if several hold one.
    """
    candidates = dict.fromkeys(canonical_path(each) / LOCK_FILE_NAME for each in directories)
    found = [each for each in candidates if os.path.isfile(each)]
    if len(found) > 1:
        raise UsageError(
            f"several lock files ({', '.join(map(str, found))}); one lock pins every photon "
            "of a run, so choose it with --lock FILE"
        )
    return found[0] if found else None


def require_directory(raw: str | os.PathLike[str]) -> None:
    """:raises UsageError: unless ``raw`` is an existing directory, saying which it is not."""
    try:
        _, mode = existing_path(raw)
    except OSError as error:
        if os.path.islink(raw):
            raise UsageError(f"{os.fspath(raw)}: not a directory") from error
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise UsageError(f"{os.fspath(raw)}: no such directory") from error
        raise UsageError(f"{os.fspath(raw)}: {error.strerror}") from error
    if stat.S_ISREG(mode):
        raise UsageError(f"{os.fspath(raw)}: is a file, not a directory")
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{os.fspath(raw)}: not a directory")


def check_directories(raw_directories: Sequence[str]) -> list[Path]:
    """The DIRs of ``luminal run``, each an existing directory, none inside another.

    :raises UsageError: otherwise.
    """
    directories: list[Path] = []
    for raw in raw_directories:
        require_directory(raw)
        directory = canonical_path(raw)
        for other in directories:
            if directory.is_relative_to(other) or other.is_relative_to(directory):
                raise UsageError(f"{raw}: overlaps {relative_path(other)}; give each tree once")
        directories.append(directory)
    return directories


def tree_of(path: Path) -> Path:
    """The photon directory a PATH of ``check`` lies in, where ``luminal lock`` of that
    directory writes its lock: a directory itself (read as a tree, as ``run`` reads it), a
    file's directory, and for a package's ``__init__.py`` (which loads the package) the
    directory holding the package."""
    if os.path.isdir(path):
        return path
    if path.name == "__init__.py":
        return path.parent.parent
    return path.parent


def package_tree_warning(directory: str | os.PathLike[str]) -> str | None:
    """What to say when a DIR is itself a package: ``run`` and ``check`` read it as a tree of
    photons, where its own ``__init__.py`` is no source, so its photons would silently not run."""
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        return None
    return (
        f"{relative_path(Path(directory))} is a package: its files are read as a tree of "
        "photons and its __init__.py is not one of them; to run the package as one photon, "
        "give the directory that holds it"
    )


def path_argument(text: str) -> str:
    """A path given on the command line (an argparse ``type``): an empty one names no file, and
    is never taken for the current directory (``Path("")`` is ``.``)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file or directory")
    return text


def seconds(text: str) -> float:
    """A positive number of seconds (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds over 0, not {text}")
    return value


def group_argument(text: str) -> str:
    """An entry-point group (an argparse ``type``): not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an entry-point group needs a name")
    return text
