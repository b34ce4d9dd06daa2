"""4. CPU used while watching many idle files, beside no watcher (and watchfiles)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import write_photons
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure"]

SETTLE = 1.0
"""Seconds between starting to watch and measuring, so start-up work is not counted."""

METHOD = (
    "**4. Idle CPU**: each figure is a fresh interpreter that loads and starts the photon files "
    "(as `watch_photons` does), then measures `time.process_time()` (all threads of the "
    "process) over a wall-clock window of `asyncio.sleep`, after a settling pause (the "
    f"window's length, at most {SETTLE:.0f} s), as a percentage of one core. *No watcher* only "
    "loads and starts the photons; *watchfiles* adds a `watchfiles.awatch(dir)` task "
    "(default settings) for context. No file changes during the window."
)

MODES = ("luminal", "none", "watchfiles")


def _measures(config: Config) -> list[str]:
    window = f"{config.idle_seconds:g} s"
    return [
        *(f"Idle CPU watching {count} files ({window})" for count in config.idle_file_counts),
        *(
            f"Idle CPU watching {count} files ({window}), beside watchfiles"
            for count in config.idle_file_counts
        ),
    ]


def expected(config: Config) -> list[str]:
    return _measures(config)


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal

    directory = Path(arguments["directory"])
    mode = arguments["mode"]

    async def run() -> float:
        async with luminal.Loader() as loader:
            stop = asyncio.Event()
            follower: asyncio.Task[None] | None = None
            if mode == "luminal":
                await loader.watch_photons(directory)
            else:
                for handler in await loader.load_photons(directory, recursive=True):
                    await handler.start()
            if mode == "watchfiles":
                import watchfiles

                async def follow() -> None:
                    async for _ in watchfiles.awatch(directory, stop_event=stop):
                        pass

                follower = asyncio.create_task(follow())
            if len(loader.photons) != arguments["count"]:
                raise RuntimeError(f"{len(loader.photons)} of {arguments['count']} photons")
            await asyncio.sleep(min(SETTLE, arguments["seconds"]))
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            await asyncio.sleep(arguments["seconds"])
            cpu = time.process_time() - cpu_started
            wall = time.perf_counter() - wall_started
            stop.set()
            if follower is not None:
                await follower
            if mode == "luminal":
                await loader.stop_watching_photons()
        return 100 * cpu / wall

    return {"percent": asyncio.run(run())}


def measure(config: Config, workdir: Path) -> list[Row]:
    percent: dict[tuple[int, str], float] = {}
    for count in config.idle_file_counts:
        directory = workdir / f"idle_{count}"
        write_photons(directory, count)
        for mode in MODES:
            result = run_child(
                "idle_cpu",
                {
                    "directory": str(directory),
                    "mode": mode,
                    "count": count,
                    "seconds": config.idle_seconds,
                },
            )
            percent[count, mode] = result["percent"]
    measures = _measures(config)
    largest = max(config.idle_file_counts)
    rows = []
    for index, count in enumerate(config.idle_file_counts):
        is_target = count == largest
        rows.append(
            Row(
                "4",
                measures[index],
                "%",
                Stats.single(percent[count, "luminal"]),
                "no watcher",
                Stats.single(percent[count, "none"]),
                target="< 0.5 % of one core" if is_target else "",
                met=percent[count, "luminal"] < 0.5 if is_target else None,
                scale=("Idle CPU while watching", count),
            )
        )
    for index, count in enumerate(config.idle_file_counts):
        rows.append(
            Row(
                "4",
                measures[len(config.idle_file_counts) + index],
                "%",
                Stats.single(percent[count, "luminal"]),
                "`watchfiles.awatch`",
                Stats.single(percent[count, "watchfiles"]),
            )
        )
    return rows
