"""6. Loading photons from entry points among many installed distributions, beside
``importlib.metadata`` and pluggy's ``load_setuptools_entrypoints``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import photon_source
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure", "write_distributions"]

GROUP = "luminal.benchmark.photons"
"""A group of the benchmark's own: photon packages installed where it runs are never counted."""

METHOD = (
    "**6. Entry points**: a temporary directory on `sys.path` holds the extra distributions "
    "(`*.dist-info` with `METADATA`, a `RECORD`, and for some an `entry_points.txt` naming a "
    f"photon class in the group `{GROUP}`, plus a `console_scripts` entry for the others) and "
    "the photon modules. Each sample is a fresh interpreter that puts the directory first on "
    "`sys.path`, imports `luminal` (untimed) and times finding *and importing* the group's "
    "photons: `Loader.load_entry_points(group=...)` (Luminal: discovery, policy, hashing, "
    "handlers), `[ep.load() for ep in importlib.metadata.entry_points(group=...)]`, and "
    "`PluginManager.load_setuptools_entrypoints(group)` (discovery, import, register). The "
    "rest of the environment's distributions are scanned by all three. Sides alternate."
)

MODES = ("luminal", "importlib", "pluggy")


def _measure(config: Config) -> tuple[str, str]:
    where = (
        f"{config.photon_distributions} photons among {config.distributions} extra distributions"
    )
    return (
        f"Entry-point load, {where}",
        f"Entry-point load, {where}, beside pluggy",
    )


def expected(config: Config) -> list[str]:
    return list(_measure(config))


def write_distributions(site: Path, distributions: int, with_photons: int) -> None:
    """Write ``distributions`` dist-info directories; every n-th declares a photon."""
    site.mkdir(parents=True, exist_ok=True)
    step = max(1, distributions // max(1, with_photons))
    photons = 0
    for index in range(distributions):
        name = f"bench_dist_{index:04d}"
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nSummary: benchmark filler\n"
        )
        if index % step == 0 and photons < with_photons:
            module = f"bench_ep_photon_{index:04d}"
            (site / f"{module}.py").write_text(photon_source(10_000 + index))
            (info / "entry_points.txt").write_text(
                f"[{GROUP}]\nphoton_{index:04d} = {module}:Photon{10_000 + index:05d}\n"
            )
            (info / "RECORD").write_text(f"{module}.py,,\n{info.name}/METADATA,,\n")
            photons += 1
        else:
            (info / "entry_points.txt").write_text(f"[console_scripts]\n{name} = {name}:main\n")
            (info / "RECORD").write_text(f"{info.name}/METADATA,,\n")
    if photons != with_photons:
        raise ValueError(f"wrote {photons} photon distributions, not {with_photons}")


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import importlib.metadata

    import pluggy

    import luminal
    from luminal import IPhoton, hookspecs  # noqa: F401  (the photons' import, untimed)

    sys.path.insert(0, arguments["site"])
    mode = arguments["mode"]

    async def with_luminal() -> int:
        async with luminal.Loader() as loader:
            started = time.perf_counter()
            # Written against the documented API; Loaders without it are reported by measure().
            load_entry_points = getattr(loader, "load_entry_points")  # noqa: B009
            handlers: list[luminal.Handler] = await load_entry_points(group=GROUP)
            timings.append(time.perf_counter() - started)
            return len(handlers)

    timings: list[float] = []
    if mode == "luminal":
        count = asyncio.run(with_luminal())
    elif mode == "importlib":
        started = time.perf_counter()
        loaded = [entry.load() for entry in importlib.metadata.entry_points(group=GROUP)]
        timings.append(time.perf_counter() - started)
        count = len(loaded)
    else:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        started = time.perf_counter()
        count = manager.load_setuptools_entrypoints(GROUP)
        timings.append(time.perf_counter() - started)
    return {"seconds": timings[0], "count": count}


def measure(config: Config, workdir: Path) -> list[Row]:
    from luminal import Loader

    if not hasattr(Loader, "load_entry_points"):
        missing = "not measured: this Luminal has no `Loader.load_entry_points`"
        return [
            Row("6", measure, "ms", None, missing, None, target="≤ 1.1x")
            for measure in _measure(config)
        ]
    site = workdir / "site"
    write_distributions(site, config.distributions, config.photon_distributions)
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_number in range(config.entry_point_repeats):
        shift = round_number % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            result = run_child("entry_points", {"site": str(site), "mode": mode})
            if result["count"] != config.photon_distributions:
                raise RuntimeError(
                    f"{mode} loaded {result['count']} of {config.photon_distributions} photons"
                )
            samples[mode].append(result["seconds"])
    luminal, importlib_side, pluggy_side = (Stats.of(samples[mode]) for mode in MODES)
    against_importlib, against_pluggy = _measure(config)
    return [
        Row(
            "6",
            against_importlib,
            "ms",
            luminal,
            "`importlib.metadata.entry_points(group=...)` + `ep.load()`",
            importlib_side,
            target="≤ 1.1x",
            met=luminal.median <= 1.1 * importlib_side.median,
        ),
        Row(
            "6",
            against_pluggy,
            "ms",
            luminal,
            "pluggy `load_setuptools_entrypoints`",
            pluggy_side,
            target="≤ 1.1x",
            met=luminal.median <= 1.1 * pluggy_side.median,
        ),
    ]
