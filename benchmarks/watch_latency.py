"""3. Save-to-live latency under ``watch_photons``, beside ``watchfiles.awatch`` noticing the
same writes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import photon_path, photon_source, write_photons
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure"]

DEADLINE = 10.0
"""Seconds one write may take to be noticed before the run fails."""

GAP = 0.25
"""Seconds between writes, so that watchfiles' 50 ms step does not merge two of them."""

METHOD = (
    "**3. Save-to-live** runs in one fresh interpreter: `loader.watch_photons(dir)` (default "
    "debounce) watches the photons while a `watchfiles.awatch(dir)` task (default settings: "
    "`debounce=1600`, `step=50` ms) watches the same directory in the same loop. Each sample "
    "rewrites one photon file with a new `GENERATION`; Luminal's time is from just before the "
    "write to the moment the new version's `photon_start` ran (it records `time.perf_counter()`; "
    "an observer plugin's `luminal_photon_reloaded` hands it over); watchfiles' time is from the "
    f"same instant to `awatch` yielding the change. Writes are {GAP * 1000:.0f} ms apart and go "
    "round-robin over the photons. Each photon count runs in an interpreter of its own."
)


def _measure(count: int) -> str:
    return f"Save-to-live latency, {count} photons watched"


def expected(config: Config) -> list[str]:
    return [_measure(count) for count in config.watch_sizes]


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import watchfiles

    import luminal

    directory = Path(arguments["directory"])
    count = arguments["count"]

    async def run() -> dict[str, Any]:
        reloads: asyncio.Queue[tuple[str, int, float]] = asyncio.Queue()
        changes: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

        class Observer:
            @luminal.hookimpl
            def luminal_photon_reloaded(self, old: luminal.Handler, new: luminal.Handler) -> None:
                instance = new.instance
                if instance is not None:
                    reloads.put_nowait((new.name, instance.generation, instance.started_at))

        stop = asyncio.Event()

        async def follow() -> None:
            async for batch in watchfiles.awatch(directory, stop_event=stop):
                noticed = time.perf_counter()
                for _, changed in batch:
                    changes.put_nowait((Path(changed).name, noticed))

        async def noticed_by_watchfiles(file_name: str) -> float:
            while True:
                changed, noticed = await asyncio.wait_for(changes.get(), DEADLINE)
                if changed == file_name:
                    return noticed

        async def live_in_luminal(name: str, generation: int) -> float:
            while True:
                reloaded, running, started_at = await asyncio.wait_for(reloads.get(), DEADLINE)
                if reloaded == name and running == generation:
                    return started_at

        async with luminal.Loader() as loader:
            loader.plugin_manager.register(Observer(), name="bench-observer")
            await loader.watch_photons(directory)
            if len(loader.photons) != count:
                raise RuntimeError(f"watching {len(loader.photons)} of {count} photons")
            follower = asyncio.create_task(follow())
            await _until_watchfiles_runs(directory / "ready.txt", changes)
            luminal_latency: list[float] = []
            watchfiles_latency: list[float] = []
            try:
                for sample in range(-1, arguments["samples"]):
                    index = sample % count
                    generation = sample + 2
                    path = photon_path(directory, index)
                    source = photon_source(index, generation)
                    written = time.perf_counter()
                    path.write_text(source)
                    live, noticed = await asyncio.gather(
                        live_in_luminal(f"photon_{index:05d}", generation),
                        noticed_by_watchfiles(path.name),
                    )
                    if sample >= 0:  # the first write only shows that both are watching
                        luminal_latency.append(live - written)
                        watchfiles_latency.append(noticed - written)
                    await asyncio.sleep(GAP)
                    while not changes.empty():
                        changes.get_nowait()
            finally:
                stop.set()
                await follower
                await loader.stop_watching_photons()
        return {"luminal": luminal_latency, "watchfiles": watchfiles_latency}

    return asyncio.run(run())


async def _until_watchfiles_runs(marker: Path, changes: asyncio.Queue[tuple[str, float]]) -> None:
    """``awatch`` gives no sign that it watches; write a file Luminal ignores until it shows."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        marker.write_text(str(time.monotonic()))
        try:
            changed, _ = await asyncio.wait_for(changes.get(), GAP)
        except asyncio.TimeoutError:
            continue
        if changed == marker.name:
            marker.unlink()
            await asyncio.sleep(GAP)
            while not changes.empty():
                changes.get_nowait()
            return
    raise RuntimeError("watchfiles.awatch did not start")


def _row(config: Config, workdir: Path, count: int) -> Row:
    directory = workdir / f"watched_{count}"
    write_photons(directory, count)
    samples = run_child(
        "watch_latency",
        {"directory": str(directory), "count": count, "samples": config.watch_samples},
    )
    luminal = Stats.of(samples["luminal"])
    watchfiles = Stats.of(samples["watchfiles"])
    is_target = count == config.watch_photons
    return Row(
        "3",
        _measure(count),
        "ms",
        luminal,
        "`watchfiles.awatch` noticing the write",
        watchfiles,
        target="median ≤ 40 ms, p95 ≤ 80 ms, both below watchfiles'" if is_target else "",
        met=(
            luminal.median <= 0.040
            and luminal.p95 <= 0.080
            and luminal.median < watchfiles.median
            and luminal.p95 < watchfiles.p95
        )
        if is_target
        else None,
        scale=("Save-to-live", count),
    )


def measure(config: Config, workdir: Path) -> list[Row]:
    return [_row(config, workdir, count) for count in config.watch_sizes]
