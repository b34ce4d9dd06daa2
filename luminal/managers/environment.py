"""What the environment holds of an entry-point group: its distributions as pip left them.

:func:`scan_group` lists the ``*.dist-info`` / ``*.egg-info`` directories of the ``sys.path``
directories and keeps the distributions whose ``entry_points.txt`` names the group, with their
version and ``RECORD``. pip extracts the wheel's own ``RECORD`` with its files and writes its
final one, which names the ``INSTALLER`` file it adds, last; until then, or while it holds a
replaced version's metadata aside, the installer is still at work (:func:`installing`).
:func:`extension_changes` tells whether an
upgrade replaced a compiled extension module, which no reload can replace in a running
process; :func:`purge_modules` drops a distribution's modules from ``sys.modules`` so that the
next import reads the new version.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import importlib.machinery
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from luminal.discovery import normalize_distribution_name
from luminal.distributions import metadata_text, name_and_version

__all__ = [
    "InstalledDistribution",
    "extension_changes",
    "installing",
    "invalidate_caches",
    "metadata_directories",
    "opens_section",
    "purge_modules",
    "scan_group",
    "top_level_names",
]

_METADATA_SUFFIXES = (".dist-info", ".egg-info")
ENTRY_POINTS = "entry_points.txt"
_STASH_FILLER = frozenset("-~.=%0123456789")
"""What pip puts after the ``~`` of a directory it moves aside (``AdjacentTempDirectory``)."""


@dataclass(frozen=True)
class InstalledDistribution:
    """One installed distribution of the group: where its metadata is and what it recorded."""

    name: str
    version: str
    metadata: Path
    record: str | None
    editable: bool = False
    """Whether the installer recorded an editable install (PEP 610 ``direct_url.json``)."""
    leftovers: tuple[Path, ...] = ()
    """The other metadata directories of its name in its directory (a version a killed pip
    left behind): one that comes or goes there is a change, whichever of them wins."""

    @property
    def key(self) -> str:
        return normalize_distribution_name(self.name)

    @property
    def installed(self) -> bool:
        """Whether the installer wrote its final ``RECORD``: one that names its ``INSTALLER``
        file, which a wheel's own ``RECORD`` (extracted before the byte-compiling) never does."""
        if self.metadata.suffix == ".egg-info":
            return True
        return f"{self.metadata.name}/INSTALLER" in _record_rows(self.record)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def in_metadata(directory: Path, path: Path) -> bool:
    """Whether ``path`` is a distribution's metadata directory in ``directory``, or in one."""
    try:
        first = path.relative_to(directory).parts[:1]
    except ValueError:
        return False
    return bool(first) and first[0].endswith(_METADATA_SUFFIXES)


def metadata_directories(holding: bool = False) -> list[Path]:
    """The ``sys.path`` directories (``holding``: those that hold distribution metadata), in
    ``sys.path`` order: any may receive a ``pip install``."""
    found: list[Path] = []
    for entry in sys.path:
        directory = Path(entry or ".").resolve()
        if directory in found or not directory.is_dir():
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        if not holding or any(name.endswith(_METADATA_SUFFIXES) for name in names):
            found.append(directory)
    return found


def scan_group(group: str, directories: Iterable[Path]) -> dict[str, InstalledDistribution]:
    """The distributions declaring an entry point in ``group``, by normalized name; the first
    on ``sys.path`` wins, as for imports, and in one directory the first listed, as
    ``importlib_metadata`` lists them."""
    found: dict[str, InstalledDistribution] = {}
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        here: dict[str, list[InstalledDistribution]] = {}
        for name in names:
            # pip moves the metadata of what it replaces aside under a "~" name first.
            if not name.endswith(_METADATA_SUFFIXES) or name.startswith("~"):
                continue
            distribution = _read(directory / name, group)
            if distribution is not None:
                here.setdefault(distribution.key, []).append(distribution)
        for key, [first, *others] in here.items():
            leftovers = tuple(sorted(other.metadata for other in others))
            found.setdefault(key, dataclasses.replace(first, leftovers=leftovers))
    return found


def _read(metadata: Path, group: str) -> InstalledDistribution | None:
    import importlib_metadata  # with the first read, not with luminal

    dist = importlib_metadata.PathDistribution(metadata)
    entry_points = metadata_text(dist, ENTRY_POINTS)
    if entry_points is None or group not in entry_points:
        return None
    name, version = name_and_version(dist)
    if not name:
        name = metadata.name.rsplit(".", 1)[0].split("-")[0]
    record = metadata_text(dist, "RECORD")
    editable = _is_editable(metadata_text(dist, "direct_url.json"))
    return InstalledDistribution(name, version, metadata, record, editable)


def opens_section(distribution: InstalledDistribution, group: str) -> bool:
    """Whether the distribution's ``entry_points.txt`` has a line opening ``group``'s section,
    a malformed one (``[group`` without its ``]``) included."""
    import importlib_metadata

    text = metadata_text(importlib_metadata.PathDistribution(distribution.metadata), ENTRY_POINTS)
    return any(
        line.strip().startswith("[") and line.strip().strip("[] \t") == group
        for line in (text or "").splitlines()
    )


def _is_editable(direct_url: str | None) -> bool:
    """Whether a ``direct_url.json`` (PEP 610) says the install is editable; one that is no
    JSON, or nested past what the parser recurses into, says it is not."""
    try:
        info = json.loads(direct_url or "{}")
    except (ValueError, RecursionError):
        return False
    dir_info = info.get("dir_info") if isinstance(info, dict) else None
    return isinstance(dir_info, dict) and dir_info.get("editable") is True


def installing(old: InstalledDistribution | None, new: InstalledDistribution | None) -> bool:
    """Whether an installer is still at work on a distribution that went from ``old`` to
    ``new``: the new version has no final ``RECORD`` yet, or none is there while the old
    version's metadata lies moved aside (pip's uninstall stash, deleted once it committed),
    or the whole directory holding it (pip stashes a directory all of whose files it removes)."""
    if new is not None:
        return not new.installed
    return old is not None and (_moved_aside(old.metadata) or _moved_aside(old.metadata.parent))


def _moved_aside(path: Path) -> bool:
    """Whether ``path`` lies beside itself under the ``~`` name pip moves it to: ``~``,
    filler characters, then the name's end (as long as the name) or the whole name."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return False
    original = path.name
    for name in names:
        if not name.startswith("~") or name == original:
            continue
        rest = name[1:]
        for start in range(len(rest) + 1):
            if not _STASH_FILLER.issuperset(rest[:start]):
                break
            if rest[start:] == original or (
                len(name) == len(original) and rest[start:] == original[start + 1 :]
            ):
                return True
    return False


def _record_rows(record: str | None) -> dict[str, str]:
    if not record:
        return {}
    return {
        row[0]: (row[1] if len(row) > 1 else "") for row in csv.reader(record.splitlines()) if row
    }


def extension_changes(old: InstalledDistribution, new: InstalledDistribution) -> list[str]:
    """The compiled extension modules that the change from ``old`` to ``new`` adds, removes or
    replaces (by their ``RECORD`` paths and hashes)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)

    def extensions(distribution: InstalledDistribution) -> dict[str, str]:
        rows = _record_rows(distribution.record)
        return {path: digest for path, digest in rows.items() if path.endswith(suffixes)}

    before, after = extensions(old), extensions(new)
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


def top_level_names(distribution: InstalledDistribution) -> set[str]:
    """The top-level module names a distribution installed, from its ``RECORD``."""
    names: set[str] = set()
    for path in _record_rows(distribution.record):
        first = path.replace("\\", "/").split("/", 1)[0]
        if first.startswith(".") or first.endswith((*_METADATA_SUFFIXES, ".data", ".pth")):
            continue
        if "/" in path or first.endswith(".py"):
            names.add(first.removesuffix(".py").split(".")[0])
    names.discard("__pycache__")
    return names


def path_file_directories(distribution: InstalledDistribution) -> list[str]:
    """The existing directories that the distribution's own ``.pth`` files name, as ``site``
    reads them at the interpreter's start: an editable install (``pip install -e``) is such
    a file naming its project, which a host that started before it never read. ``import``
    lines are code (setuptools' editable finders): they run at the next start only."""
    site_dir = distribution.metadata.parent
    directories: list[str] = []
    for row in _record_rows(distribution.record):
        if not row.endswith(".pth") or "/" in row or "\\" in row:
            continue
        try:
            text = (site_dir / row).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            if not line.strip() or line.startswith(("#", "import ", "import\t")):
                continue
            directory = os.path.abspath(os.path.join(site_dir, line.rstrip()))
            if os.path.isdir(directory) and directory not in directories:
                directories.append(directory)
    return directories


def purge_modules(names: Iterable[str]) -> dict[str, ModuleType]:
    """Take the modules named ``names`` (and their submodules) out of ``sys.modules``; return
    them, to be put back with ``sys.modules.update`` if the new version cannot be applied."""
    wanted = set(names)
    taken = {
        name: module
        for name, module in list(sys.modules.items())
        if name.split(".", 1)[0] in wanted and module is not None
    }
    for name in taken:
        sys.modules.pop(name, None)
    return taken


def invalidate_caches() -> None:
    """Forget what the import system and ``importlib_metadata`` cached of the directories, so
    new files are seen."""
    import importlib_metadata

    importlib.invalidate_caches()
    finder = getattr(importlib_metadata, "MetadataPathFinder", None)
    invalidate = getattr(finder, "invalidate_caches", None)
    if callable(invalidate):
        invalidate()
