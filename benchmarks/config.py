"""The sizes of a full run and of the smoke run CI does."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "SMOKE", "Config"]


@dataclass(frozen=True)
class Config:
    """How big each benchmark is and how many samples it takes."""

    name: str
    cold_load_sizes: tuple[int, ...]
    cold_load_repeats: int
    lifecycle_photons: int
    lifecycle_rounds: int
    sync_call_samples: int
    async_call_samples: int
    watch_photons: int
    watch_samples: int
    idle_file_counts: tuple[int, ...]
    idle_seconds: float
    reload_cycles: int
    distributions: int
    photon_distributions: int
    entry_point_repeats: int
    dependents: int
    dependent_rounds: int


FULL = Config(
    name="full",
    cold_load_sizes=(10, 100, 1000),
    cold_load_repeats=9,
    lifecycle_photons=1000,
    lifecycle_rounds=5,
    sync_call_samples=500,
    async_call_samples=200,
    watch_photons=100,
    watch_samples=25,
    idle_file_counts=(1000, 10_000),
    idle_seconds=10.0,
    reload_cycles=1000,
    distributions=500,
    photon_distributions=50,
    entry_point_repeats=9,
    dependents=100,
    dependent_rounds=9,
)

SMOKE = Config(
    name="smoke",
    cold_load_sizes=(5, 20),
    cold_load_repeats=2,
    lifecycle_photons=50,
    lifecycle_rounds=1,
    sync_call_samples=20,
    async_call_samples=10,
    watch_photons=10,
    watch_samples=4,
    idle_file_counts=(50, 100),
    idle_seconds=1.0,
    reload_cycles=20,
    distributions=20,
    photon_distributions=5,
    entry_point_repeats=2,
    dependents=10,
    dependent_rounds=2,
)
