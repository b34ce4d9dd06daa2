"""A code cache that can never be stale: compiled photon code keyed by the bytes compiled.

Photons are compiled from the bytes that were read, hashed and checked (:mod:`luminal.reading`),
never from a timestamp ``.pyc``. :class:`CodeCache` keeps the compiled code of those bytes, keyed
by the SHA-512 of the interpreter's magic number, the optimisation level, the file name (code
objects carry it into tracebacks) and the exact source bytes, so a second start of the host
unmarshals instead of compiling, and changed bytes are always a new key. What a reload compiles
(a later version of a file this cache has seen) is not stored.

Each entry is the SHA-512 of its key and payload followed by the marshalled code; an entry that
does not match (truncated, corrupt, or copied under another key's name) is ignored and rewritten.
Entries are written to a temporary file and renamed into place, owner-only (directory ``0o700``,
files ``0o600``). With a trust policy, a cache directory that is not the user's own or that others
may write is not used, and neither is an entry that is not the user's own or that others may write
(the directory is checked once, each entry on the descriptor it is read from: a directory swapped
for another user's later holds no entry of this user). The directory is kept under
:data:`MAX_BYTES`: beyond it, the oldest entries are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import marshal
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import CodeType

from luminal.reading import read_to_end

__all__ = ["MAX_BYTES", "CodeCache", "default_directory"]

logger = logging.getLogger(__name__)

MAX_BYTES = 64 * 2**20
"""The size the cache directory is kept under, in bytes."""

_PRUNE_EVERY = 512
"""Entries written between two checks of the directory's size (and at the first one)."""

_SUFFIX = ".code"
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIGEST_SIZE = hashlib.sha512().digest_size


def default_directory() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/luminal/code`` (``~/.cache`` if unset;
    ``%LOCALAPPDATA%`` on Windows)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not base and sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "luminal" / "code"


class CodeCache:
    """Compiled code of checked source bytes, stored in ``directory``.

    ``strict`` (a trust policy is on) refuses a directory that is not owned by the user or that
    group or others may write; the cache is then off, which is logged once. Any failure to read
    or write an entry only costs a compile.
    """

    def __init__(self, directory: Path, strict: bool = False, max_bytes: int = MAX_BYTES) -> None:
        self.directory = directory
        self.strict = strict
        self.max_bytes = max_bytes
        self._usable: bool | None = None
        self._writes = 0
        self._compiled_names: set[str] = set()
        self._lock = threading.Lock()
        self._directory_name = os.fspath(directory)

    def key(self, source: bytes, filename: str) -> str:
        digest = hashlib.sha512(importlib.util.MAGIC_NUMBER)
        digest.update(b"O%d\0" % sys.flags.optimize)
        digest.update(os.fsencode(filename) + b"\0")
        digest.update(source)
        return digest.hexdigest()

    def code(
        self, source: bytes, filename: str, compile_source: Callable[[], CodeType]
    ) -> CodeType:
        """The code of ``source``: unmarshalled from its entry, or compiled and stored.

        Only the first version of each file name this cache sees is stored: a later one is an
        edit being reloaded, likely replaced again soon, and writing its entry (a new file)
        would cost the reload more than compiling it costs the next start.
        """
        if not self.usable():
            return compile_source()
        with self._lock:
            first_version = filename not in self._compiled_names
            self._compiled_names.add(filename)
        key = self.key(source, filename)
        entry = os.path.join(self._directory_name, key + _SUFFIX)
        code = self._read(entry, key)
        if code is None:
            code = compile_source()
            if first_version:
                self._write(entry, key, code)
        return code

    def usable(self) -> bool:
        """Whether the directory exists (it is created) and may be trusted; decided once."""
        with self._lock:
            if self._usable is None:
                self._usable = self._check_directory()
            return self._usable

    def _check_directory(self) -> bool:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            status = os.stat(self.directory)
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
            logger.warning("code cache %s is off: %s", self.directory, error)
            return False
        if not self.strict or _own_private(status):
            return True
        logger.warning(
            "code cache %s is not used under the trust policy: it is not this user's own, "
            "or others may write to it",
            self.directory,
        )
        return False

    def _read(self, entry: str, key: str) -> CodeType | None:
        try:
            data = _read_entry(entry, self.strict)
        except OSError:
            return None
        if data is None:
            return None
        payload = data[_DIGEST_SIZE:]
        if _digest(key, payload) != data[:_DIGEST_SIZE]:
            return None
        try:
            code = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, CodeType) else None

    def _write(self, entry: str, key: str, code: CodeType) -> None:
        import tempfile  # only once an entry is written: it costs an import

        payload = marshal.dumps(code)
        try:
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        except OSError:
            return
        try:
            with open(descriptor, "wb") as stream:
                stream.write(_digest(key, payload) + payload)
            os.replace(temporary, entry)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return
        with self._lock:
            prune = self._writes % _PRUNE_EVERY == 0
            self._writes += 1
        if prune:
            self.prune()

    def prune(self) -> None:
        """Remove the oldest entries (by modification time) until the directory holds at most
        :attr:`max_bytes`."""
        entries: list[tuple[float, int, str]] = []
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    if item.name.endswith(_SUFFIX):
                        with contextlib.suppress(OSError):
                            status = item.stat()
                            entries.append((status.st_mtime, status.st_size, item.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
            total -= size


def _digest(key: str, payload: bytes) -> bytes:
    """What an entry starts with: the SHA-512 of its key and payload, so that neither a corrupt
    payload nor an entry copied under another key's name is used."""
    return hashlib.sha512(key.encode() + b"\0" + payload).digest()


def _read_entry(entry: str, strict: bool) -> bytes | None:
    """The bytes of a cache entry, read to its end; ``None`` if it is not a regular file, or
    with ``strict`` if it is not the user's own or others may write it.

    One descriptor, no buffered reader (``Path.read_bytes`` costs several times the read);
    opened without blocking, so a FIFO planted under the entry's name is never waited on.
    """
    descriptor = os.open(entry, _OPEN_FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None
        if strict and not _own_private(status):
            return None
        return read_to_end(descriptor, status.st_size)
    finally:
        os.close(descriptor)


def _own_private(status: os.stat_result) -> bool:
    """Whether a file is the user's own and only its owner may write it."""
    getuid = getattr(os, "getuid", None)
    owned = getuid is None or status.st_uid == getuid()
    return owned and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
