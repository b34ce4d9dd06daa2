"""2. Starting, calling and unloading many photons, against pluggy holding the same plugins."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.photonsets import HostSpecs, write_photons
from benchmarks.report import Row, Stats
from benchmarks.worker import run_child

__all__ = ["METHOD", "child", "expected", "measure"]

METHOD = (
    "**2. Lifecycle and hook calls** run in one fresh interpreter. Each round loads the photon "
    "directory, then times starting every photon one by one (`await handler.start()`: create, "
    "register, `photon_start`) beside creating and registering instances of the same classes "
    "in a bare `pluggy.PluginManager` with the same hook specs (Luminal's own manager, "
    "`PhotonPluginManager`, reads a photon's plain members, functions and values, from its "
    "class and skips those inherited from `object` when it looks for hook implementations; the "
    "bare one asks pluggy's static lookup for each name); unloading is "
    "`loader.unload_photons(handlers)` (finalizer, ownership, modules) beside "
    "`PluginManager.unregister` of each. Hook calls compare Luminal's plugin manager with a "
    "bare one holding *the same running instances*: sync is `plugin_manager.hook.bench_echo("
    "value=1)` on both; async is `await loader.acall('bench_aecho', value=1)` (isolated: each "
    "photon's implementation wrapped, timed and counted) beside "
    "`await asyncio.gather(*pm.hook.bench_aecho(value=1))`, and beside the unisolated call "
    "`acall` made before isolation (`luminal.events.acall_hook`). On Python 3.12 and later "
    "`acall` starts each implementation's task eagerly (`eager_start`), unless the host set a "
    "task factory; the *host task factory* row sets one that adds nothing "
    "(`asyncio.Task(coro, loop=loop)`) on both sides, so `acall` starts its tasks as "
    "`asyncio.gather` does, the only way Python 3.10 and 3.11 have. One sample is one call (or one "
    "round for start/unload); sides alternate sample by sample. The larger count's start and "
    "unload run in an interpreter of their own, without hook calls and with fewer rounds."
)


def _measures(count: int) -> list[str]:
    return [
        f"Start {count} photons",
        f"Unload {count} photons",
        f"Sync host hook call across {count} photons",
        f"Async host hook call across {count} photons (`loader.acall`)",
        f"Isolated `loader.acall` across {count} photons, beside the unisolated call",
        f"Isolated `loader.acall` across {count} photons, under a host task factory",
    ]


def expected(config: Config) -> list[str]:
    large = config.lifecycle_large_photons
    return [
        *_measures(config.lifecycle_photons),
        f"Start {large} photons",
        f"Unload {large} photons",
    ]


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    import pluggy

    import luminal
    from luminal import hookspecs

    def bare_manager() -> pluggy.PluginManager:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        manager.add_hookspecs(HostSpecs)
        return manager

    from luminal.events import acall_hook

    samples: dict[str, list[float]] = {
        f"{measure}_{side}": []
        for measure in ("start", "unload", "call", "acall")
        for side in ("luminal", "pluggy")
    }
    for side in ("unisolated", "luminal_factory", "pluggy_factory"):
        samples[f"acall_{side}"] = []

    async def one_round(round_number: int) -> None:
        async with luminal.Loader() as loader:
            loader.plugin_manager.add_hookspecs(HostSpecs)
            handlers = await loader.load_photons(arguments["directory"])
            if len(handlers) != arguments["count"]:
                raise RuntimeError(f"loaded {len(handlers)} of {arguments['count']} photons")
            classes = [handler.photon_class for handler in handlers]
            registered = bare_manager()

            async def start_luminal() -> None:
                started = time.perf_counter()
                for handler in handlers:
                    await handler.start()
                samples["start_luminal"].append(time.perf_counter() - started)

            def start_pluggy() -> None:
                started = time.perf_counter()
                for photon_class in classes:
                    assert photon_class is not None
                    registered.register(photon_class(), name=photon_class.__name__)
                samples["start_pluggy"].append(time.perf_counter() - started)

            if round_number % 2:
                start_pluggy()
                await start_luminal()
            else:
                await start_luminal()
                start_pluggy()

            if arguments["calls"]:
                await calls(loader, handlers)

            started = time.perf_counter()
            await loader.unload_photons(handlers)
            samples["unload_luminal"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for plugin in list(registered.get_plugins()):
                registered.unregister(plugin)
            samples["unload_pluggy"].append(time.perf_counter() - started)

    def task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        """A host's task factory that adds nothing: tasks start as ``loop.create_task``'s do."""
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def calls(loader: luminal.Loader, handlers: list[luminal.Handler]) -> None:
        same = bare_manager()
        for handler in handlers:
            same.register(handler.instance, name=handler.name)
        luminal_hook = loader.plugin_manager.hook
        if luminal_hook.bench_echo(value=1) != same.hook.bench_echo(value=1):
            raise RuntimeError("Luminal and pluggy disagree on the sync hook's results")
        for sample in range(arguments["sync_samples"]):
            order = (luminal_hook, same.hook) if sample % 2 else (same.hook, luminal_hook)
            for hook in order:
                started = time.perf_counter()
                hook.bench_echo(value=1)
                elapsed = time.perf_counter() - started
                side = "luminal" if hook is luminal_hook else "pluggy"
                samples[f"call_{side}"].append(elapsed)
        expected = await asyncio.gather(*same.hook.bench_aecho(value=1))
        if await loader.acall("bench_aecho", value=1) != expected:
            raise RuntimeError("Luminal and pluggy disagree on the async hook's results")
        sides = ["luminal", "pluggy", "unisolated", "luminal_factory", "pluggy_factory"]
        loop = asyncio.get_running_loop()
        for sample in range(arguments["async_samples"]):
            turn = sample % len(sides)
            for side in sides[turn:] + sides[:turn]:
                loop.set_task_factory(task_factory if side.endswith("_factory") else None)
                started = time.perf_counter()
                if side.startswith("luminal"):
                    await loader.acall("bench_aecho", value=1)
                elif side.startswith("pluggy"):
                    await asyncio.gather(*same.hook.bench_aecho(value=1))
                else:
                    await acall_hook(loader.plugin_manager, "bench_aecho", value=1)
                samples[f"acall_{side}"].append(time.perf_counter() - started)
            loop.set_task_factory(None)
        for plugin in list(same.get_plugins()):
            same.unregister(plugin)

    for round_number in range(arguments["rounds"]):
        asyncio.run(one_round(round_number))
    return samples


def _run(config: Config, workdir: Path, count: int, *, calls: bool) -> dict[str, list[float]]:
    directory = workdir / f"lifecycle_{count}"
    write_photons(directory, count)
    return run_child(
        "lifecycle",
        {
            "directory": str(directory),
            "count": count,
            "rounds": config.lifecycle_rounds if calls else config.lifecycle_large_rounds,
            "calls": calls,
            "sync_samples": config.sync_call_samples,
            "async_samples": config.async_call_samples,
        },
        # pluggy's register and unregister each cost O(N): 10,000 photons take minutes.
        timeout=600 if calls else 1800,
    )


def _start_and_unload(samples: dict[str, list[float]], count: int, *, target: bool) -> list[Row]:
    start, unload = (Stats.of(samples[f"{key}_luminal"]) for key in ("start", "unload"))
    start_pluggy, unload_pluggy = (
        Stats.of(samples[f"{key}_pluggy"]) for key in ("start", "unload")
    )
    return [
        Row(
            "2",
            f"Start {count} photons",
            "ms",
            start,
            "create + `PluginManager.register` each",
            start_pluggy,
            target="≤ 1.2x" if target else "",
            met=start.median <= 1.2 * start_pluggy.median if target else None,
            scale=("Start", count),
        ),
        Row(
            "2",
            f"Unload {count} photons",
            "ms",
            unload,
            "`PluginManager.unregister` each",
            unload_pluggy,
            scale=("Unload", count),
        ),
    ]


def measure(config: Config, workdir: Path) -> list[Row]:
    count = config.lifecycle_photons
    samples = _run(config, workdir, count, calls=True)
    large = _run(config, workdir, config.lifecycle_large_photons, calls=False)

    def stats(key: str) -> Stats:
        return Stats.of(samples[key])

    call = stats("call_luminal"), stats("call_pluggy")
    acall = stats("acall_luminal"), stats("acall_pluggy")
    _, _, sync_call, async_call, isolated, under_factory = _measures(count)
    return [
        *_start_and_unload(samples, count, target=True),
        Row(
            "2",
            sync_call,
            "µs",
            call[0],
            "pluggy hook call, same instances",
            call[1],
            target="≤ 1.1x",
            met=call[0].median <= 1.1 * call[1].median,
        ),
        Row(
            "2",
            async_call,
            "µs",
            acall[0],
            "pluggy hook call + `asyncio.gather`",
            acall[1],
            target="≤ 1.15x",
            met=acall[0].median <= 1.15 * acall[1].median,
        ),
        Row(
            "2",
            isolated,
            "µs",
            acall[0],
            "unisolated `acall` (pluggy call + gather)",
            stats("acall_unisolated"),
        ),
        Row(
            "2",
            under_factory,
            "µs",
            stats("acall_luminal_factory"),
            "pluggy hook call + `asyncio.gather`, same factory",
            stats("acall_pluggy_factory"),
        ),
        *_start_and_unload(large, config.lifecycle_large_photons, target=False),
    ]
