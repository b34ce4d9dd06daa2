"""1. Cold load of N photon files in a fresh interpreter, against importing them raw."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import write_photons
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child_floor", "child_luminal", "expected", "measure"]

METHOD = (
    "**1. Cold load**: each sample is a fresh interpreter (`python -m benchmarks.worker`) that "
    "imports `luminal` (untimed: the photons import it too) and then times only "
    "`Loader.load_photons(dir)` (Luminal) or a listing of the directory plus "
    "`spec_from_file_location` + `module_from_spec` + `sys.modules[name] = module` + "
    "`exec_module` for each file (the floor). Bytecode: both sides compile every photon from "
    "source: the photon directory never has a `__pycache__`, `PYTHONDONTWRITEBYTECODE=1` is "
    "set for both and Luminal's code cache is off (`Loader(code_cache=False)`); Luminal never "
    "reads `__pycache__` for photons by design (it compiles the bytes it hashed). The *warm* "
    "row compares Luminal with its code cache filled by an earlier run (it unmarshals what "
    "those bytes compiled to) against the floor reading the bytecode that an earlier run wrote "
    "in a copy of the directory. Python's own modules, pluggy "
    "and Luminal are imported from their (warm) bytecode on both sides; the files are in the "
    "OS page cache on both sides. Sides alternate within each round."
)


IMPORT_MEASURE = "`import luminal` in a fresh interpreter"


def _load_measure(count: int) -> str:
    return f"Cold load, {count} photon files"


def _warm_measure(count: int) -> str:
    return f"Cold load, {count} photon files, warm code cache beside a warm `__pycache__`"


def expected(config: Config) -> list[str]:
    measures = [_load_measure(count) for count in config.cold_load_sizes]
    return [*measures, _warm_measure(max(config.cold_load_sizes)), IMPORT_MEASURE]


def child_luminal(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal

    async def load() -> tuple[float, int]:
        async with luminal.Loader(code_cache=arguments.get("code_cache") or False) as loader:
            started = time.perf_counter()
            handlers = await loader.load_photons(arguments["directory"])
            elapsed = time.perf_counter() - started
        return elapsed, len(handlers)

    elapsed, count = asyncio.run(load())
    return {"seconds": elapsed, "count": count}


def child_floor(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal  # noqa: F401  (the photons import it; the Luminal side has it imported too)

    directory = arguments["directory"]
    started = time.perf_counter()
    names = sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name.endswith(".py") and entry.is_file()
    )
    for file_name in names:
        module_name = "bench_floor_" + file_name[:-3]
        spec = importlib.util.spec_from_file_location(
            module_name, os.path.join(directory, file_name)
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "count": len(names)}


def measure(config: Config, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    warm_rows: list[Row] = []
    largest = max(config.cold_load_sizes)
    code_cache = str(workdir / "code_cache")
    for count in config.cold_load_sizes:
        cold_dir = workdir / f"cold_{count}"
        write_photons(cold_dir, count)
        warm_dir = workdir / f"warm_{count}"
        with_warm = count == largest
        if with_warm:
            shutil.copytree(cold_dir, warm_dir)
            run_child("cold_load_floor", {"directory": str(warm_dir)}, write_bytecode=True)
            if not (warm_dir / "__pycache__").is_dir():
                raise RuntimeError("priming the warm floor wrote no __pycache__")
            run_child("cold_load_luminal", {"directory": str(cold_dir), "code_cache": code_cache})
        samples: dict[str, list[float]] = {
            side: [] for side in ("luminal", "floor", "warm", "cached")
        }
        sides = [
            ("luminal", "cold_load_luminal", cold_dir, False, ""),
            ("floor", "cold_load_floor", cold_dir, False, ""),
        ]
        if with_warm:
            sides.append(("warm", "cold_load_floor", warm_dir, True, ""))
            sides.append(("cached", "cold_load_luminal", cold_dir, False, code_cache))
        for round_number in range(config.cold_load_repeats):
            shift = round_number % len(sides)
            for side, task, directory, write_bytecode, cache in sides[shift:] + sides[:shift]:
                result = run_child(
                    task,
                    {"directory": str(directory), "code_cache": cache},
                    write_bytecode=write_bytecode,
                )
                if result["count"] != count:
                    raise RuntimeError(f"{task} loaded {result['count']} of {count} photons")
                samples[side].append(result["seconds"])
        if (cold_dir / "__pycache__").exists():
            raise RuntimeError(f"bytecode was written next to the cold photons in {cold_dir}")
        luminal = Stats.of(samples["luminal"])
        floor = Stats.of(samples["floor"])
        is_target = count == largest
        rows.append(
            Row(
                "1",
                _load_measure(count),
                "ms",
                luminal,
                "raw import (spec_from_file_location + exec_module), no bytecode",
                floor,
                target="≤ 1.15x" if is_target else "",
                met=luminal.median <= 1.15 * floor.median if is_target else None,
            )
        )
        if with_warm:
            cached, warm = Stats.of(samples["cached"]), Stats.of(samples["warm"])
            warm_rows.append(
                Row(
                    "1",
                    _warm_measure(count),
                    "ms",
                    cached,
                    "raw import reading bytecode written by an earlier run",
                    warm,
                    target="≤ 1.3x",
                    met=cached.median <= 1.3 * warm.median,
                )
            )
    rows += warm_rows
    import_samples: dict[str, list[float]] = {"luminal": [], "pluggy": []}
    modules = {"luminal": ["luminal"], "pluggy": ["pluggy", "asyncio"]}
    for _ in range(config.cold_load_repeats):
        for side, names in modules.items():
            result = run_child("import_time", {"modules": names})
            import_samples[side].append(result["seconds"])
    rows.append(
        Row(
            "1",
            IMPORT_MEASURE,
            "ms",
            Stats.of(import_samples["luminal"]),
            "`import pluggy, asyncio`",
            Stats.of(import_samples["pluggy"]),
        )
    )
    return rows
