"""Reading the entry points and metadata of installed distributions, as ``importlib_metadata``
answers them, for less: only the ``entry_points.txt`` files that name a group are parsed, and a
distribution's name and version are read from its metadata's header lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from luminal.errors import PhotonLoadError
from luminal.reading import read_regular_file

if TYPE_CHECKING:  # imported when entry points are looked up, not with luminal
    import importlib_metadata

__all__ = ["distribution_of", "group_entry_points", "metadata_text", "name_and_version"]

logger = logging.getLogger(__name__)


def group_entry_points(group: str) -> list[importlib_metadata.EntryPoint]:
    """``importlib_metadata.entry_points(group=group)``, without parsing every distribution's.

    The same distributions are asked, and the same one wins for each name (the first with
    metadata, as ``entry_points()`` picks it), but only a winner whose ``entry_points.txt``
    mentions ``group`` has that file parsed: a large environment then costs one read per
    distribution. The result is in ``entry_points()``'s order. This relies on how
    ``entry_points()`` chooses, through two private names of ``importlib_metadata``; without
    them, ``entry_points()`` itself is called.
    """
    import importlib_metadata

    prefer_valid = _winner_order()
    if prefer_valid is None:
        return list(importlib_metadata.entry_points(group=group))
    by_name: dict[str, list[tuple[int, _Distribution]]] = {}
    for position, dist in enumerate(importlib_metadata.distributions()):
        if _moved_aside(dist):
            continue
        normalized = getattr(dist, "_normalized_name", None)
        if not isinstance(normalized, str):
            return list(importlib_metadata.entry_points(group=group))
        by_name.setdefault(normalized, []).append((position, dist))
    declaring: list[tuple[int, _Distribution]] = []
    for candidates in by_name.values():
        winner = candidates[0]
        if len(candidates) > 1:
            first_valid = next(iter(prefer_valid([dist for _, dist in candidates])))
            winner = next(item for item in candidates if item[1] is first_valid)
        if _may_declare(winner[1], group):
            declaring.append(winner)
    declaring.sort(key=lambda item: item[0])
    found: list[importlib_metadata.EntryPoint] = []
    for dist in prefer_valid([dist for _, dist in declaring]):
        try:
            found.extend(dist.entry_points.select(group=group))
        except (OSError, ValueError, TypeError) as error:
            # importlib_metadata < 10 validates every entry point of the file as it parses it,
            # and any version raises a TypeError for a line without "="; the file may also
            # have been damaged since it was read.
            logger.warning("skipping a distribution with a malformed entry_points.txt: %s", error)
    return found


def _moved_aside(dist: _Distribution) -> bool:
    """Whether ``dist`` is metadata pip moved aside under a ``~`` name (while it replaces or
    removes a version, or for good if it was killed): not an installed distribution, as pip
    itself says (``Ignoring invalid distribution ~…``)."""
    directory = getattr(dist, "_path", None)
    return isinstance(directory, Path) and directory.name.startswith("~")


def _winner_order() -> Callable[[list[Any]], Iterable[Any]] | None:
    """How ``entry_points()`` orders one name's distributions before keeping the first.

    importlib_metadata 10 moves those with metadata to the front (``_prefer_valid``); earlier
    versions keep the first on ``sys.path``. ``None`` when it cannot be told.
    """
    import importlib_metadata

    prefer_valid = getattr(importlib_metadata.Distribution, "_prefer_valid", None)
    try:
        major = int(_importlib_metadata_version().split(".")[0])
    except (importlib_metadata.PackageNotFoundError, ValueError):
        return None
    if major >= 10:
        return prefer_valid if callable(prefer_valid) else None
    return lambda dists: dists


def _importlib_metadata_version() -> str:
    """The version of the importlib_metadata that runs: from the name of the one ``.dist-info``
    directory beside it (a directory listing; ``version()`` would search every distribution on
    ``sys.path`` and parse its metadata), else, when there is none or a leftover of another
    version lies beside it too, as ``version()`` answers.

    :raises importlib_metadata.PackageNotFoundError: if it is not installed as a distribution.
    """
    import importlib_metadata

    module_directory = Path(importlib_metadata.__file__).parent
    found = list(module_directory.parent.glob("importlib_metadata-*.dist-info"))
    if len(found) == 1:
        return found[0].name[len("importlib_metadata-") : -len(".dist-info")]
    return importlib_metadata.version("importlib_metadata")


def _may_declare(dist: _Distribution, group: str) -> bool:
    """Whether ``dist`` may have entry points in ``group``: its ``entry_points.txt`` names it, or
    it is a provider's distribution that answers ``entry_points`` its own way."""
    import importlib_metadata

    if type(dist).entry_points is not importlib_metadata.Distribution.entry_points:
        return True
    text = metadata_text(dist, "entry_points.txt")
    return text is not None and group in text


def metadata_text(dist: _Distribution, filename: str) -> str | None:
    """What ``dist.read_text(filename)`` answers, except that a file that is not a regular file
    (a FIFO would block the thread for good), cannot be read (a symlink loop) or is not UTF-8
    is ``None``: one damaged installation never stops the discovery of the others.

    A distribution in a directory (``importlib_metadata``'s ``PathDistribution``, whose
    directory is its private ``_path``) is read as photon sources are, without blocking.
    """
    directory = getattr(dist, "_path", None)
    try:
        if isinstance(directory, Path):
            return read_regular_file(directory / filename).decode()
        return dist.read_text(filename)
    except (OSError, ValueError, PhotonLoadError):  # UnicodeDecodeError is a ValueError
        return None


def distribution_of(
    entry_point: importlib_metadata.EntryPoint, cache: dict[int, tuple[str, str]]
) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "", ""
    known = cache.get(id(dist))
    if known is None:
        known = name_and_version(dist)
        cache[id(dist)] = known
    return known


class _Distribution(Protocol):
    """What discovery reads of an ``importlib_metadata`` distribution."""

    def read_text(self, filename: str) -> str | None: ...

    @property
    def metadata(self) -> importlib_metadata.PackageMetadata: ...

    @property
    def entry_points(self) -> importlib_metadata.EntryPoints: ...


def name_and_version(dist: _Distribution) -> tuple[str, str]:
    """A distribution's ``Name`` and ``Version``, as ``dist.metadata`` gives them (``""`` for
    what it lacks or cannot be read).

    Both are read from the metadata file's header lines: parsing the whole file as an email
    message costs ten times more than reading it. Metadata in any unusual shape (folded or
    missing values, other line ends) goes to ``dist.metadata``, so the answer is the
    parser's; so does a distribution not in a directory that has no ``METADATA`` or
    ``PKG-INFO`` file. One in a directory whose file cannot be read (see
    :func:`metadata_text`) has neither, rather than have ``dist.metadata`` read it.
    """
    text = metadata_text(dist, "METADATA") or metadata_text(dist, "PKG-INFO")
    if not text and isinstance(getattr(dist, "_path", None), Path):
        return "", ""
    headers = _simple_headers(text, ("name", "version")) if text else None
    if headers is None or len(headers) < 2:
        return _metadata_value(dist, "Name"), _metadata_value(dist, "Version")
    return headers["name"], headers["version"]


def _metadata_value(dist: _Distribution, field: str) -> str:
    """One header of ``dist.metadata``; ``""`` when the metadata is broken or lacks it, so one
    damaged installation never stops the discovery of the others."""
    try:
        return dist.metadata[field] or ""
    except (KeyError, OSError, ValueError):
        return ""


_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


def _simple_headers(text: str, wanted: Sequence[str]) -> dict[str, str] | None:
    """The first value of each ``wanted`` header (lower-case names) of an RFC 822 header block.

    ``None`` when a line is one that the email parser might read otherwise: a continuation of a
    wanted header, a line that is not ``Name: value``, or a stray carriage return.
    """
    found: dict[str, str] = {}
    previous = ""
    for raw_line in text.split("\n"):
        line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        if not line:
            break
        if "\r" in line:
            return None
        if line[0] in " \t":
            if previous in wanted:
                return None
            continue
        name, colon, value = line.partition(":")
        if not colon or _HEADER_NAME.fullmatch(name) is None:
            return None
        previous = name.lower()
        if previous in wanted and previous not in found:
            found[previous] = value.lstrip(" \t")
    return found
