"""Photon requirements: parsing them, ordering photons by them, and telling which are unmet.

A requirement is a PEP 508 string (``"db>=1.2"``) parsed by ``packaging``: its name is a photon
name, compared exactly as photon names are (case and punctuation count), and its specifier is
matched against the providing photon's ``version``, pre-releases included. Everything here is
pure: it looks at the photons it is given and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from luminal.errors import PhotonDependencyError

if TYPE_CHECKING:  # packaging is imported by the first photon that declares requirements
    from packaging.requirements import Requirement

__all__ = [
    "Photon",
    "PlannedPhoton",
    "dependency_order",
    "dependents_of",
    "find_cycle",
    "parse_requirements",
    "requirement_error",
    "unmet_requirements",
]


class Photon(Protocol):
    """What the dependency logic reads of a photon (a :class:`~luminal.Handler` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def requires(self) -> tuple[Requirement, ...]: ...

    @property
    def started(self) -> bool: ...


PhotonT = TypeVar("PhotonT", bound=Photon)


@dataclass(frozen=True)
class PlannedPhoton:
    """A photon as it will run once a transaction commits (checked before it changes anything)."""

    name: str
    version: str
    requires: tuple[Requirement, ...]
    started: bool = True

    @classmethod
    def of(cls, photon: Photon) -> PlannedPhoton:
        return cls(photon.name, photon.version, photon.requires)


def parse_requirements(values: object, photon_name: str) -> tuple[Requirement, ...]:
    """The parsed ``requires`` of the photon ``photon_name``.

    :raises TypeError: if ``values`` is not a sequence of strings (a lone string included) or
        of requirements parsed already.
    :raises ValueError: if a string is no requirement, has extras, a marker or a URL (which
        mean nothing for a photon), names the photon itself or a photon twice.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        kind = type(values).__name__
        raise TypeError(f"photon requires must be a sequence of requirement strings, not {kind}")
    parsed: list[Requirement] = []
    for value in values:
        requirement = _parse_one(value if isinstance(value, str) else _requirement_text(value))
        if requirement.name == photon_name:
            raise ValueError(f"photon {photon_name!r} cannot require itself ({value!r})")
        if any(earlier.name == requirement.name for earlier in parsed):
            raise ValueError(f"photon requirement {value!r} names {requirement.name!r} twice")
        parsed.append(requirement)
    return tuple(parsed)


def _requirement_text(value: object) -> str:
    """The text of a requirement parsed already (a class body copying another photon's
    ``photon_requires``)."""
    from packaging.requirements import Requirement

    if not isinstance(value, Requirement):
        raise TypeError(f"photon requirement {value!r} is a {type(value).__name__}, not a str")
    return str(value)


def _parse_one(value: str) -> Requirement:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(value)
    except InvalidRequirement as error:
        raise ValueError(f"invalid photon requirement {value!r}: {error}") from error
    if requirement.extras or requirement.marker is not None or requirement.url is not None:
        raise ValueError(
            f"invalid photon requirement {value!r}: extras, markers and URLs do not apply "
            "to photons; give a photon name and an optional version specifier"
        )
    return requirement


def unmet_requirements(photon: Photon, running: Mapping[str, Photon]) -> dict[str, str]:
    """Each requirement of ``photon`` that no photon of ``running`` meets → why.

    ``running`` maps names to photons; one that is not ``started`` does not count.
    """
    unmet: dict[str, str] = {}
    for requirement in photon.requires:
        provider = running.get(requirement.name)
        if provider is None:
            unmet[str(requirement)] = "not loaded"
        elif not provider.started:
            unmet[str(requirement)] = "not running"
        elif not _satisfies(provider.version, requirement):
            unmet[str(requirement)] = f"version {provider.version} runs"
    return unmet


def _satisfies(version: str, requirement: Requirement) -> bool:
    """Whether ``version`` matches the specifier; a non-PEP 440 version matches only none."""
    if not requirement.specifier:
        return True
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return requirement.specifier.contains(parsed, prereleases=True)


def find_cycle(start: str, photons: Mapping[str, Photon]) -> tuple[str, ...] | None:
    """A cycle of requirements among ``photons`` that ``start`` leads into, as the names along
    it with the first repeated at the end (``("a", "b", "a")``); ``None`` if there is none.

    The walk keeps its own stack, so a chain of any length is followed."""
    path: list[str] = []
    on_path: set[str] = set()
    finished: set[str] = set()
    pending: list[Iterator[Requirement]] = []
    name: str | None = start
    while True:
        if name in on_path:
            return (*path[path.index(name) :], name)
        photon = None if name is None or name in finished else photons.get(name)
        if name is not None and photon is not None:
            path.append(name)
            on_path.add(name)
            pending.append(iter(photon.requires))
        if not pending:
            return None
        requirement = next(pending[-1], None)
        name = None if requirement is None else requirement.name
        if requirement is None:
            pending.pop()
            done = path.pop()
            on_path.discard(done)
            finished.add(done)


def dependency_order(photons: Iterable[PhotonT]) -> list[PhotonT]:
    """``photons`` in the order given, except that a photon's providers among them are moved
    up to just before it (transitively, in the order given). The members of a cycle are all
    there, in the order the walk reaches them; they cannot start anyway. The walk keeps its own
    stack, so a chain of any length is ordered."""
    items = list(photons)
    if not any(photon.requires for photon in items):
        return items  # nothing to move (most hosts): no walk, no index
    index_of = {photon.name: index for index, photon in enumerate(items)}

    def providers_of(index: int) -> Iterator[int]:
        found = {index_of.get(requirement.name) for requirement in items[index].requires}
        return iter(sorted(provider for provider in found if provider is not None))

    order: list[PhotonT] = []
    seen: set[int] = set()
    for root in range(len(items)):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, providers_of(root))]
        while stack:
            index, providers = stack[-1]
            provider = next(providers, None)
            if provider is None:
                stack.pop()
                order.append(items[index])
            elif provider not in seen:
                seen.add(provider)
                stack.append((provider, providers_of(provider)))
    return order


def dependents_of(names: Iterable[str], photons: Iterable[PhotonT]) -> list[PhotonT]:
    """The photons that require any of ``names``, directly or through each other, in
    dependency order (those of ``names`` themselves left out)."""
    requiring: dict[str, list[PhotonT]] = {}
    for photon in photons:
        for requirement in photon.requires:
            requiring.setdefault(requirement.name, []).append(photon)
    providers = set(names)
    found: dict[str, PhotonT] = {}
    to_visit = list(providers)
    while to_visit:
        for photon in requiring.get(to_visit.pop(), ()):
            if photon.name not in providers and photon.name not in found:
                found[photon.name] = photon
                to_visit.append(photon.name)
    return dependency_order(found.values())


def requirement_error(
    photon: Photon, photons: Mapping[str, Photon], path: str
) -> PhotonDependencyError | None:
    """Why ``photon`` (from ``path``) cannot start among ``photons`` (name → photon): a cycle
    its requirements lead into, or its unmet requirements; ``None`` when it can."""
    cycle = find_cycle(photon.name, photons)
    if cycle is not None:
        return PhotonDependencyError(
            f"photon {photon.name!r} from {path} cannot start: its requirements form a cycle "
            + " -> ".join(cycle),
            photon.name,
            path,
            cycle=cycle,
        )
    unmet = unmet_requirements(photon, photons)
    if not unmet:
        return None
    reasons = ", ".join(f"{requirement} ({why})" for requirement, why in unmet.items())
    return PhotonDependencyError(
        f"photon {photon.name!r} from {path} cannot start: unmet requirements {reasons}",
        photon.name,
        path,
        unmet=unmet,
    )
