"""Trust policy: which photon files a loader agrees to run.

Three rules, each refusing with a :class:`~luminal.PhotonTrustError` that names the file and the
rule:

- ``writable``: the file, or a directory it sits in below the photon directory, can be written by
  users other than its owner (world-writable, or group-writable for a group that is not the
  owner's private group), or belongs to another user than the one running the host (or root).
  Anyone who can write there could run code in the host. A user private group (Debian, Ubuntu
  and Fedora give each user one, and a umask of 002 with it) has no one else in it, so a
  checkout made with that umask is accepted.
- ``symlink``: a photon reached through the photon directory resolves to a path outside it.
- ``lock``: a lock file pins each photon source to its SHA-512; a source that is missing from the
  lock or whose bytes changed is refused until ``luminal lock DIR`` is run again. The check runs
  on the very bytes that are then compiled, so a file swapped after the check is never run.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from luminal.errors import PhotonTrustError
from luminal.sources import (
    canonical_path,
    checksum_files,
    is_ignored_name,
    iter_source_files,
    read_source,
)

__all__ = ["LOCK_FILE_NAME", "TrustPolicy", "iter_photon_sources", "read_lock", "write_lock"]

LOCK_FILE_NAME = "luminal.lock"
LOCK_FORMAT_VERSION = 1


def iter_photon_sources(directory: Path) -> Iterator[Path]:
    """Every source ``load_photons(directory, recursive=True)`` would consider, sorted."""
    for entry in sorted(directory.iterdir()):
        if is_ignored_name(entry.name) or entry.name == "__init__.py":
            continue
        if entry.is_dir():
            if (entry / "__init__.py").is_file():
                yield entry
            else:
                yield from iter_photon_sources(entry)
        elif entry.suffix == ".py" and entry.is_file():
            yield entry


def write_lock(
    directory: str | os.PathLike[str], lock_file: str | os.PathLike[str] | None = None
) -> Path:
    """Pin every photon source under ``directory`` to its SHA-512; return the lock file's path.

    Keys are paths relative to the lock file's directory (with ``..`` when the lock lies
    elsewhere), so a checkout can be moved.
    """
    root = canonical_path(directory)
    target = Path(lock_file) if lock_file is not None else root / LOCK_FILE_NAME
    base = canonical_path(target.parent)
    pins = {
        Path(os.path.relpath(source, base)).as_posix(): checksum_files(read_source(source), source)
        for source in iter_photon_sources(root)
    }
    document = {"luminal-lock": LOCK_FORMAT_VERSION, "algorithm": "sha512", "photons": pins}
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, target)
    return target


def read_lock(lock_file: str | os.PathLike[str]) -> dict[Path, str]:
    """The pins of a lock file: canonical source path → SHA-512 hex digest.

    :raises ValueError: if the file is not a Luminal lock file.
    """
    path = Path(lock_file)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a Luminal lock file: {error}") from error
    if not isinstance(document, dict) or document.get("luminal-lock") != LOCK_FORMAT_VERSION:
        raise ValueError(f"{path} is not a Luminal lock file (version {LOCK_FORMAT_VERSION})")
    pins = document.get("photons")
    if not isinstance(pins, dict):
        raise ValueError(f"{path} has no 'photons' table")
    base = canonical_path(path.parent)
    return {canonical_path(base / relative): str(digest) for relative, digest in pins.items()}


@dataclass
class TrustPolicy:
    """The rules a :class:`~luminal.Loader` applies before it runs a photon source.

    :param refuse_writable: refuse sources other users can write to (rule ``writable``).
    :param refuse_escaping_symlinks: refuse sources whose real path leaves the photon directory
        (rule ``symlink``).
    :param lock_file: a lock file written by :func:`write_lock` (``luminal lock DIR``); when set,
        only pinned, unchanged sources run (rule ``lock``). It is re-read when it changes.
    """

    refuse_writable: bool = True
    refuse_escaping_symlinks: bool = True
    lock_file: Path | None = None
    _pins: Mapping[Path, str] = field(default_factory=dict, init=False, repr=False)
    _pins_key: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def check_location(self, source: Path, photon_directory: Path | None = None) -> None:
        """Apply the ``symlink`` and ``writable`` rules to a source before it is read.

        ``source`` is the canonical path; ``photon_directory`` is the directory it was loaded
        from, as given (its own symlinks are fine, a link inside it that leads out is not).
        """
        root = canonical_path(photon_directory) if photon_directory is not None else source.parent
        if self.refuse_escaping_symlinks and not source.is_relative_to(root):
            raise PhotonTrustError(
                f"refusing {source}: it is reached through a symlink that leads out of the "
                f"photon directory {root} (trust rule 'symlink')",
                str(source),
                "symlink",
            )
        if self.refuse_writable:
            for path in self._paths_to_check(source, root):
                self._check_not_writable(path, source)

    def check_checksum(self, source: Path, checksum: str) -> None:
        """Apply the ``lock`` rule to the bytes about to be compiled."""
        if self.lock_file is None:
            return
        pinned = self._current_pins().get(source)
        if pinned is None:
            raise PhotonTrustError(
                f"refusing {source}: it is not pinned in {self.lock_file}; run "
                f"'luminal lock' to pin it (trust rule 'lock')",
                str(source),
                "lock",
            )
        if pinned != checksum:
            raise PhotonTrustError(
                f"refusing {source}: its SHA-512 differs from the one pinned in {self.lock_file}; "
                f"run 'luminal lock' again if the change is intended (trust rule 'lock')",
                str(source),
                "lock",
            )

    def _paths_to_check(self, source: Path, root: Path) -> list[Path]:
        paths = list(iter_source_files(source))
        paths.extend({file.parent for file in paths if file.parent != source.parent})
        directory = source.parent
        while directory.is_relative_to(root):
            paths.append(directory)
            if directory == root:
                break
            directory = directory.parent
        return paths

    @staticmethod
    def _check_not_writable(path: Path, source: Path) -> None:
        try:
            status = path.stat()
        except FileNotFoundError:
            return
        if status.st_mode & stat.S_IWOTH or (
            status.st_mode & stat.S_IWGRP and not _is_private_group(status.st_gid, status.st_uid)
        ):
            raise PhotonTrustError(
                f"refusing {source}: {path} can be written by other users "
                f"(mode {stat.filemode(status.st_mode)}) (trust rule 'writable')",
                str(source),
                "writable",
            )
        if status.st_uid not in (os.geteuid(), 0):
            raise PhotonTrustError(
                f"refusing {source}: {path} belongs to another user (uid {status.st_uid}) "
                f"(trust rule 'writable')",
                str(source),
                "writable",
            )

    def _current_pins(self) -> Mapping[Path, str]:
        assert self.lock_file is not None
        try:
            status = self.lock_file.stat()
        except FileNotFoundError as error:
            raise PhotonTrustError(
                f"lock file {self.lock_file} does not exist (trust rule 'lock')",
                str(self.lock_file),
                "lock",
            ) from error
        key = (status.st_mtime_ns, status.st_size)
        with self._lock:
            if key != self._pins_key:
                try:
                    self._pins = read_lock(self.lock_file)
                except (OSError, ValueError) as error:
                    raise PhotonTrustError(
                        f"cannot read lock file {self.lock_file}: {error} (trust rule 'lock')",
                        str(self.lock_file),
                        "lock",
                    ) from error
                self._pins_key = key
            return self._pins


def _is_private_group(gid: int, uid: int) -> bool:
    """Whether ``gid`` is the user private group of ``uid``: the owner's primary group, named
    after the owner, with no other member and no other user's primary group."""
    import grp  # POSIX only, as the ``writable`` rule is
    import pwd

    try:
        owner = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    if owner.pw_gid != gid or group.gr_name != owner.pw_name:
        return False
    if any(member != owner.pw_name for member in group.gr_mem):
        return False
    return all(user.pw_gid != gid or user.pw_uid == uid for user in pwd.getpwall())
