"""5. Memory, ``sys.modules`` and leftovers after many reloads, against raw re-imports."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
import time
import tracemalloc
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import photon_source
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child_luminal", "child_raw", "child_raw_restart", "expected", "measure"]

WARM_UP_CYCLES = 5
CLASS_NAME = "Photon00000"

METHOD = (
    "**5. Reload cycles**: one photon file is rewritten (a new `GENERATION` each time) and "
    "reloaded with `loader.reload_photon` (started photon: export state, finalize, start), "
    "beside a raw re-import (`spec_from_file_location` + `exec_module`, replacing the "
    "`sys.modules` entry). Each side runs twice in its own fresh interpreter: once timing each "
    f"cycle, once under `tracemalloc`. After {WARM_UP_CYCLES} warm-up cycles and "
    "`gc.collect()`, the traced memory still allocated after the cycles and a final "
    "`gc.collect()` is the growth; every replaced module and class is held by a weakref and "
    "counted if still alive. Both sides compile from source (no bytecode is written). Much of "
    "the growth on both sides is CPython's method cache (`_PyType_Lookup` keeps the attribute "
    "name strings of each new class version, bounded at 4096 entries; pluggy's "
    "`parse_hookimpl_opts` looks up a fresh `'luminal_impl'` string per attribute), so the "
    "target row measures after `sys._clear_type_cache()` as well; the last-half row shows "
    "whether growth keeps going (a leak) or levels off (a cache). The *restart* row adds to "
    "the raw re-import what a reload of a started photon does besides importing, written by "
    "hand in the same thread: `PluginManager.unregister` of the old instance, its `finalize()` "
    "awaited, a new instance created, registered and its `photon_start` called (a bare "
    "`pluggy.PluginManager` with Luminal's hook specs); it shows how much of the cycle is that "
    "work and how much is Luminal's own (the worker thread the import runs in, hashing, "
    "checks, bookkeeping)."
)


def _measures(cycles: int) -> list[str]:
    return [
        f"Time of one reload cycle ({cycles} cycles)",
        f"Time of one reload cycle ({cycles} cycles), beside a raw restart",
        f"Memory growth over {cycles} reloads (tracemalloc, after `gc.collect()`)",
        f"Memory growth over {cycles} reloads, CPython's type cache cleared",
        f"Memory growth over the last {cycles - cycles // 2} of the {cycles} reloads",
        f"`sys.modules` growth over {cycles} reloads",
        f"Replaced modules and classes alive after `gc.collect()` (of {4 * cycles})",
    ]


def expected(config: Config) -> list[str]:
    return _measures(config.reload_cycles)


def _traced_memory() -> int:
    """Bytes traced by ``tracemalloc``, leaving out this module's own bookkeeping (the
    weakrefs and timings it keeps per cycle); 0 when not tracing."""
    if not tracemalloc.is_tracing():
        return 0
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, __file__)])
    return sum(trace.size for trace in snapshot.traces)


def _rewrite(path: Path, generation: int) -> None:
    path.write_text(photon_source(0, generation))


async def _cycles(
    arguments: dict[str, Any], reload: Callable[[], Awaitable[ModuleType]]
) -> dict[str, Any]:
    """Run the warm-up and the measured cycles; ``reload()`` returns the new module."""
    path = Path(arguments["path"])
    for generation in range(1, WARM_UP_CYCLES + 1):
        _rewrite(path, generation)
        module = await reload()
    gc.collect()
    modules_before = len(sys.modules)
    if arguments["trace"]:
        tracemalloc.start()
    baseline = _traced_memory()
    replaced: list[weakref.ref[Any]] = []
    times: list[float] = []
    halfway = WARM_UP_CYCLES + 1 + arguments["cycles"] // 2
    for generation in range(WARM_UP_CYCLES + 1, WARM_UP_CYCLES + 1 + arguments["cycles"]):
        if generation == halfway:
            gc.collect()
            at_halfway = _traced_memory()
        replaced += [weakref.ref(module), weakref.ref(getattr(module, CLASS_NAME))]
        _rewrite(path, generation)
        started = time.perf_counter()
        module = await reload()
        times.append(time.perf_counter() - started)
        if generation != module.GENERATION:
            raise RuntimeError(f"generation {generation} is not the code running")
    del module
    gc.collect()
    after = _traced_memory()
    sys._clear_type_cache()
    after_cache_cleared = _traced_memory()
    tracemalloc.stop()
    return {
        "seconds": times,
        "growth": after - baseline,
        "second_half_growth": after - at_halfway,
        "growth_without_type_cache": after_cache_cleared - baseline,
        "modules_growth": len(sys.modules) - modules_before,
        "alive": sum(ref() is not None for ref in replaced),
    }


def child_luminal(arguments: dict[str, Any]) -> dict[str, Any]:
    import luminal

    async def run() -> dict[str, Any]:
        path = Path(arguments["path"])
        _rewrite(path, 0)
        async with luminal.Loader() as loader:
            loaded = await loader.load_photon(path)
            assert isinstance(loaded, luminal.Handler)
            await loaded.start()
            handler = loaded

            async def reload() -> ModuleType:
                nonlocal handler
                fresh = await loader.reload_photon(handler)
                assert isinstance(fresh, luminal.Handler)
                handler = fresh
                return sys.modules[handler.module_name]

            return await _cycles(arguments, reload)

    return asyncio.run(run())


def child_raw(arguments: dict[str, Any]) -> dict[str, Any]:
    # What the photon imports, as the Luminal side has it imported: untimed on both sides.
    from luminal import IPhoton, hookimpl  # noqa: F401

    path = Path(arguments["path"])
    _rewrite(path, 0)
    name = "bench_raw_photon"

    async def reload() -> ModuleType:
        return _raw_import(name, path)

    return asyncio.run(_cycles(arguments, reload))


def _raw_import(name: str, path: Path) -> ModuleType:
    """Import ``path`` afresh as ``name``, replacing its ``sys.modules`` entry."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def child_raw_restart(arguments: dict[str, Any]) -> dict[str, Any]:
    """A raw re-import that also swaps the running instance, as a reload of a started photon
    does: unregister and finalize the old one, create, register and start the new one."""
    import pluggy

    from luminal import IPhoton, hookimpl, hookspecs  # noqa: F401

    path = Path(arguments["path"])
    _rewrite(path, 0)
    name = "bench_raw_restart_photon"
    plugin_manager = pluggy.PluginManager("luminal")
    plugin_manager.add_hookspecs(hookspecs)
    running: list[Any] = []

    async def reload() -> ModuleType:
        module = _raw_import(name, path)
        if running:
            old = running.pop()
            plugin_manager.unregister(old)
            await old.finalize()
        instance = getattr(module, CLASS_NAME)()
        plugin_manager.register(instance, CLASS_NAME)
        instance.photon_start()
        running.append(instance)
        return module

    return asyncio.run(_cycles(arguments, reload))


def measure(config: Config, workdir: Path) -> list[Row]:
    results: dict[tuple[str, bool], dict[str, Any]] = {}
    for trace in (False, True):
        for side in ("luminal", "raw"):
            directory = workdir / f"reload_{side}_{trace}"
            directory.mkdir()
            results[side, trace] = run_child(
                f"reload_memory_{side}",
                {
                    "path": str(directory / "photon_00000.py"),
                    "cycles": config.reload_cycles,
                    "trace": trace,
                },
            )
    directory = workdir / "reload_raw_restart"
    directory.mkdir()
    restart = run_child(
        "reload_memory_raw_restart",
        {
            "path": str(directory / "photon_00000.py"),
            "cycles": config.reload_cycles,
            "trace": False,
        },
    )
    cycles = config.reload_cycles
    luminal, raw = results["luminal", True], results["raw", True]
    raw_growth = raw["growth_without_type_cache"]
    growth_limit = raw_growth + 0.1 * abs(raw_growth)
    alive = luminal["alive"] + results["luminal", False]["alive"]
    timing, timing_restart, memory, memory_without_cache, memory_second_half, modules, leftovers = (
        _measures(cycles)
    )
    cycle = Stats.of(results["luminal", False]["seconds"])
    raw_cycle = Stats.of(results["raw", False]["seconds"])
    return [
        Row(
            "5",
            timing,
            "ms",
            cycle,
            "raw re-import",
            raw_cycle,
            target="≤ 1.5x",
            met=cycle.median <= 1.5 * raw_cycle.median,
        ),
        Row(
            "5",
            timing_restart,
            "ms",
            cycle,
            "raw re-import + unregister, finalize, create, register, `photon_start`",
            Stats.of(restart["seconds"]),
        ),
        Row(
            "5",
            memory,
            "KiB",
            Stats.single(luminal["growth"]),
            "raw re-import",
            Stats.single(raw["growth"]),
        ),
        Row(
            "5",
            memory_without_cache,
            "KiB",
            Stats.single(luminal["growth_without_type_cache"]),
            "raw re-import",
            Stats.single(raw_growth),
            target="≤ raw + 10 %",
            met=luminal["growth_without_type_cache"] <= growth_limit,
        ),
        Row(
            "5",
            memory_second_half,
            "KiB",
            Stats.single(luminal["second_half_growth"]),
            "raw re-import",
            Stats.single(raw["second_half_growth"]),
        ),
        Row(
            "5",
            modules,
            "count",
            Stats.single(luminal["modules_growth"]),
            "raw re-import",
            Stats.single(raw["modules_growth"]),
            target="0",
            met=luminal["modules_growth"] == 0,
        ),
        Row(
            "5",
            leftovers,
            "count",
            Stats.single(alive),
            "raw re-import",
            Stats.single(raw["alive"] + results["raw", False]["alive"]),
            target="0",
            met=alive == 0,
        ),
    ]
