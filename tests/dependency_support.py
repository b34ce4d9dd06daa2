"""Photons that require each other, for the dependency tests: each records its lifecycle in
``EVENTS``, binds the running instances of the photons it requires when it starts, and
reports in ``VIOLATIONS`` a hook call that reaches a finalized instance."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

from packaging.requirements import Requirement

from luminal import hookspec

EVENTS: list[str] = []
RUNNING: dict[str, Any] = {}
VIOLATIONS: list[str] = []
GATES: dict[str, asyncio.Event] = {}
"""Events a photon's ``start`` code may await (``await GATES['api'].wait()``)."""

PHOTON = """
from luminal import IPhoton, hookimpl
from tests.dependency_support import EVENTS, GATES, RUNNING, VIOLATIONS
{extra}

class Photon(IPhoton, name={name!r}, version={version!r}, requires={requires!r}):
    def __init__(self):
        self.finalized = False
        self.count = 0
        self.providers = {{}}

    @hookimpl
    def photon_start(self):
        {start}
        for requirement in {provider_names!r}:
            self.providers[requirement] = RUNNING[requirement]
        RUNNING[{name!r}] = self
        EVENTS.append("start {name}-{version}")

    @hookimpl
    def photon_export_state(self):
        return self.count

    @hookimpl
    def photon_import_state(self, state):
        self.count = state + 1

    @hookimpl
    def chain(self):
        stale = [name for name, photon in self.providers.items() if photon.finalized]
        if self.finalized or stale:
            VIOLATIONS.append(f"{name}-{version} called, finalized providers {{stale}}")
        return {name!r} + "-" + {version!r}

    async def finalize(self):
        self.finalized = True
        if RUNNING.get({name!r}) is self:
            del RUNNING[{name!r}]
        EVENTS.append("finalize {name}-{version}")
"""


def photon(
    name: str,
    version: str = "1.0",
    requires: tuple[str, ...] = (),
    *,
    start: str = "pass",
    extra: str = "",
) -> str:
    """The source of a photon ``name`` of ``version`` that requires ``requires``."""
    provider_names = [Requirement(requirement).name for requirement in requires]
    return textwrap.dedent(PHOTON).format(
        name=name,
        version=version,
        requires=list(requires),
        provider_names=provider_names,
        start=start,
        extra=extra,
    )


class ChainSpecs:
    @hookspec
    def chain(self) -> str:  # type: ignore[empty-body]
        """Each running photon's ``name-version``; complains of finalized ones it reaches."""


def clear() -> None:
    EVENTS.clear()
    RUNNING.clear()
    VIOLATIONS.clear()
    GATES.clear()
