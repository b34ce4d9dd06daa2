"""Generated photon files, and the host hook specs they answer."""

from __future__ import annotations

from pathlib import Path

import pluggy

__all__ = ["HostSpecs", "photon_source", "write_photons"]

hookspec = pluggy.HookspecMarker("luminal")

PHOTON_TEMPLATE = '''"""Benchmark photon {index}."""

import time

from luminal import IPhoton, hookimpl

GENERATION = {generation}


class Photon{index:05d}(IPhoton, name="photon_{index:05d}", version="1.0.0"):
    """Answers the benchmark's host hooks."""

    offset = {index}

    @hookimpl
    def bench_echo(self, value: int) -> int:
        return value + self.offset

    @hookimpl
    async def bench_aecho(self, value: int) -> int:
        return value + self.offset

    @hookimpl
    def photon_start(self) -> None:
        self.generation = GENERATION
        self.started_at = time.perf_counter()

    async def finalize(self) -> None:
        return None
'''


class HostSpecs:
    """The host hooks every generated photon implements."""

    @hookspec
    def bench_echo(self, value: int) -> int:  # type: ignore[empty-body]
        """Return ``value`` plus the photon's offset."""

    @hookspec
    def bench_aecho(self, value: int) -> int:  # type: ignore[empty-body]
        """Async: return ``value`` plus the photon's offset."""


def photon_source(index: int, generation: int = 0) -> str:
    """The source of generated photon ``index``; ``generation`` marks an edited version."""
    return PHOTON_TEMPLATE.format(index=index, generation=generation)


def photon_path(directory: Path, index: int) -> Path:
    return directory / f"photon_{index:05d}.py"


def write_photons(directory: Path, count: int) -> list[Path]:
    """Write ``count`` photon files into ``directory`` (created) and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = photon_path(directory, index)
        path.write_text(photon_source(index))
        paths.append(path)
    return paths
