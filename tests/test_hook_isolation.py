"""Isolated hook calls: a failing or hanging photon is skipped, timed, counted, quarantined."""

from __future__ import annotations

import asyncio
import gc
import sys
import textwrap
import threading
import time
import warnings
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from luminal import (
    Handler,
    HandlerState,
    HookStats,
    Loader,
    PhotonHookError,
    PhotonHookTimeoutError,
    PhotonQuarantinedError,
    hookimpl,
    hookspec,
)
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import wait_for


class HostSpecs:
    @hookspec
    def answer(self, question: str) -> str:  # type: ignore[empty-body]
        """Answer the host's question."""

    @hookspec(firstresult=True)
    def first_answer(self, question: str) -> str:  # type: ignore[empty-body]
        """The first photon's answer only."""


PHOTON = """
    import asyncio
    from luminal import IPhoton, hookimpl

    class {name}(IPhoton, name="{name}"):
        @hookimpl{options}
        {kind}def {hook}(self, question):
            {body}
            return "{name}: " + question

        async def finalize(self):
            pass
"""

BODIES = {
    "ok": "pass",
    "await": "await asyncio.sleep(0)",
    "raise": "raise ValueError('broken ' + question)",
    "none": "return None",
    "hang": "await asyncio.sleep(60)",
    "interrupt": "raise KeyboardInterrupt",
}


def photon(
    name: str, body: str = "ok", *, is_async: bool = False, hook: str = "answer", options: str = ""
) -> str:
    return textwrap.dedent(PHOTON).format(
        name=name,
        kind="async " if is_async else "",
        body=BODIES[body],
        hook=hook,
        options=options,
    )


@pytest.fixture
def host(loader: Loader, observer: EventRecorder) -> Loader:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    return loader


async def started(loader: Loader, path: Path) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    return handler


def state_of(handler: Handler) -> HandlerState:
    return handler.state


def hook_errors(observer: EventRecorder) -> list[PhotonHookError]:
    return [error for _, error in observer.errors if isinstance(error, PhotonHookError)]


async def test_a_raising_sync_and_async_implementation_are_skipped(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    await started(host, write_photon("a.py", photon("a")))
    await started(host, write_photon("b.py", photon("b", "raise")))
    await started(host, write_photon("c.py", photon("c", "raise", is_async=True)))
    await started(host, write_photon("d.py", photon("d", "await", is_async=True)))
    assert await host.acall("answer", question="q") == ["d: q", "a: q"]
    errors = hook_errors(observer)
    assert sorted(error.photon_name for error in errors) == ["b", "c"]
    assert {error.hook_name for error in errors} == {"answer"}
    assert all(isinstance(error.cause, ValueError) for error in errors)
    assert all(error.__cause__ is error.cause for error in errors)


async def test_the_sync_call_isolates_too(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    await started(host, write_photon("a.py", photon("a")))
    await started(host, write_photon("b.py", photon("b", "raise")))
    assert host.call("answer", question="q") == ["a: q"]
    await wait_for(lambda: hook_errors(observer))  # reported by a task the call scheduled
    assert [error.photon_name for error in hook_errors(observer)] == ["b"]


async def test_the_sync_call_skips_an_async_implementation(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    await started(host, write_photon("a.py", photon("a")))
    await started(host, write_photon("b.py", photon("b", "await", is_async=True)))
    assert host.call("answer", question="q") == ["a: q"]
    await wait_for(lambda: hook_errors(observer))
    [error] = hook_errors(observer)
    assert isinstance(error.cause, TypeError)


async def test_a_hanging_implementation_times_out_and_the_others_answer(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    await started(host, write_photon("a.py", photon("a", "await", is_async=True)))
    hanging = await started(host, write_photon("b.py", photon("b", "hang", is_async=True)))
    await started(host, write_photon("c.py", photon("c")))
    began = time.monotonic()
    assert await host.acall("answer", timeout=0.2, question="q") == ["c: q", "a: q"]
    assert time.monotonic() - began < 1.0
    [error] = hook_errors(observer)
    assert isinstance(error, PhotonHookTimeoutError)
    assert error.photon_name == "b"
    assert hanging.hook_stats["answer"].timeouts == 1


async def test_firstresult_passes_over_failing_and_empty_photons(
    host: Loader, write_photon: WritePhoton
) -> None:
    await started(host, write_photon("a.py", photon("a", hook="first_answer")))
    await started(
        host, write_photon("b.py", photon("b", "none", is_async=True, hook="first_answer"))
    )
    await started(host, write_photon("c.py", photon("c", "raise", hook="first_answer")))
    await started(
        host, write_photon("d.py", photon("d", "raise", is_async=True, hook="first_answer"))
    )
    assert await host.acall("first_answer", question="q") == "a: q"
    assert host.call("first_answer", question="q") == "a: q"  # async b and d: skipped


async def test_firstresult_gives_an_async_answer(host: Loader, write_photon: WritePhoton) -> None:
    await started(host, write_photon("a.py", photon("a", hook="first_answer")))
    await started(
        host, write_photon("b.py", photon("b", "await", is_async=True, hook="first_answer"))
    )
    assert await host.acall("first_answer", question="q") == "b: q"


class OldStyleWrapper:
    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl(hookwrapper=True)
    def answer(self, question: str) -> Generator[None, pluggy.Result[list[str]], None]:
        outcome = yield
        self.seen.append(outcome.get_result())


class NewStyleWrapper:
    @hookimpl(wrapper=True)
    def answer(self, question: str) -> Generator[None, list[str], list[str]]:
        results = yield
        return [*results, "wrapped"]


async def test_wrappers_keep_working_around_isolated_photons(
    host: Loader, write_photon: WritePhoton
) -> None:
    old = OldStyleWrapper()
    host.plugin_manager.register(old)
    host.plugin_manager.register(NewStyleWrapper())
    await started(host, write_photon("a.py", photon("a")))
    await started(host, write_photon("b.py", photon("b", "raise")))
    assert host.call("answer", question="q") == ["a: q", "wrapped"]
    assert old.seen == [["a: q"]]  # registered first: inside the new-style wrapper


async def test_a_photons_own_wrapper_is_called(host: Loader, write_photon: WritePhoton) -> None:
    source = photon("w", options="(wrapper=True)").replace(
        'return "w: " + question', "return [*(yield), 'w']"
    )
    await started(host, write_photon("w.py", source.replace("pass", "", 1)))
    await started(host, write_photon("a.py", photon("a")))
    assert await host.acall("answer", question="q") == ["a: q", "w"]


async def test_without_isolation_the_first_error_propagates(
    host: Loader, write_photon: WritePhoton
) -> None:
    await started(host, write_photon("a.py", photon("a")))
    await started(host, write_photon("b.py", photon("b", "raise", is_async=True)))
    with pytest.raises(ValueError, match="broken q"):
        await host.acall("answer", isolate=False, question="q")
    await started(host, write_photon("c.py", photon("c", "raise")))
    with pytest.raises(ValueError, match="broken q"):
        host.call("answer", isolate=False, question="q")


async def test_without_isolation_a_timeout_is_raised(
    host: Loader, write_photon: WritePhoton
) -> None:
    await started(host, write_photon("b.py", photon("b", "hang", is_async=True)))
    with pytest.raises(PhotonHookTimeoutError):
        await host.acall("answer", timeout=0.05, isolate=False, question="q")


async def test_stats_count_calls_errors_and_durations(
    host: Loader, write_photon: WritePhoton
) -> None:
    good = await started(host, write_photon("a.py", photon("a", "await", is_async=True)))
    bad = await started(host, write_photon("b.py", photon("b", "raise")))
    for _ in range(3):
        await host.acall("answer", question="q")
    host.call("photon_export_state")
    stats = good.hook_stats["answer"]
    assert (stats.calls, stats.errors, stats.timeouts) == (3, 0, 0)
    assert 0 < stats.max_duration <= stats.total_duration
    assert bad.hook_stats["answer"].calls == 3
    assert bad.hook_stats["answer"].errors == 3
    assert "photon_export_state" not in good.hook_stats  # it does not implement it
    assert isinstance(stats, HookStats)


async def test_quarantine_after_n_consecutive_failures(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    recorder = EventRecorder()
    async with Loader(quarantine_after=2, finalize_timeout=2.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        await started(loader, write_photon("a.py", photon("a")))
        path = write_photon("b.py", photon("b", "raise"))
        bad = await started(loader, path)
        await loader.acall("answer", question="q")
        assert bad.state is HandlerState.STARTED
        await loader.acall("answer", question="q")
        assert state_of(bad) is HandlerState.QUARANTINED
        assert bad.started
        assert bad.instance is not None
        assert loader.plugin_manager.hook.answer(question="q") == ["a: q"]
        [quarantined] = [e for _, e in recorder.errors if isinstance(e, PhotonQuarantinedError)]
        assert quarantined.photon_name == "b"
        assert quarantined.failures == 2
        await loader.acall("answer", question="q")
        assert len(hook_errors(recorder)) == 3  # two failures, one quarantine report
        path.write_text(photon("b").replace("pass", "pass  # fixed", 1))
        fresh = await loader.reload_photon("b")
        assert isinstance(fresh, Handler)
        assert fresh.state is HandlerState.STARTED
        assert sorted(await loader.acall("answer", question="q")) == ["a: q", "b: q"]


async def test_a_success_resets_the_count(host: Loader, write_photon: WritePhoton) -> None:
    path = write_photon("b.py", photon("b", "raise").replace("raise", "if question: raise"))
    handler = await started(host, path)
    await host.acall("answer", question="q")
    await host.acall("answer", question="")
    assert handler.hook_record.consecutive_failures == 0


async def test_a_quarantined_photon_unloads(photon_dir: Path, write_photon: WritePhoton) -> None:
    async with Loader(quarantine_after=1, finalize_timeout=2.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        bad = await started(loader, write_photon("b.py", photon("b", "raise", is_async=True)))
        await loader.acall("answer", question="q")
        assert bad.state is HandlerState.QUARANTINED
        assert await loader.unload_photon("b") is True
        assert state_of(bad) is HandlerState.STOPPED
        assert "b" not in loader.photons


async def test_a_quarantined_photon_comes_back_when_saved_under_watching(
    photon_dir: Path,
) -> None:
    loader = Loader(quarantine_after=1, finalize_timeout=2.0, stop_timeout=2.0)
    async with loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        path = photon_dir / "b.py"
        path.write_text(photon("b", "raise"))
        await loader.watch_photons(photon_dir)
        await loader.acall("answer", question="q")
        assert loader.photons["b"].state is HandlerState.QUARANTINED
        path.write_text(photon("b"))
        await wait_for(lambda: loader.photons["b"].state is HandlerState.STARTED)
        assert await loader.acall("answer", question="q") == ["b: q"]


def code_of(handler: Handler) -> list[weakref.ref[Any]]:
    """Weak references to the photon's instance and class, to see them freed."""
    return [weakref.ref(handler.instance), weakref.ref(type(handler.instance))]


async def all_freed(refs: list[weakref.ref[Any]]) -> None:
    def freed() -> bool:
        gc.collect()
        return all(ref() is None for ref in refs)

    await wait_for(freed)


@pytest.mark.parametrize("how", ["acall", "call"])
async def test_a_hook_call_keeps_no_unloaded_photon_alive(
    host: Loader, write_photon: WritePhoton, how: str
) -> None:
    code = code_of(await started(host, write_photon("a.py", photon("a"))))
    if how == "acall":
        assert await host.acall("answer", question="q") == ["a: q"]
    else:
        assert host.call("answer", question="q") == ["a: q"]
    await host.unload_photon("a")
    await all_freed(code)


async def test_a_hook_call_keeps_no_reloaded_version_alive(
    host: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("a.py", photon("a"))
    code = code_of(await started(host, path))
    await host.acall("answer", question="q")
    path.write_text(photon("a").replace("pass", "pass  # v2", 1))
    await host.reload_photon("a")
    await all_freed(code)
    assert await host.acall("answer", question="q") == ["a: q"]


async def test_a_quarantined_photon_is_freed_once_unloaded(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    async with Loader(quarantine_after=1, finalize_timeout=2.0, stop_timeout=2.0) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        bad = await started(loader, write_photon("b.py", photon("b", "raise")))
        code = code_of(bad)
        await loader.acall("answer", question="q")
        assert bad.state is HandlerState.QUARANTINED
        await loader.unload_photon("b")
        del bad
        await all_freed(code)


@pytest.mark.parametrize("value", [0, -1])
def test_quarantine_after_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="quarantine_after"):
        Loader(quarantine_after=value)


@pytest.mark.parametrize("value", [True, 1.5, "2"])
def test_quarantine_after_must_be_an_int(value: object) -> None:
    with pytest.raises(TypeError, match="quarantine_after"):
        Loader(quarantine_after=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"timeout": 10**400}, ValueError),  # no float holds it: asyncio raised OverflowError
        ({"timeout": "1"}, TypeError),
        ({"isolate": 1}, TypeError),
    ],
)
async def test_bad_call_arguments(host: Loader, arguments: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        await host.acall("answer", question="q", **arguments)  # type: ignore[arg-type]


async def test_an_unknown_hook_is_an_attribute_error(host: Loader) -> None:
    with pytest.raises(AttributeError, match="no hook named"):
        await host.acall("no_such_hook")
    with pytest.raises(AttributeError, match="no hook named"):
        host.call("no_such_hook")


LOOP_RECORDING_OBSERVER = """
    import asyncio
    from luminal import IPhoton, hookimpl

    LOOPS = []

    class Observer(IPhoton, name="observer"):
        @hookimpl
        async def luminal_photon_error(self, path, error):
            LOOPS.append(asyncio.get_running_loop())

        async def finalize(self):
            pass
"""


async def test_a_call_from_a_host_thread_reports_on_the_loaders_loop(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    """A web framework's thread calls ``loader.call``: the failure's observers run on the
    loop the photons run on, never on a loop of that thread's own, beside it."""
    await started(host, write_photon("a.py", photon("a", "raise")))
    recorder = await started(host, write_photon("observer.py", LOOP_RECORDING_OBSERVER))
    loops = sys.modules[recorder.module_name].LOOPS
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(host.call("answer", question="q")))
    thread.start()
    await asyncio.to_thread(thread.join)
    await wait_for(lambda: bool(loops))
    assert answers == [[]]
    assert loops == [asyncio.get_running_loop()]
    assert [error.photon_name for error in hook_errors(observer)] == ["a"]


class HistoricSpecs:
    @hookspec(historic=True)
    def remember(self, question: str) -> None:
        """Given to every photon, also those registered after the call."""


async def test_a_historic_hook_is_refused_as_pluggy_refuses_it(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    """A plain call of a historic hook would never reach the photons started later."""
    host.plugin_manager.add_hookspecs(HistoricSpecs)
    await started(host, write_photon("a.py", photon("a", "raise", hook="remember")))
    with pytest.raises(TypeError, match=r"historic.*call_historic"):
        await host.acall("remember", question="q")
    with pytest.raises(TypeError, match=r"historic.*call_historic"):
        host.call("remember", question="q")
    await asyncio.sleep(0)  # what loader.call reports, it reports in a task
    assert hook_errors(observer) == []  # the photon was not called


async def test_a_host_plugin_is_not_isolated(host: Loader) -> None:
    class Broken:
        @hookimpl
        def answer(self, question: str) -> str:
            raise KeyError(question)

    host.plugin_manager.register(Broken())
    with pytest.raises(KeyError):
        await host.acall("answer", question="q")
    assert isinstance(host.plugin_manager, pluggy.PluginManager)


TASK_PROBE = """
import asyncio
from luminal import IPhoton, hookimpl

class {name}(IPhoton, name="{name}"):
    @hookimpl
    async def answer(self, question):
        {body}
        return asyncio.current_task()
"""


@pytest.mark.parametrize("timeout", [None, 5.0])
async def test_each_async_implementation_runs_as_its_own_task(
    host: Loader, write_photon: WritePhoton, timeout: float | None
) -> None:
    """Whether it returns at once (started eagerly where Python allows) or waits first."""
    await started(host, write_photon("a.py", TASK_PROBE.format(name="a", body="pass")))
    body = "await asyncio.sleep(0)"
    await started(host, write_photon("b.py", TASK_PROBE.format(name="b", body=body)))
    tasks = await host.acall("answer", timeout=timeout, question="q")
    assert len(tasks) == 2
    assert all(isinstance(task, asyncio.Task) for task in tasks)
    assert len({id(task) for task in [*tasks, asyncio.current_task()]}) == 3


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in Python 3.11")
async def test_an_implementations_own_timeout_cancels_only_the_implementation(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    body = "async with asyncio.timeout(0.01):\n            await asyncio.sleep(1)"
    await started(host, write_photon("a.py", TASK_PROBE.format(name="a", body=body)))
    await started(host, write_photon("b.py", photon("b", "await", is_async=True)))
    assert await host.acall("answer", question="q") == ["b: q"]
    [error] = hook_errors(observer)
    assert isinstance(error.cause, TimeoutError)


async def test_a_host_task_factory_makes_the_implementations_tasks(
    host: Loader, write_photon: WritePhoton
) -> None:
    made: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    await started(host, write_photon("a.py", photon("a", "ok", is_async=True)))
    await started(host, write_photon("b.py", photon("b", "await", is_async=True)))
    loop = asyncio.get_running_loop()
    loop.set_task_factory(factory)
    try:
        assert await host.acall("answer", question="q") == ["b: q", "a: q"]
    finally:
        loop.set_task_factory(None)
    assert len(made) == 2


EVENT_PROBE = """
import asyncio
import probe_events
from luminal import IPhoton, hookimpl

class {name}(IPhoton, name="{name}"):
    @hookimpl
    async def answer(self, question):
        {body}
"""


@pytest.mark.skipif(
    sys.version_info < (3, 12), reason="before 3.12 it leaves the event loop, as under gather"
)
async def test_a_keyboard_interrupt_in_an_eager_start_leaves_no_implementation_behind(
    host: Loader, write_photon: WritePhoton
) -> None:
    """Implementations start in pluggy's order, last registered first: ``waiting`` has
    started when ``interrupting`` raises, ``unstarted`` has not."""
    write_photon("probe_events.py", "EVENTS = []\n")
    bodies = {
        "unstarted": "probe_events.EVENTS.append('unstarted ran')",
        "interrupting": "raise KeyboardInterrupt",
        "waiting": "try:\n"
        "            await asyncio.sleep(5)\n"
        "        except asyncio.CancelledError:\n"
        "            probe_events.EVENTS.append('waiting cancelled')\n"
        "            raise",
    }
    for name, body in bodies.items():
        await started(host, write_photon(f"{name}.py", EVENT_PROBE.format(name=name, body=body)))
    events = sys.modules["probe_events"].EVENTS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            await host.acall("answer", question="q")
        gc.collect()
    await wait_for(lambda: "waiting cancelled" in events)
    assert "unstarted ran" not in events
    assert not [warning for warning in caught if "never awaited" in str(warning.message)]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are new in Python 3.12")
async def test_a_keyboard_interrupt_in_an_eager_start_leaves_asyncio_nothing_to_report(
    host: Loader, write_photon: WritePhoton
) -> None:
    await started(host, write_photon("a.py", photon("a", "interrupt", is_async=True)))
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        with pytest.raises(KeyboardInterrupt):
            await host.acall("answer", question="q")
        gc.collect()  # asyncio reports an exception never retrieved when its task is collected
    finally:
        loop.set_exception_handler(None)
    assert reported == []


class FailingHost:
    @hookimpl
    async def answer(self, question: str) -> str:
        raise LookupError("the host's own bug")


async def test_a_photons_failure_is_reported_when_a_host_implementation_raises_in_the_call(
    host: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    # The photon's failure was counted, but reported only when acall returned: never here.
    host.plugin_manager.register(FailingHost())
    await started(host, write_photon("b.py", photon("b", "raise")))
    with pytest.raises(LookupError, match="the host's own bug"):
        await host.acall("answer", question="q")
    await wait_for(lambda: hook_errors(observer))  # reported in a task, as call() reports
    assert [error.photon_name for error in hook_errors(observer)] == ["b"]
