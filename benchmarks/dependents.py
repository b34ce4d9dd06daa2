"""7. Reloading a provider with its dependents in one transaction, against independent reloads."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure"]

METHOD = (
    "**7. Dependents** run in one fresh interpreter. A provider photon and N dependents, each "
    "`requires=['provider>=1']`, are loaded and started; one sample is "
    "`await loader.reload_photon('provider')`: the provider is re-imported and the transaction "
    "finalizes the N dependents and the provider, then starts the new provider and restarts "
    "each dependent on a fresh instance with its state. Beside it, N + 1 photons without "
    "requirements in another loader are reloaded one by one (`reload_photon` each: re-import, "
    "export state, finalize, start). Sides alternate sample by sample."
)

PHOTON = """
from luminal import IPhoton, hookimpl


class Photon(IPhoton, name={name!r}, version="1.0", requires={requires!r}):
    def __init__(self):
        self.count = 0

    @hookimpl
    def photon_export_state(self):
        return self.count

    @hookimpl
    def photon_import_state(self, state):
        self.count = state + 1

    async def finalize(self):
        pass
"""


def _measure_name(count: int) -> str:
    return f"Reload a provider with {count} running dependents (one transaction)"


def expected(config: Config) -> list[str]:
    return [_measure_name(config.dependents)]


def _write(directory: Path, names: list[str], requires: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = PHOTON.format(name=name, requires=requires if name != "provider" else [])
        (directory / f"{name}.py").write_text(textwrap.dedent(source))


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal

    samples: dict[str, list[float]] = {"transaction": [], "independent": []}

    async def run() -> None:
        async with luminal.Loader() as chained, luminal.Loader() as independent:
            for loader, key in ((chained, "chained"), (independent, "independent")):
                for handler in await loader.load_photons(arguments[key]):
                    await handler.start()
            names = sorted(independent.photons)
            if len(chained.photons) != len(names) or not all(
                handler.started for handler in chained.photons.values()
            ):
                raise RuntimeError("the provider's dependents did not all start")
            for sample in range(arguments["rounds"]):
                for side in ("transaction", "independent")[:: 1 if sample % 2 else -1]:
                    started = time.perf_counter()
                    if side == "transaction":
                        await chained.reload_photon("provider")
                    else:
                        for name in names:
                            await independent.reload_photon(name)
                    samples[side].append(time.perf_counter() - started)

    asyncio.run(run())
    return samples


def measure(config: Config, workdir: Path) -> list[Row]:
    count = config.dependents
    dependents = [f"dependent{index:04d}" for index in range(count)]
    _write(workdir / "chained", ["provider", *dependents], ["provider>=1"])
    _write(workdir / "independent", ["provider", *dependents], [])
    samples = run_child(
        "dependents",
        {
            "chained": str(workdir / "chained"),
            "independent": str(workdir / "independent"),
            "rounds": config.dependent_rounds,
        },
    )
    return [
        Row(
            "7",
            _measure_name(count),
            "ms",
            Stats.of(samples["transaction"]),
            f"{count + 1} independent `reload_photon` calls",
            Stats.of(samples["independent"]),
        )
    ]
