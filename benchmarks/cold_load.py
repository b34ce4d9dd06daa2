"""1. Cold load of N photon files in a fresh interpreter, against importing them raw."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import write_photons
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child_floor", "child_luminal", "child_pipeline", "expected", "measure"]

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
    "OS page cache on both sides. Sides alternate within each round. Counts above the one the "
    "targets are set at take fewer samples (the *n* column). The floor imports what the photons "
    "import from Luminal (`IPhoton`, `hookimpl`) before its clock starts, as the Luminal side has. "
    "*Import* rows time importing the modules in a fresh interpreter: `import luminal` imports "
    "its errors and hook markers and leaves the rest until a name is asked for (PEP 562); "
    "`from luminal import Loader` is what a host imports before it loads photons (the watcher "
    "and the installed-photon machinery come with the first `watch_photons` or "
    "`load_entry_points` call). The *pipeline alone* rows split a load's cost: they time, in "
    "the same kind of interpreter, only what Luminal does to each file's bytes (read once on a "
    "descriptor, SHA-512, compiled from those bytes or, warm, their code unmarshalled from the "
    "code cache, then run in a new module), without the loader's work per source (the trust "
    "hook, helper ownership, the modules and threads an import brought in, handlers, the "
    "registry and the `luminal_photon_loaded` event); the rest of a load's time is that work."
)


IMPORT_MEASURE = "`import luminal` in a fresh interpreter"
LOADER_IMPORT_MEASURE = "`from luminal import Loader` in a fresh interpreter"


def _load_measure(count: int) -> str:
    return f"Cold load, {count} photon files"


def _warm_measure(count: int) -> str:
    return f"Cold load, {count} photon files, warm code cache beside a warm `__pycache__`"


def _pipeline_measure(count: int, warm: bool) -> str:
    steps = (
        "read, hash and unmarshal from the warm code cache" if warm else "read, hash and compile"
    )
    return f"Cold load, {count} photon files: the pipeline alone ({steps})"


def expected(config: Config) -> list[str]:
    measures = [_load_measure(count) for count in config.cold_load_sizes]
    target = config.target_photons
    return [
        *measures,
        _pipeline_measure(target, warm=False),
        _warm_measure(target),
        _pipeline_measure(target, warm=True),
        IMPORT_MEASURE,
        LOADER_IMPORT_MEASURE,
    ]


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


def _photon_file_names(directory: str) -> list[str]:
    """The photon files of ``directory``, listed as part of each side's timed load."""
    return sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name.endswith(".py") and entry.is_file()
    )


def child_floor(arguments: dict[str, Any]) -> dict[str, Any]:
    # What the photons import, as the Luminal side has it imported: untimed on both sides.
    from luminal import IPhoton, hookimpl  # noqa: F401

    directory = arguments["directory"]
    started = time.perf_counter()
    names = _photon_file_names(directory)
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


def child_pipeline(arguments: dict[str, Any]) -> dict[str, Any]:
    """What Luminal does to each photon file's bytes, without the loader around it."""
    from luminal import IPhoton, hookimpl  # noqa: F401
    from luminal.codecache import CodeCache
    from luminal.reading import checksum_files, read_regular_file

    directory = arguments["directory"]
    cache = CodeCache(Path(arguments["code_cache"])) if arguments.get("code_cache") else None
    started = time.perf_counter()
    names = _photon_file_names(directory)
    for file_name in names:
        path = Path(directory, file_name)
        filename = os.fspath(path)
        source = read_regular_file(path)
        checksum_files({path: source}, path)

        def compile_source(source: bytes = source, filename: str = filename) -> types.CodeType:
            return compile(source, filename, "exec", dont_inherit=True)

        code = compile_source() if cache is None else cache.code(source, filename, compile_source)
        module = types.ModuleType("bench_pipeline_" + file_name[:-3])
        module.__file__ = filename
        sys.modules[module.__name__] = module
        exec(code, module.__dict__)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "count": len(names)}


def _samples(config: Config, workdir: Path, count: int, code_cache: str) -> dict[str, list[float]]:
    """Seconds per fresh interpreter of each side at ``count`` files; the warm sides only at
    the target count."""
    cold_dir = workdir / f"cold_{count}"
    write_photons(cold_dir, count)
    sides = [
        ("luminal", "cold_load_luminal", cold_dir, False, ""),
        ("floor", "cold_load_floor", cold_dir, False, ""),
    ]
    if count == config.target_photons:
        sides.append(("pipeline", "cold_load_pipeline", cold_dir, False, ""))
        warm_dir = workdir / f"warm_{count}"
        shutil.copytree(cold_dir, warm_dir)
        run_child("cold_load_floor", {"directory": str(warm_dir)}, write_bytecode=True)
        if not (warm_dir / "__pycache__").is_dir():
            raise RuntimeError("priming the warm floor wrote no __pycache__")
        run_child("cold_load_luminal", {"directory": str(cold_dir), "code_cache": code_cache})
        sides.append(("warm", "cold_load_floor", warm_dir, True, ""))
        sides.append(("cached", "cold_load_luminal", cold_dir, False, code_cache))
        sides.append(("cached_pipeline", "cold_load_pipeline", cold_dir, False, code_cache))
    samples: dict[str, list[float]] = {side[0]: [] for side in sides}
    for round_number in range(config.cold_load_samples(count)):
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
    return samples


def _import_rows(config: Config) -> list[Row]:
    """``import luminal`` (the target) and ``from luminal import Loader`` (what a host
    imports), each beside ``import pluggy, asyncio``."""
    sides = {
        "luminal": ["luminal"],
        "loader": ["luminal.managers.loader"],
        "pluggy": ["pluggy", "asyncio"],
    }
    samples: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides.items())
    for round_number in range(config.cold_load_repeats):
        shift = round_number % len(order)
        for side, names in order[shift:] + order[:shift]:
            samples[side].append(run_child("import_time", {"modules": names})["seconds"])
    pluggy = Stats.of(samples["pluggy"])
    luminal, loader = Stats.of(samples["luminal"]), Stats.of(samples["loader"])
    baseline = "`import pluggy, asyncio`"
    return [
        Row(
            "1",
            IMPORT_MEASURE,
            "ms",
            luminal,
            baseline,
            pluggy,
            target="≤ 1.2x",
            met=luminal.median <= 1.2 * pluggy.median,
        ),
        Row("1", LOADER_IMPORT_MEASURE, "ms", loader, baseline, pluggy),
    ]


def _target_rows(count: int, samples: dict[str, list[float]], floor: Stats) -> list[Row]:
    """The warm cache beside the warm floor (the target), and the pipeline alone, cold and
    warm, beside the same floors (how much of a load is the loader's own work per source)."""
    cached, warm = Stats.of(samples["cached"]), Stats.of(samples["warm"])
    pipeline = Stats.of(samples["pipeline"])
    cached_pipeline = Stats.of(samples["cached_pipeline"])
    raw = "raw import (spec_from_file_location + exec_module), no bytecode"
    warm_floor = "raw import reading bytecode written by an earlier run"
    return [
        Row("1", _pipeline_measure(count, warm=False), "ms", pipeline, raw, floor),
        Row(
            "1",
            _warm_measure(count),
            "ms",
            cached,
            warm_floor,
            warm,
            target="≤ 1.3x",
            met=cached.median <= 1.3 * warm.median,
        ),
        Row("1", _pipeline_measure(count, warm=True), "ms", cached_pipeline, warm_floor, warm),
    ]


def measure(config: Config, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    warm_rows: list[Row] = []
    code_cache = str(workdir / "code_cache")
    for count in config.cold_load_sizes:
        samples = _samples(config, workdir, count, code_cache)
        luminal, floor = Stats.of(samples["luminal"]), Stats.of(samples["floor"])
        is_target = count == config.target_photons
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
                scale=("Cold load", count),
            )
        )
        if is_target:
            warm_rows.extend(_target_rows(count, samples, floor))
    return [*rows, *warm_rows, *_import_rows(config)]
