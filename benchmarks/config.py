"""The sizes of a full run and of the smoke run CI does."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "SMOKE", "Config"]


@dataclass(frozen=True)
class Config:
    """How big each benchmark is and how many samples it takes."""

    name: str
    target_photons: int
    """The photon count the per-photon targets are set at; larger counts show growth."""
    cold_load_sizes: tuple[int, ...]
    cold_load_repeats: int
    large_repeats: int
    """Samples per side of a cold load of more than ``target_photons`` files."""
    lifecycle_photons: int
    lifecycle_rounds: int
    lifecycle_large_photons: int
    lifecycle_large_rounds: int
    sync_call_samples: int
    async_call_samples: int
    watch_photons: int
    watch_sizes: tuple[int, ...]
    watch_samples: int
    idle_file_counts: tuple[int, ...]
    idle_seconds: float
    reload_cycles: int
    distributions: int
    photon_distributions: int
    entry_point_repeats: int
    dependents: int
    pip_samples: int
    dependent_rounds: int

    def cold_load_samples(self, count: int) -> int:
        """Samples per side of a cold load of ``count`` files."""
        return self.cold_load_repeats if count <= self.target_photons else self.large_repeats


FULL = Config(
    name="full",
    target_photons=1000,
    cold_load_sizes=(10, 100, 1000, 10_000),
    cold_load_repeats=9,
    large_repeats=3,
    lifecycle_photons=1000,
    lifecycle_rounds=5,
    lifecycle_large_photons=10_000,
    lifecycle_large_rounds=3,
    sync_call_samples=500,
    async_call_samples=200,
    watch_photons=100,
    watch_sizes=(10, 100, 1000, 10_000),
    watch_samples=25,
    idle_file_counts=(1000, 10_000),
    idle_seconds=10.0,
    reload_cycles=1000,
    distributions=500,
    photon_distributions=50,
    entry_point_repeats=9,
    dependents=100,
    pip_samples=20,
    dependent_rounds=9,
)

SMOKE = Config(
    name="smoke",
    target_photons=20,
    cold_load_sizes=(5, 20, 40),
    cold_load_repeats=2,
    large_repeats=1,
    lifecycle_photons=50,
    lifecycle_rounds=1,
    lifecycle_large_photons=100,
    lifecycle_large_rounds=1,
    sync_call_samples=20,
    async_call_samples=10,
    watch_photons=10,
    watch_sizes=(5, 10),
    watch_samples=4,
    idle_file_counts=(50, 100),
    idle_seconds=1.0,
    reload_cycles=20,
    distributions=20,
    photon_distributions=5,
    entry_point_repeats=2,
    dependents=10,
    pip_samples=2,
    dependent_rounds=2,
)
