"""Trust policy: which photon sources a loader agrees to run.

Three rules, each refusing with a :class:`~luminal.PhotonTrustError` that names the file and the
rule. They judge every source Luminal lets run, photon files and packages (every module of the
package) as much as the helper modules photons import, on the bytes that are then compiled
(:mod:`luminal.sources` reads, checks and compiles in one place):

- ``writable``: a file, or a directory it sits in below the photon directory, can be written by
  users other than its owner (world-writable, or group-writable for a group that is not the
  owner's private group), or belongs to another user than the one running the host (or root).
  Anyone who can write there could run code in the host. A user private group (Debian, Ubuntu
  and Fedora give each user one, and a umask of 002 with it) has no one else in it, so a
  checkout made with that umask is accepted.
- ``symlink``: a source, or a file of a package, reached through the photon directory resolves
  to a path outside it.
- ``lock``: a lock file pins each photon source to its SHA-512; a source that is missing from the
  lock or whose bytes changed is refused until ``luminal lock DIR`` is run again. The lock file
  itself must pass the ``writable`` rule (a lock anyone can write pins anything).

- ``compiled``: an import inside a photon directory would load compiled code (a ``.pyc``
  without its source, or an extension module such as ``.so``): bytes that cannot be read as
  source and judged. Installation directories (``site-packages``) are the installer's, not
  judged.

What the policy cannot see: compiled code that installed distributions bring, and code a photon
fetches or builds at run time (``exec``, ``eval``, downloads, its own ``importlib`` loaders); it
judges files, not what trusted code chooses to do.
"""

from __future__ import annotations

import os
import stat
import struct
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from luminal.errors import PhotonTrustError
from luminal.reading import canonical_path, checksum_files, read_regular_file, read_source
from luminal.tree import display_path, select_sources

__all__ = [
    "LOCK_FILE_NAME",
    "TrustPolicy",
    "iter_photon_sources",
    "lock_target",
    "read_lock",
    "write_lock",
]

LOCK_FILE_NAME = "luminal.lock"
LOCK_FORMAT_VERSION = 1


def iter_photon_sources(directory: Path) -> Iterator[Path]:
    """Every source ``load_photons(directory, recursive=True)`` loads, in its order."""
    yield from select_sources(canonical_path(directory), recursive=True).sources


def write_lock(
    directory: str | os.PathLike[str], lock_file: str | os.PathLike[str] | None = None
) -> Path:
    """Pin every photon source under ``directory`` to its SHA-512; return the lock file's path.

    The sources are those ``load_photons(directory, recursive=True)`` loads (one rule,
    :func:`luminal.tree.select_sources`). Keys are paths relative to the lock file's directory
    (with ``..`` when the lock lies elsewhere), so a checkout can be moved.

    :raises OSError: if a source cannot be read; nothing is written then.
    """
    root = canonical_path(directory)
    target = lock_target(directory, lock_file)
    base = canonical_path(target.parent)
    pins = {
        Path(os.path.relpath(source, base)).as_posix(): checksum_files(read_source(source), source)
        for source in iter_photon_sources(root)
    }
    document = {"luminal-lock": LOCK_FORMAT_VERSION, "algorithm": "sha512", "photons": pins}
    import json  # when a lock file is written or read, not with luminal

    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, target)
    return target


def lock_target(
    directory: str | os.PathLike[str], lock_file: str | os.PathLike[str] | None = None
) -> Path:
    """Where :func:`write_lock` writes the lock of ``directory``: ``lock_file``, or
    :data:`LOCK_FILE_NAME` in the directory."""
    return Path(lock_file) if lock_file is not None else canonical_path(directory) / LOCK_FILE_NAME


def read_lock(lock_file: str | os.PathLike[str]) -> dict[Path, str]:
    """The pins of a lock file: canonical source path → SHA-512 hex digest.

    Keys are relative to the directory the file lies in (a symlink naming it is followed).

    :raises ValueError: if the file is not a Luminal lock file.
    """
    import json

    path = Path(lock_file)
    try:
        document = json.loads(read_regular_file(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a Luminal lock file: {error}") from error
    except ImportError as error:  # not a regular file (PhotonLoadError)
        raise ValueError(f"{path} is not a Luminal lock file: {error}") from error
    if not isinstance(document, dict) or document.get("luminal-lock") != LOCK_FORMAT_VERSION:
        raise ValueError(f"{path} is not a Luminal lock file (version {LOCK_FORMAT_VERSION})")
    pins = document.get("photons")
    if not isinstance(pins, dict):
        raise ValueError(f"{path} has no 'photons' table")
    base = canonical_path(path).parent
    return {canonical_path(base / relative): str(digest) for relative, digest in pins.items()}


class TrustPolicy:
    """The rules a :class:`~luminal.Loader` applies before it runs a photon source.

    :param refuse_writable: refuse sources other users can write to, and a lock file they can
        write (rule ``writable``).
    :param refuse_escaping_symlinks: refuse sources whose real path leaves the photon directory
        (rule ``symlink``).
    :param lock_file: a lock file written by :func:`write_lock` (``luminal lock DIR``); when set,
        only pinned, unchanged sources run (rule ``lock``). It is re-read when it changes.
    :param refuse_compiled: refuse bytecode and extension modules that an import inside a photon
        directory would load (rule ``compiled``).
    :raises TypeError: if ``lock_file`` is neither ``None``, a ``str`` nor an ``os.PathLike``.

    A policy pickles (a host may hand its settings to worker processes): the copy has the
    settings and reads the lock file itself.
    """

    def __init__(
        self,
        refuse_writable: bool = True,
        refuse_escaping_symlinks: bool = True,
        lock_file: str | os.PathLike[str] | None = None,
        refuse_compiled: bool = True,
    ) -> None:
        if lock_file is not None and not isinstance(lock_file, (str, os.PathLike)):
            raise TypeError(
                f"lock_file must be a str or os.PathLike, not {type(lock_file).__name__}"
            )
        if isinstance(lock_file, str) and not lock_file:
            raise ValueError("lock_file must not be an empty path")
        self.refuse_writable = refuse_writable
        self.refuse_escaping_symlinks = refuse_escaping_symlinks
        self.refuse_compiled = refuse_compiled
        self.lock_file: Path | None = Path(os.fspath(lock_file)) if lock_file is not None else None
        self._pins: Mapping[Path, str] = {}
        self._pins_key: tuple[int, int, int, int] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        del state["_lock"]  # a lock cannot be pickled, and the pins it guards are this process's
        state.update(_pins={}, _pins_key=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TrustPolicy(refuse_writable={self.refuse_writable!r}, "
            f"refuse_escaping_symlinks={self.refuse_escaping_symlinks!r}, "
            f"lock_file={self.lock_file!r}, refuse_compiled={self.refuse_compiled!r})"
        )

    def check_source(
        self,
        source: Path,
        photon_directory: Path | None,
        files: Mapping[Path, bytes],
        checksum: str,
    ) -> None:
        """Apply every rule to a source whose ``files`` were read, before any of them runs.

        ``source`` is the path (a file, or a package directory) as reached, ``files`` the bytes
        read per file and ``checksum`` their SHA-512 (what the lock pins). This is the
        :data:`~luminal.reading.SourceCheck` that loaders give their import machinery.
        """
        self.check_location(source, photon_directory, files)
        self.check_checksum(canonical_path(source), checksum)

    def check_compiled(self, path: Path) -> None:
        """Apply the ``compiled`` rule to a bytecode or extension module about to be loaded."""
        if self.refuse_compiled:
            raise PhotonTrustError(
                f"refusing {display_path(path)}: it is compiled code (bytecode or an extension "
                "module) inside a photon directory, which the trust policy cannot read and judge "
                "(trust rule 'compiled')",
                str(path),
                "compiled",
            )

    def check_location(
        self,
        source: Path,
        photon_directory: Path | None = None,
        files: Mapping[Path, bytes] | None = None,
    ) -> None:
        """Apply the ``symlink`` and ``writable`` rules to a source.

        ``source`` is the canonical path; ``photon_directory`` is the directory it was loaded
        from, as given (its own symlinks are fine, a link inside it that leads out is not);
        ``files`` are the source's files as read (default: the source itself).
        """
        root = canonical_path(photon_directory) if photon_directory is not None else source.parent
        paths = [Path(path) for path in files] if files else [source]
        if self.refuse_escaping_symlinks:
            for path in [source, *paths]:
                real = canonical_path(path)
                if not real.is_relative_to(root):
                    raise PhotonTrustError(
                        f"refusing {display_path(source)}: {display_path(path)} is reached "
                        f"through a symlink that leads out of the photon directory "
                        f"{display_path(root)} (trust rule 'symlink')",
                        str(source),
                        "symlink",
                    )
        if self.refuse_writable:
            for path in self._paths_to_check(source, root, paths):
                _check_not_writable(path, source)

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

    @staticmethod
    def _paths_to_check(source: Path, root: Path, files: list[Path]) -> list[Path]:
        """The files, and every directory from each of them and from the source up to the
        photon directory: whoever may write one of those directories may swap what lies
        below it (a package's sub-directory that holds no file of its own included)."""
        files = list(dict.fromkeys(canonical_path(file) for file in files))
        paths = dict.fromkeys(files)
        paths.update(dict.fromkeys(file.parent for file in files))
        walked: set[Path] = set()
        for directory in [*(file.parent for file in files), source.parent]:
            while directory.is_relative_to(root) and directory not in walked:
                walked.add(directory)
                paths[directory] = None
                if directory == root:
                    break
                directory = directory.parent
        return list(paths)

    def _current_pins(self) -> Mapping[Path, str]:
        assert self.lock_file is not None
        lock_file = self.lock_file
        real = canonical_path(lock_file)
        try:
            status = real.stat()
        except FileNotFoundError as error:
            raise PhotonTrustError(
                f"lock file {lock_file} does not exist (trust rule 'lock')",
                str(lock_file),
                "lock",
            ) from error
        if self.refuse_writable:
            _check_not_writable(real, lock_file, what="lock file")
            # Whoever may write the directory of the file, or of a symlink naming it, may
            # replace what the lock says; in a sticky directory (such as /tmp) others cannot.
            for directory in dict.fromkeys([real.parent, canonical_path(lock_file.parent)]):
                if not directory.stat().st_mode & stat.S_ISVTX:
                    _check_not_writable(directory, lock_file, what="lock file")
        key = (status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
        with self._lock:
            if key != self._pins_key:
                try:
                    self._pins = read_lock(real)
                except (OSError, ValueError) as error:
                    raise PhotonTrustError(
                        f"cannot read lock file {lock_file}: {error} (trust rule 'lock')",
                        str(lock_file),
                        "lock",
                    ) from error
                self._pins_key = key
            return self._pins


def _check_not_writable(path: Path, source: Path, what: str = "") -> None:
    """Refuse ``source`` if ``path`` (itself or a directory it sits in) is another user's, or
    writable by other users; ``what`` names the source in the message (a lock file)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    subject = f"{what} {display_path(source)}" if what else display_path(source)
    consequence = ": a lock anyone can write pins anything" if what else ""
    acl = _access_acl(path)
    # With an access ACL, the mode's group bits show its mask: its entries tell who writes.
    group_writes = acl is None and status.st_mode & stat.S_IWGRP
    if status.st_mode & stat.S_IWOTH or (
        group_writes and not _is_private_group(status.st_gid, status.st_uid)
    ):
        raise PhotonTrustError(
            f"refusing {subject}: {display_path(path)} can be written by other users "
            f"(mode {stat.filemode(status.st_mode)}){consequence} (trust rule 'writable')",
            str(source),
            "writable",
        )
    writer = _acl_writer(acl, status.st_uid, status.st_gid) if acl is not None else None
    if writer is not None:
        raise PhotonTrustError(
            f"refusing {subject}: {display_path(path)} can be written by {writer} through its "
            f"access control list{consequence} (trust rule 'writable')",
            str(source),
            "writable",
        )
    if status.st_uid not in (os.geteuid(), 0):
        raise PhotonTrustError(
            f"refusing {subject}: {display_path(path)} belongs to another user "
            f"(uid {status.st_uid}){consequence} (trust rule 'writable')",
            str(source),
            "writable",
        )


_ACL_XATTR = "system.posix_acl_access"
_ACL_ENTRY = struct.Struct("<HHI")  # tag, permissions, user or group id
_ACL_USER, _ACL_OWNING_GROUP, _ACL_GROUP, _ACL_MASK = 0x02, 0x04, 0x08, 0x10
_ACL_WRITE = 0x02


def _access_acl(path: Path) -> list[tuple[int, int, int]] | None:
    """The entries (tag, permissions, id) of the POSIX access ACL of ``path``; ``None`` if it
    has none, or the platform or file system has no ACLs."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return None
    try:
        acl = getxattr(path, _ACL_XATTR)
    except OSError:  # no ACL (ENODATA), or none supported here
        return None
    return [_ACL_ENTRY.unpack_from(acl, offset) for offset in range(4, len(acl) - 7, 8)]


def _acl_writer(entries: list[tuple[int, int, int]], owner: int, group: int) -> str | None:
    """Who, besides the owner, may write through an access ACL: a named user other than the
    owner or root, or a group (named, or the owning one) that is not the owner's private
    group, with write permission that the ACL's mask lets through; ``None`` if no one."""
    mask = next((perm for tag, perm, _ in entries if tag == _ACL_MASK), _ACL_WRITE)
    for tag, perm, ident in entries:
        if not perm & mask & _ACL_WRITE:
            continue
        if tag == _ACL_USER and ident not in (owner, os.geteuid(), 0):
            return f"user {ident}"
        if tag == _ACL_GROUP and not _is_private_group(ident, owner):
            return f"group {ident}"
        if tag == _ACL_OWNING_GROUP and not _is_private_group(group, owner):
            return f"group {group}"
    return None


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
