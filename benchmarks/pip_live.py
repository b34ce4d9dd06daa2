"""8. Installed photons live: from ``pip install -U`` returning to the new version running."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure"]

GROUP = "luminal.bench_live"
"""An entry-point group of its own, so photon packages installed elsewhere are never counted."""

DISTRIBUTION = "bench-live-photons"

DEADLINE = 60.0
"""Seconds a new version may take to go live before the run fails."""

METHOD = (
    "**8. Installed photons live**: a fresh interpreter puts an empty venv's site-packages on "
    "`sys.path` and runs `loader.watch_photons(None, entry_points=True)` on a group of its own. "
    "Wheels of one photon distribution, one per version, are built offline by hatchling "
    "beforehand. Each sample runs `pip install --upgrade --force-reinstall --no-deps --no-index "
    "WHEEL` (the next version) into the venv as a child process of the running loop; Luminal's "
    "time is from that process returning to the new version's `photon_start` (it records "
    "`time.perf_counter()`; an observer's `luminal_photon_started` hands it over). A negative "
    "time would mean the version went live before pip had exited. The baseline column is pip's "
    "own run time, for scale."
)


def _measure() -> str:
    return "Time from `pip install -U` returning to the new version's `photon_start`"


def expected(config: Config) -> list[str]:
    return [_measure()]


PHOTON = """
    import time
    from luminal import IPhoton, hookimpl

    class Live(IPhoton, name="bench_live"):
        @hookimpl
        def photon_start(self):
            self.started_at = time.perf_counter()

        async def finalize(self):
            pass
"""


def _build_wheel(where: Path, version: str) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    project = where / f"project-{version}"
    (project / "bench_live_photons").mkdir(parents=True)
    (project / "bench_live_photons" / "__init__.py").write_text(
        textwrap.dedent(PHOTON) + f"\nVERSION = {version!r}\n"
    )
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{DISTRIBUTION}"
            version = "{version}"

            [project.entry-points."{GROUP}"]
            live = "bench_live_photons:Live"
            """
        )
    )
    [wheel] = WheelBuilder(str(project)).build(directory=str(where / "dist"), versions=["standard"])
    return Path(wheel)


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal

    sys.path.insert(0, arguments["site_packages"])
    wheels: list[str] = arguments["wheels"]

    async def pip_install(wheel: str) -> tuple[float, float]:
        """Install ``wheel``; when pip returned, and how long it ran."""
        began = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "pip", "--python", arguments["python"], "install", "--upgrade"),
            *("--force-reinstall", "--no-deps", "--no-index", "--quiet", "--no-input"),
            *("--disable-pip-version-check", wheel),
            stdout=subprocess.DEVNULL,
        )
        if await process.wait() != 0:
            raise RuntimeError(f"pip install {wheel} failed")
        returned = time.perf_counter()
        return returned, returned - began

    async def run() -> dict[str, Any]:
        started: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

        class Observer:
            @luminal.hookimpl
            def luminal_photon_started(self, handler: luminal.Handler) -> None:
                if handler.origin is not None and handler.instance is not None:
                    started.put_nowait((handler.origin.version, handler.instance.started_at))

        async def live(version: str) -> float:
            while True:
                running, started_at = await asyncio.wait_for(started.get(), DEADLINE)
                if running == version:
                    return started_at

        latencies: list[float] = []
        pip_times: list[float] = []
        async with luminal.Loader() as loader:
            loader.plugin_manager.register(Observer(), name="bench-observer")
            await loader.watch_photons(None, entry_points=True, entry_point_group=GROUP)
            for index, wheel in enumerate(wheels):
                returned, took = await pip_install(wheel)
                started_at = await live(f"{index + 1}.0")
                if index > 0:  # the first install only shows that the environment is watched
                    latencies.append(started_at - returned)
                    pip_times.append(took)
            await loader.stop_watching_photons()
        return {"luminal": latencies, "pip": pip_times}

    return asyncio.run(run())


def measure(config: Config, workdir: Path) -> list[Row]:
    wheels = [_build_wheel(workdir, f"{number}.0") for number in range(1, config.pip_samples + 2)]
    venv = workdir / "pip_live_venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    variables = {"base": str(venv), "platbase": str(venv)}
    site_packages = Path(sysconfig.get_path("purelib", vars=variables)).resolve()
    samples = run_child(
        "pip_live",
        {
            "site_packages": str(site_packages),
            "python": str(venv / "bin" / "python"),
            "wheels": [str(wheel) for wheel in wheels],
        },
    )
    return [
        Row(
            "8",
            _measure(),
            "ms",
            Stats.of(samples["luminal"]),
            "`pip install -U` itself (its own run time)",
            Stats.of(samples["pip"]),
        )
    ]
