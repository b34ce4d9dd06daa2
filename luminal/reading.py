"""Reading photon sources: regular files only, their SHA-512, and the check they must pass.

Every source byte that Luminal lets run is read by :func:`read_regular_file`: a FIFO, socket or
device named ``*.py`` is never opened for reading, so it cannot block a worker thread. The bytes
read are the bytes hashed, judged by a :data:`SourceCheck` (the trust policy's) and compiled
(:mod:`luminal.finders`), so no file swapped after the check ever runs.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from luminal.errors import PhotonLoadError
from luminal.tree import display_path, iter_package_files, not_a_source_reason

__all__ = [
    "SourceCheck",
    "canonical_path",
    "checksum_files",
    "existing_path",
    "file_checksum",
    "iter_source_files",
    "not_found_reason",
    "read_regular_file",
    "read_source",
    "read_to_end",
]

SourceCheck = Callable[[Path, "Path | None", Mapping[Path, bytes], str], None]
"""Judges a source before any of it runs: ``(source, photon_directory, files, checksum)``, with
the source's canonical path, the directory it was loaded from (``None``: its own), the bytes read
per file and their checksum; refuses by raising (the trust policy's ``check_source``)."""

CompiledCheck = Callable[[Path], None]
"""Judges a compiled module (bytecode or an extension) that an import inside a photon directory
would load; refuses by raising (the trust policy's ``check_compiled``)."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def canonical_path(path: str | os.PathLike[str]) -> Path:
    """The one spelling of ``path``: absolute, symlinks and ``..`` resolved, no trailing slash."""
    return Path(os.path.realpath(os.fspath(path)))


def existing_path(path: str | os.PathLike[str]) -> tuple[Path, int]:
    """The canonical spelling of a path a user gave, and its ``st_mode`` (symlinks followed).

    :raises OSError: if nothing can be reached there: it is missing, its name is too long or
        holds a NUL byte, or a directory on the way cannot be searched (``strerror`` says which).
    """
    text = os.fspath(path)
    if "\0" in text:
        raise OSError(errno.EINVAL, "a path cannot hold a NUL byte")
    canonical = canonical_path(text)
    return canonical, os.stat(canonical).st_mode


def not_found_reason(error: OSError) -> str:
    """Why :func:`existing_path` found nothing, as the end of a sentence naming the path."""
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "does not exist"
    return f"cannot be reached: {error.strerror}"


def iter_source_files(path: Path) -> Iterator[Path]:
    """The ``.py`` files that make up a source: the file itself, or a package's files, sorted."""
    if not path.is_dir():
        yield path
        return
    yield from iter_package_files(path)


def read_regular_file(path: Path, mode: int | None = None) -> bytes:
    """The bytes of ``path``, which must be a regular file (symlinks followed).

    Opened without blocking and checked on the open descriptor, so a FIFO, socket or device
    never blocks the thread and is never read, even when swapped in after a check by name.
    ``mode`` is its ``st_mode`` (symlinks followed) when the caller has it.

    :raises PhotonLoadError: if it is not a regular file.
    """
    reason = not_a_source_reason(path, mode)
    if reason is None:
        descriptor = os.open(path, _OPEN_FLAGS)
        try:
            status = os.fstat(descriptor)
            if stat.S_ISREG(status.st_mode):
                return read_to_end(descriptor, status.st_size)
        finally:
            os.close(descriptor)
        reason = not_a_source_reason(path, status.st_mode)
    raise PhotonLoadError(f"refusing to read {display_path(path)}: {reason}", path)


def read_to_end(descriptor: int, size: int) -> bytes:
    """Everything left to read from ``descriptor``, whose file had ``size`` bytes (it may have
    changed since).

    One read asks for a byte more than ``size``: exactly ``size`` bytes back means the end of
    the file was reached. Anything else (the file grew, or a read returned less than asked) is
    read on until a read returns nothing.
    """
    first = os.read(descriptor, size + 1)
    if len(first) == size:
        return first
    chunks = [first]
    while chunks[-1]:
        chunks.append(os.read(descriptor, max(size + 1, 1 << 16)))
    return b"".join(chunks)


def read_source(path: Path, mode: int | None = None) -> dict[Path, bytes]:
    """Read every file of a source once; the bytes read are the bytes hashed and compiled.
    ``mode`` is the source's ``st_mode`` (symlinks followed) when the caller has it."""
    if mode is not None and not stat.S_ISDIR(mode):
        return {path: read_regular_file(path, mode)}
    return {file_path: read_regular_file(file_path) for file_path in iter_source_files(path)}


def checksum_files(files: dict[Path, bytes], root: Path) -> str:
    """SHA-512 of a source's bytes; for a package, of every file's relative path and bytes."""
    digest = hashlib.sha512()
    if len(files) == 1 and root in files:
        digest.update(files[root])
        return digest.hexdigest()
    for file_path in sorted(files):
        digest.update(file_path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha512(files[file_path]).digest())
    return digest.hexdigest()


async def file_checksum(filename: str, block: int = 2**20) -> str | None:
    """SHA-512 of a file, read in a worker thread in ``block``-sized chunks; ``None`` if it
    cannot be read.

    :raises TypeError: if ``filename`` is not a path (an ``int`` would be taken for an open file
        descriptor, read and closed) or ``block`` not an ``int``.
    :raises ValueError: if ``block`` is not positive (``read(0)`` would hash nothing).
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"filename must be a str or os.PathLike, not {type(filename).__name__}")
    if isinstance(block, bool) or not isinstance(block, int):
        raise TypeError(f"block must be an int (bytes per read), not {type(block).__name__}")
    if block <= 0:
        raise ValueError(f"block must be a positive number of bytes, not {block}")

    def digest() -> str:
        hasher = hashlib.sha512()
        with open(filename, "rb") as stream:
            while chunk := stream.read(block):
                hasher.update(chunk)
        return hasher.hexdigest()

    try:
        return await asyncio.to_thread(digest)
    except OSError:
        return None
