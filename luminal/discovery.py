"""Finding photons of installed distributions through entry points, without importing them.

A distribution declares its photons in the entry-point group ``luminal.photons``: the value names
a photon class (``hello = "hello_photon:Hello"``) or a module whose photons all count
(``hello = "hello_photon"``). :func:`find_photon_entry_points` is one
``importlib_metadata.entry_points(group=...)`` call plus reading the metadata of the
distributions it returns; :func:`locate_source` then finds the file behind a selected entry point
by asking the import system's finders, which never executes the module.

The *source* of an entry point is the outermost regular package holding its module (or the
module itself, when it is a top-level ``.py`` file): that is what Luminal imports under a private
name, hashes and reloads, exactly as a loose photon package.
"""

from __future__ import annotations

import importlib.machinery
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when entry points are looked up, not with luminal
    pass

from luminal.distributions import distribution_of, group_entry_points
from luminal.errors import EntryPointLoadError
from luminal.finders import spec_of_other_finders
from luminal.reading import canonical_path

__all__ = [
    "DEFAULT_GROUP",
    "EntryPointPolicy",
    "EntryPointSelection",
    "EntryPointSource",
    "PhotonEntryPoint",
    "find_photon_entry_points",
    "locate_source",
    "locate_sources",
    "normalize_distribution_name",
]

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "luminal.photons"

_VALUE_PATTERN = re.compile(
    r"\s*(?P<module>[\w.]+)\s*(?::\s*(?P<attribute>[\w.]+)\s*)?(?:\[[^\]]*\]\s*)?"
)


def normalize_distribution_name(name: str) -> str:
    """The PEP 503 form of a distribution name: ``Hello_Photon`` and ``hello-photon`` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PhotonEntryPoint:
    """One entry point of the photon group, as declared by an installed distribution."""

    name: str
    value: str
    group: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"entry point {self.name} = {self.value!r} of {self.distribution} {self.version}"


class EntryPointPolicy:
    """Which installed photons a host accepts, by distribution name and entry-point name.

    An ``allow_*`` collection, when given, admits only what it names; a ``block_*`` collection
    refuses what it names and wins over ``allow_*``. Distribution names are compared in their
    normalized form (:func:`normalize_distribution_name`), entry-point names exactly.
    """

    def __init__(
        self,
        *,
        allow_distributions: Iterable[str] | None = None,
        block_distributions: Iterable[str] = (),
        allow_names: Iterable[str] | None = None,
        block_names: Iterable[str] = (),
    ) -> None:
        self.allow_distributions = (
            None
            if allow_distributions is None
            else frozenset(map(normalize_distribution_name, _names(allow_distributions)))
        )
        self.block_distributions = frozenset(
            map(normalize_distribution_name, _names(block_distributions))
        )
        self.allow_names = None if allow_names is None else frozenset(_names(allow_names))
        self.block_names = frozenset(_names(block_names))

    def refusal(self, entry: PhotonEntryPoint) -> str | None:
        """Why the policy refuses ``entry``, or ``None`` when it accepts it."""
        distribution = normalize_distribution_name(entry.distribution)
        if distribution in self.block_distributions:
            return f"distribution {entry.distribution} is blocked"
        if entry.name in self.block_names:
            return f"entry point name {entry.name!r} is blocked"
        if self.allow_distributions is not None and distribution not in self.allow_distributions:
            return f"distribution {entry.distribution} is not allowed"
        if self.allow_names is not None and entry.name not in self.allow_names:
            return f"entry point name {entry.name!r} is not allowed"
        return None

    def __repr__(self) -> str:
        return (
            f"EntryPointPolicy(allow_distributions={_sorted(self.allow_distributions)}, "
            f"block_distributions={_sorted(self.block_distributions)}, "
            f"allow_names={_sorted(self.allow_names)}, block_names={_sorted(self.block_names)})"
        )


def _names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError("names must be a collection of str, not a single str")
    return list(names)


def _sorted(names: frozenset[str] | None) -> list[str] | None:
    return None if names is None else sorted(names)


def find_photon_entry_points(
    group: str = DEFAULT_GROUP,
    names: Iterable[str] | None = None,
    policy: EntryPointPolicy | None = None,
) -> list[PhotonEntryPoint]:
    """The entry points of ``group`` that ``names`` and ``policy`` select.

    Imports nothing: it reads ``entry_points.txt`` (what ``entry_points(group=...)`` answers,
    see :func:`~luminal.distributions.group_entry_points`) and the metadata of the distributions
    that declare an entry point in the group. When a distribution is installed twice on
    ``sys.path``, the first one wins, as for imports. The result is sorted
    by normalized distribution name, then entry-point name, so the order (and which of two
    photons with one name loads) does not depend on how the file system lists directories.
    """
    wanted = None if names is None else frozenset(_names(names))
    metadata_by_distribution: dict[int, tuple[str, str]] = {}
    found: list[PhotonEntryPoint] = []
    for entry_point in group_entry_points(group):
        if wanted is not None and entry_point.name not in wanted:
            continue
        distribution, version = distribution_of(entry_point, metadata_by_distribution)
        entry = PhotonEntryPoint(entry_point.name, entry_point.value, group, distribution, version)
        refusal = None if policy is None else policy.refusal(entry)
        if refusal is not None:
            logger.debug("skipping %s: %s", entry, refusal)
            continue
        found.append(entry)
    found.sort(key=lambda entry: (normalize_distribution_name(entry.distribution), entry.name))
    return found


@dataclass(frozen=True)
class EntryPointSource:
    """A located entry point: the source Luminal imports, and the entry point's place in it.

    ``package`` is the installed dotted name of the source (``hello_photon``), ``submodule`` the
    entry point's module relative to it (``""`` for the source itself, ``"photons.greeter"``
    for ``hello_photon.photons.greeter``) and ``attribute`` the dotted attribute, if any.
    """

    entry: PhotonEntryPoint
    path: Path
    package: str
    submodule: str
    attribute: str | None

    def module_name(self, private_name: str) -> str:
        """The name of the entry point's module once its source is imported as ``private_name``."""
        return f"{private_name}.{self.submodule}" if self.submodule else private_name


def locate_source(entry: PhotonEntryPoint) -> EntryPointSource:
    """Find the file behind ``entry`` without executing any of its code.

    The import system's finders (``sys.meta_path``, so editable installs are found too) are
    asked for the top-level name; below a namespace package, its directories are searched for
    the first regular package or module.

    :raises EntryPointLoadError: if the value is malformed, or the module cannot be found or is
        not a ``.py`` source (an extension module, a zipped or frozen module).
    """
    match = _VALUE_PATTERN.fullmatch(entry.value)
    if match is None:
        raise EntryPointLoadError(
            f"{entry}: malformed value (expected 'module' or 'module:attribute')", entry
        )
    module, attribute = match["module"], match["attribute"]
    parts = module.split(".")
    try:
        spec = spec_of_other_finders(parts[0])
    except Exception as error:
        raise EntryPointLoadError(
            f"{entry}: looking for module {parts[0]!r} raised {type(error).__name__}: {error}",
            entry,
        ) from error
    if spec is None:
        raise EntryPointLoadError(f"{entry}: module {parts[0]!r} is not installed", entry)
    depth = 1
    if spec.submodule_search_locations is not None and not spec.has_location:
        namespace_dirs = [Path(directory) for directory in spec.submodule_search_locations]
        path, depth = _find_below_namespace(entry, parts, namespace_dirs)
    else:
        path = _source_path_of(entry, spec)
    _check_submodule(entry, path, parts[depth:])
    return EntryPointSource(
        entry, path, ".".join(parts[:depth]), ".".join(parts[depth:]), attribute
    )


def _find_below_namespace(
    entry: PhotonEntryPoint, parts: Sequence[str], directories: list[Path]
) -> tuple[Path, int]:
    """The first regular package or module below namespace package ``parts[0]``, and its depth.

    PEP 420 resolution on the namespace's directories: the import system's own finders cannot
    be asked about ``a.b`` without importing ``a``.
    """
    for depth in range(2, len(parts) + 1):
        part = parts[depth - 1]
        for directory in directories:
            if (directory / part / "__init__.py").is_file():
                return canonical_path(directory / part), depth
            if (directory / f"{part}.py").is_file():
                return canonical_path(directory / f"{part}.py"), depth
        directories = [directory / part for directory in directories if (directory / part).is_dir()]
        if not directories:
            raise EntryPointLoadError(
                f"{entry}: module {'.'.join(parts[:depth])!r} is not installed", entry
            )
    raise EntryPointLoadError(
        f"{entry}: {'.'.join(parts)!r} is a namespace package; name a module or a regular package",
        entry,
    )


def locate_sources(
    entries: Iterable[PhotonEntryPoint],
) -> tuple[list[EntryPointSource], list[EntryPointLoadError]]:
    """:func:`locate_source` for each entry; those that cannot be located are returned apart."""
    located: list[EntryPointSource] = []
    failed: list[EntryPointLoadError] = []
    for entry in entries:
        try:
            located.append(locate_source(entry))
        except EntryPointLoadError as error:
            failed.append(error)
    return located, failed


def _source_path_of(entry: PhotonEntryPoint, spec: importlib.machinery.ModuleSpec) -> Path:
    origin = spec.origin
    if not spec.has_location or origin is None or not origin.endswith(".py"):
        raise EntryPointLoadError(
            f"{entry}: module {spec.name!r} is not a Python source file ({origin}); "
            "Luminal loads photons from source",
            entry,
        )
    path = canonical_path(origin)
    return path.parent if spec.submodule_search_locations is not None else path


def _check_submodule(entry: PhotonEntryPoint, root: Path, parts: Sequence[str]) -> None:
    if not parts:
        return
    target = root.joinpath(*parts)
    if not (target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()):
        raise EntryPointLoadError(
            f"{entry}: module {'.'.join(parts)!r} not found in {root}",
            entry,
            path=root,
        )


@dataclass(frozen=True)
class EntryPointSelection:
    """The entry points whose photons one source provides; re-applied on every reload."""

    sources: tuple[EntryPointSource, ...]

    @property
    def submodules(self) -> list[str]:
        """The source's modules that must be imported besides its top module, in order."""
        return list(dict.fromkeys(source.submodule for source in self.sources if source.submodule))

    def select(
        self, private_name: str, modules: Mapping[str, ModuleType], photon_classes: Sequence[type]
    ) -> dict[type, PhotonEntryPoint]:
        """The photon classes the entry points name, each with the (first) entry point naming it.

        ``photon_classes`` are the classes the loader validated in the source imported as
        ``private_name``; ``modules`` are its modules by private name.

        :raises EntryPointLoadError: for the first entry point whose attribute is missing, is
            not among ``photon_classes``, or whose module defines no photon.
        """
        known = set(photon_classes)
        chosen: dict[type, PhotonEntryPoint] = {}
        for source in self.sources:
            module = modules.get(source.module_name(private_name))
            if module is None:
                raise EntryPointLoadError(
                    f"{source.entry}: module {source.submodule!r} was not imported",
                    source.entry,
                    path=source.path,
                )
            for photon_class in _named_classes(source, module, known):
                chosen.setdefault(photon_class, source.entry)
        return chosen


def _named_classes(source: EntryPointSource, module: ModuleType, known: set[type]) -> list[type]:
    entry = source.entry
    if source.attribute is None:
        classes = [
            value for value in vars(module).values() if isinstance(value, type) and value in known
        ]
        if not classes:
            raise EntryPointLoadError(
                f"{entry}: module {entry.value.strip()!r} defines no photon",
                entry,
                path=source.path,
            )
        return list(dict.fromkeys(classes))
    target: object = module
    for part in source.attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise EntryPointLoadError(
                f"{entry}: {source.attribute!r} not found in its module",
                entry,
                path=source.path,
            ) from error
    if not isinstance(target, type) or target not in known:
        raise EntryPointLoadError(
            f"{entry}: {source.attribute!r} is not a photon: {_why_not_a_photon(target)}",
            entry,
            path=source.path,
        )
    return [target]


def _why_not_a_photon(target: object) -> str:
    """Why what a class entry point names is none of its source's photon classes (the
    module-level concrete subclasses of ``IPhoton`` that the source defines)."""
    from luminal.photon import IPhoton  # loaded with the source that was just validated

    if not isinstance(target, type):
        return f"a {type(target).__name__}, not a class"
    name = target.__qualname__
    if not issubclass(target, IPhoton):
        return f"class {name} is no subclass of luminal.IPhoton"
    if "." in name:
        return f"class {name} is nested; photons are the classes at the top level of a module"
    abstract = getattr(target, "__abstractmethods__", None)
    if abstract:
        return f"class {name} is abstract ({', '.join(sorted(abstract))} not implemented)"
    return f"class {name} is defined in {target.__module__}, outside the entry point's package"
