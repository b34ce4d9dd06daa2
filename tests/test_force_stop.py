"""Force stop: what a photon owns is stopped on unload and reload, or reported as left running."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from luminal import Handler, Loader, PhotonStartError, PhotonStopError, hookspec
from luminal.ownership import PhotonStopRequested, PhotonThread
from luminal.testing import EventRecorder, WritePhoton
from tests.conftest import child_pids

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]

COOPERATIVE = """
    from luminal import IPhoton, hookimpl

    class Cooperative(IPhoton, name="cooperative"):
        @hookimpl
        def photon_start(self):
            self.thread = self.spawn_thread(self.work, name="cooperative-worker")

        def work(self, stop_event):
            while not stop_event.wait(0.01):
                pass

        async def finalize(self):
            pass
"""

# A ``for`` loop, not ``while True``: on CPython 3.10 a ``while True:`` around a ``try`` never
# checks for pending events, so it would not even let the host's thread run again.
BUSY = """
    import itertools
    import threading

    from luminal import IPhoton, hookimpl

    class Busy(IPhoton, name="busy"):
        @hookimpl
        def photon_start(self):
            self.cleaned_up = False
            self.spinning = threading.Event()
            self.thread = self.spawn_thread(self.spin, name="busy-worker")

        def spin(self, stop_event):
            total = 0
            try:
                for step in itertools.count():
                    try:
                        total += step
                        self.spinning.set()
                    except Exception:
                        pass
            finally:
                self.cleaned_up = True

        async def finalize(self):
            pass

        def release(self):
            pass

        def settled(self):
            return not self.thread.is_alive()
"""

BLOCKED = """
    import threading

    from luminal import IPhoton, hookimpl

    class Blocked(IPhoton, name="blocked"):
        @hookimpl
        def photon_start(self):
            self.returned = False
            self.gate = threading.Event()
            self.thread = self.spawn_thread(self.block, name="blocked-worker")

        def block(self, stop_event):
            self.gate.wait()
            self.returned = True

        async def finalize(self):
            pass

        def release(self):
            self.gate.set()

        def settled(self):
            return not self.thread.is_alive()
"""

DEFIANT = """
    import itertools
    import threading

    from luminal import IPhoton, hookimpl

    class Defiant(IPhoton, name="defiant"):
        @hookimpl
        def photon_start(self):
            self.caught = []
            self.gate = threading.Event()
            self.thread = self.spawn_thread(self.defy, name="defiant-worker")

        def defy(self, stop_event):
            try:
                for _ in itertools.count():
                    pass
            except BaseException as error:
                self.caught.append(error)
            self.gate.wait()

        async def finalize(self):
            pass
"""

TICKER = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class Ticker(IPhoton, name="ticker"):
        @hookimpl
        def photon_start(self):
            self.cleaned_up = False
            self.task = self.create_task(self.tick(), name="ticker-task")

        async def tick(self):
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(0)
                self.cleaned_up = True

        async def finalize(self):
            pass
"""

HOLDER = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class Holder(IPhoton, name="holder"):
        @hookimpl
        def photon_start(self):
            self.cancellations = 0
            self.holding = False
            self.gate = asyncio.Event()
            self.task = self.create_task(self.hold(), name="holder-task")

        async def hold(self):
            self.holding = True
            while not self.gate.is_set():
                try:
                    await self.gate.wait()
                except asyncio.CancelledError:
                    self.cancellations += 1

        async def finalize(self):
            pass

        def release(self):
            self.gate.set()

        def settled(self):
            return self.task.done()
"""

IGNORE_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)

DEAF_PROCESS = f"""
    import subprocess
    import sys

    from luminal import IPhoton, hookimpl

    class Deaf(IPhoton, name="deaf-process"):
        @hookimpl
        def photon_start(self):
            self.process = self.spawn_process(
                [sys.executable, "-c", {IGNORE_SIGTERM!r}], stdout=subprocess.PIPE
            )
            assert self.process.stdout.readline() == b"ready\\n"

        async def finalize(self):
            pass

        def release(self):
            pass

        def settled(self):
            return self.process.poll() is not None
"""

PROCESS = f"""
    from luminal import IPhoton, hookimpl

    class Child(IPhoton, name="child"):
        @hookimpl
        def photon_start(self):
            self.process = self.spawn_process({SLEEPER!r})

        async def finalize(self):
            pass
"""

QUICK_PROCESS = """
    import sys

    from luminal import IPhoton, hookimpl

    class Quick(IPhoton, name="quick"):
        @hookimpl
        def photon_start(self):
            self.process = self.spawn_process([sys.executable, "-c", "pass"])

        async def finalize(self):
            pass
"""

HANGING_FINALIZER = f"""
    import asyncio

    from luminal import IPhoton, hookimpl

    class Hanging(IPhoton, name="hanging"):
        @hookimpl
        def photon_start(self):
            self.thread = self.spawn_thread(lambda stop_event: stop_event.wait(), name="hang-t")
            self.task = self.create_task(asyncio.sleep(3600), name="hang-task")
            self.process = self.spawn_process({SLEEPER!r})

        async def finalize(self):
            await asyncio.Event().wait()

        def release(self):
            pass

        def settled(self):
            return True
"""

STUBBORN_FINALIZER = """
    import asyncio

    from luminal import IPhoton

    class Stubborn(IPhoton, name="stubborn"):
        def __init__(self):
            self.gate = asyncio.Event()

        async def finalize(self):
            while not self.gate.is_set():
                try:
                    await self.gate.wait()
                except asyncio.CancelledError:
                    pass
"""

RAISING_FINALIZER = f"""
    from luminal import IPhoton, hookimpl

    class Raising(IPhoton, name="raising"):
        @hookimpl
        def photon_start(self):
            self.thread = self.spawn_thread(lambda stop_event: stop_event.wait(), name="raise-t")
            self.process = self.spawn_process({SLEEPER!r})

        async def finalize(self):
            raise ValueError("finalizer broke")
"""

CHURN = f"""
    import asyncio

    from luminal import IPhoton, hookimpl

    class Churn(IPhoton, name="churn"):
        @hookimpl
        def photon_start(self):
            self.thread = self.spawn_thread(lambda stop_event: stop_event.wait(), name="churn-t")
            self.task = self.create_task(asyncio.sleep(3600), name="churn-task")
            self.process = self.spawn_process({SLEEPER!r})

        async def finalize(self):
            pass
"""

BYSTANDER = """
    from luminal import IPhoton, hookimpl

    class Bystander(IPhoton, name="bystander"):
        @hookimpl
        def ping(self):
            return "pong"

        async def finalize(self):
            pass
"""


class PingSpec:
    @hookspec
    def ping(self) -> str:  # type: ignore[empty-body]
        """Answer a ping."""


@contextlib.asynccontextmanager
async def observed_loader(
    *, stop_timeout: float = 5.0, finalize_timeout: float = 5.0
) -> AsyncIterator[tuple[Loader, EventRecorder]]:
    async with Loader(finalize_timeout=finalize_timeout, stop_timeout=stop_timeout) as loader:
        observer = EventRecorder()
        loader.plugin_manager.register(observer, name="test-observer")
        yield loader, observer


async def start(loader: Loader, path: Path) -> Handler:
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    await handler.start()
    return handler


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.005)


def stop_errors(observer: EventRecorder) -> list[PhotonStopError]:
    errors = [error for _, error in observer.errors]
    assert all(isinstance(error, PhotonStopError) for error in errors), errors
    return [error for error in errors if isinstance(error, PhotonStopError)]


def blocked_in_event_wait(thread: threading.Thread) -> bool:
    """Whether ``thread`` sits in ``Condition.wait``, i.e. in the C lock acquire of an
    ``Event.wait``."""
    assert thread.ident is not None
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code is threading.Condition.wait.__code__


@pytest.fixture
def excepthook_calls(monkeypatch: pytest.MonkeyPatch) -> list[threading.ExceptHookArgs]:
    """What reaches ``threading.excepthook``, which prints a traceback by default."""
    calls: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    return calls


async def test_cooperative_thread_ends_on_its_stop_event(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("cooperative.py", COOPERATIVE))
        thread: PhotonThread = handler.instance.thread
        assert thread.is_alive()
        assert await loader.unload_photon(handler) is True
        assert not thread.is_alive()
        assert not thread.interrupted
        assert observer.errors == []


async def test_busy_thread_that_ignores_its_event_is_interrupted(
    write_photon: WritePhoton, excepthook_calls: list[threading.ExceptHookArgs]
) -> None:
    async with observed_loader(stop_timeout=1.0) as (loader, observer):
        handler = await start(loader, write_photon("busy.py", BUSY))
        instance = handler.instance
        await wait_until(instance.spinning.is_set)
        assert await loader.unload_photon(handler) is True
        assert not instance.thread.is_alive()
        assert instance.thread.interrupted
        assert instance.cleaned_up, "finally blocks run when the thread is interrupted"
        assert observer.errors == []
        assert excepthook_calls == [], "an interrupted thread ends without a traceback"


async def test_thread_blocked_in_c_is_reported_and_ends_when_the_call_returns(
    write_photon: WritePhoton, excepthook_calls: list[threading.ExceptHookArgs]
) -> None:
    async with observed_loader(stop_timeout=0.2) as (loader, observer):
        handler = await start(loader, write_photon("blocked.py", BLOCKED))
        instance = handler.instance
        await wait_until(lambda: blocked_in_event_wait(instance.thread))
        assert await loader.unload_photon(handler) is False
        [error] = stop_errors(observer)
        assert error.photon_name == "blocked"
        assert "thread blocked-worker" in str(error)
        assert instance.thread.is_alive()
        assert dict(loader.photons) == {}, "the photon is removed all the same"

        instance.release()
        await wait_until(lambda: not instance.thread.is_alive())
        assert not instance.returned, "the pending interrupt went off when the wait returned"
        assert excepthook_calls == []


async def test_thread_that_catches_the_interrupt_is_reported(write_photon: WritePhoton) -> None:
    async with observed_loader(stop_timeout=0.2) as (loader, observer):
        handler = await start(loader, write_photon("defiant.py", DEFIANT))
        instance = handler.instance
        assert await loader.unload_photon(handler) is False
        await wait_until(lambda: len(instance.caught) == 1)
        assert isinstance(instance.caught[0], PhotonStopRequested)
        [error] = stop_errors(observer)
        assert "thread defiant-worker" in str(error)
        assert instance.thread.is_alive()
        instance.gate.set()
        await wait_until(lambda: not instance.thread.is_alive())


async def test_interrupt_does_nothing_once_the_target_returned() -> None:
    thread = PhotonThread(lambda stop_event: None, (), {}, "done-already")
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert thread.interrupt() is False
    assert not thread.interrupted


async def test_task_is_cancelled_and_awaited(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("ticker.py", TICKER))
        instance = handler.instance
        assert await loader.unload_photon(handler) is True
        assert instance.task.cancelled()
        assert instance.cleaned_up, "the task's cleanup ran to its end before unload returned"
        assert observer.errors == []


async def test_task_that_swallows_cancellation_is_reported(write_photon: WritePhoton) -> None:
    async with observed_loader(stop_timeout=0.2) as (loader, observer):
        handler = await start(loader, write_photon("holder.py", HOLDER))
        instance = handler.instance
        await wait_until(lambda: instance.holding)
        assert await loader.unload_photon(handler) is False
        [error] = stop_errors(observer)
        assert "task holder-task" in str(error)
        assert instance.cancellations == 1
        assert not instance.task.done()
        instance.release()
        await instance.task


async def test_process_that_ignores_sigterm_is_killed(write_photon: WritePhoton) -> None:
    async with observed_loader(stop_timeout=0.3) as (loader, observer):
        handler = await start(loader, write_photon("deaf.py", DEAF_PROCESS))
        process: subprocess.Popen[bytes] = handler.instance.process
        assert await loader.unload_photon(handler) is True
        assert process.returncode == -signal.SIGKILL
        assert process.pid not in child_pids()
        assert process.stdout is not None
        assert process.stdout.closed
        assert observer.errors == []


async def test_process_is_terminated_and_reaped(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("child.py", PROCESS))
        process: subprocess.Popen[bytes] = handler.instance.process
        assert process.pid in child_pids()
        assert await loader.unload_photon(handler) is True
        assert process.returncode == -signal.SIGTERM
        assert process.pid not in child_pids()
        assert observer.errors == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_process_that_exited_by_itself_is_reaped(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, _):
        handler = await start(loader, write_photon("quick.py", QUICK_PROCESS))
        pid = handler.instance.process.pid

        def zombie() -> bool:
            return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"

        await wait_until(zombie)
        assert await loader.unload_photon(handler) is True
        assert pid not in child_pids()


async def test_hanging_finalizer_is_bounded_then_the_photon_force_stopped(
    write_photon: WritePhoton,
) -> None:
    async with observed_loader(finalize_timeout=0.2) as (loader, observer):
        handler = await start(loader, write_photon("hanging.py", HANGING_FINALIZER))
        instance = handler.instance
        assert await loader.unload_photon(handler) is True
        [error] = stop_errors(observer)
        assert "did not finish within 0.2 s" in str(error)
        assert not instance.thread.is_alive()
        assert instance.task.cancelled()
        assert instance.process.returncode == -signal.SIGTERM


async def test_finalizer_that_ignores_cancellation_is_reported(write_photon: WritePhoton) -> None:
    async with observed_loader(finalize_timeout=0.1, stop_timeout=0.1) as (loader, observer):
        handler = await start(loader, write_photon("stubborn.py", STUBBORN_FINALIZER))
        instance = handler.instance
        assert await loader.unload_photon(handler) is False
        [error] = stop_errors(observer)
        assert "ignored cancellation" in str(error)
        [finalizer] = [
            task for task in asyncio.all_tasks() if task.get_name() == "stubborn-finalize"
        ]
        assert f"task {finalizer.get_name()!r} is left running" in str(error)
        instance.gate.set()
        await finalizer


async def test_finalizer_that_ignores_its_callers_cancellation_is_reported(
    write_photon: WritePhoton,
) -> None:
    # The unload's caller was cancelled: the finalizer was cancelled with it and, swallowing
    # that, ran on unreported (the timeout's own path reported it, this one did not).
    async with observed_loader(finalize_timeout=30, stop_timeout=0.1) as (loader, observer):
        handler = await start(loader, write_photon("stubborn.py", STUBBORN_FINALIZER))
        instance = handler.instance
        try:
            unload = asyncio.ensure_future(loader.unload_photon(handler))
            await wait_until(lambda: any(is_finalizer(task) for task in asyncio.all_tasks()))
            unload.cancel()
            with pytest.raises(asyncio.CancelledError):
                await unload
            [error] = stop_errors(observer)
            assert "is left running" in str(error)
            assert "stubborn" not in loader.photons
        finally:
            instance.gate.set()  # the finalizer ends, whatever the test found
            await asyncio.gather(*filter(is_finalizer, asyncio.all_tasks()))


def is_finalizer(task: asyncio.Task[object]) -> bool:
    return task.get_name() == "stubborn-finalize"


async def test_raising_finalizer_still_stops_what_the_photon_owns(
    write_photon: WritePhoton,
) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("raising.py", RAISING_FINALIZER))
        instance = handler.instance
        assert await loader.unload_photon(handler) is True
        [error] = stop_errors(observer)
        assert isinstance(error.__cause__, ValueError)
        assert not instance.thread.is_alive()
        assert instance.process.returncode == -signal.SIGTERM


@pytest.mark.parametrize(
    ("source", "clean", "ready"),
    [
        pytest.param(BUSY, True, lambda photon: photon.spinning.is_set(), id="busy-thread"),
        pytest.param(
            BLOCKED, False, lambda photon: blocked_in_event_wait(photon.thread), id="blocked-thread"
        ),
        pytest.param(HOLDER, False, lambda photon: photon.holding, id="stubborn-task"),
        pytest.param(DEAF_PROCESS, True, lambda photon: True, id="sigterm-ignoring-process"),
        pytest.param(HANGING_FINALIZER, True, lambda photon: True, id="hanging-finalizer"),
    ],
)
async def test_other_photons_keep_answering_while_one_is_force_stopped(
    write_photon: WritePhoton, source: str, clean: bool, ready: Callable[[Any], bool]
) -> None:
    async with observed_loader(stop_timeout=0.3, finalize_timeout=0.3) as (loader, _):
        loader.plugin_manager.add_hookspecs(PingSpec)
        await start(loader, write_photon("bystander.py", BYSTANDER))
        handler = await start(loader, write_photon("misbehaving.py", source))
        instance = handler.instance
        await wait_until(lambda: ready(instance))
        instance = handler.instance
        unloading = asyncio.create_task(loader.unload_photon(handler))
        answers: list[Any] = []
        while not unloading.done():
            answers.append(loader.plugin_manager.hook.ping())
            await asyncio.sleep(0.005)
        assert await unloading is clean
        assert len(answers) >= 3, "the host's loop kept running during the stop"
        assert all(answer == ["pong"] for answer in answers)
        assert loader.plugin_manager.hook.ping() == ["pong"]
        assert list(loader.photons) == ["bystander"]
        instance.release()
        await wait_until(instance.settled)


async def test_stop_photon_threads_and_processes_tell_whether_all_stopped(
    write_photon: WritePhoton,
) -> None:
    async with observed_loader(stop_timeout=0.2) as (loader, _):
        blocked = await start(loader, write_photon("blocked.py", BLOCKED))
        instance = blocked.instance
        process = instance.spawn_process(SLEEPER)
        await wait_until(lambda: blocked_in_event_wait(instance.thread))
        assert await blocked._stop_photon_threads() is False
        assert await blocked._stop_photon_processes() is True
        assert process.returncode == -signal.SIGTERM
        instance.release()
        await wait_until(lambda: not instance.thread.is_alive())
        assert await blocked._stop_photon_threads() is True
        assert await loader.unload_photon(blocked) is True


async def test_a_stopping_photon_cannot_start_new_work(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, _):
        handler = await start(loader, write_photon("cooperative.py", COOPERATIVE))
        instance = handler.instance
        assert await loader.unload_photon(handler) is True
        before = child_pids()
        with pytest.raises(PhotonStopError, match="is being stopped") as caught:
            instance.spawn_thread(lambda stop_event: None)
        assert caught.value.photon_name == "cooperative"
        coroutine = asyncio.sleep(0)
        with pytest.raises(PhotonStopError):
            instance.create_task(coroutine)
        assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED
        with pytest.raises(PhotonStopError):
            instance.spawn_process(SLEEPER)
        assert child_pids() == before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_hundred_reloads_leave_exactly_one_thread_task_and_process(
    write_photon: WritePhoton,
) -> None:
    def running() -> tuple[int, int, int]:
        threads = [thread for thread in threading.enumerate() if thread.name == "churn-t"]
        tasks = [task for task in asyncio.all_tasks() if task.get_name() == "churn-task"]
        return len(threads), len(tasks), len(child_pids() - before)

    before = child_pids()
    async with observed_loader() as (loader, observer):
        handler: Any = await start(loader, write_photon("churn.py", CHURN))
        pids = {handler.instance.process.pid}
        assert running() == (1, 1, 1)
        for _ in range(100):
            handler = await loader.reload_photon(handler)
            pids.add(handler.instance.process.pid)
            assert running() == (1, 1, 1)
        assert len(pids) == 101
        assert observer.errors == []
        assert await loader.unload_photon(handler) is True
        assert running() == (0, 0, 0)


SELF_UNLOADING = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class SelfUnloading(IPhoton, name="self-unloading"):
        def __init__(self):
            self.loader = None
            self.outcome = None

        @hookimpl
        def photon_start(self):
            self.sibling = self.create_task(asyncio.sleep(3600), name="sibling-task")

        async def unload_myself(self):
            self.outcome = await self.loader.unload_photon("self-unloading")

        async def finalize(self):
            pass
"""


async def test_a_photon_task_can_unload_its_own_photon(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("self_unloading.py", SELF_UNLOADING))
        instance = handler.instance
        instance.loader = loader
        unloader = instance.create_task(instance.unload_myself(), name="unloader")
        await unloader
        assert instance.outcome is True
        assert instance.sibling.cancelled()
        assert dict(loader.photons) == {}
        assert observer.errors == []


FAILING_START = f"""
    from luminal import IPhoton, hookimpl

    class FailingStart(IPhoton, name="failing-start"):
        @hookimpl
        def photon_start(self):
            self.thread = self.spawn_thread(lambda stop_event: stop_event.wait(), name="early-t")
            self.process = self.spawn_process({SLEEPER!r})
            raise RuntimeError("start broke")
"""


async def test_a_failed_start_stops_what_photon_start_had_started(
    write_photon: WritePhoton,
) -> None:
    before = child_pids()
    async with observed_loader() as (loader, _):
        handler = await loader.load_photon(write_photon("failing_start.py", FAILING_START))
        assert isinstance(handler, Handler)
        with pytest.raises(PhotonStartError):
            await handler.start()
        assert "early-t" not in {thread.name for thread in threading.enumerate()}
        assert child_pids() == before, "the process was stopped and reaped"


OWN_LOOP = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class OwnLoop(IPhoton, name="own-loop"):
        @hookimpl
        def photon_start(self):
            self.task = None
            self.thread = self.spawn_thread(self.serve, name="own-loop-t")

        def serve(self, stop_event):
            asyncio.run(self.main())

        async def main(self):
            self.task = self.create_task(asyncio.sleep(3600), name="own-loop-task")
            try:
                await self.task
            except asyncio.CancelledError:
                pass

        async def finalize(self):
            pass
"""


async def test_a_task_on_a_photon_threads_own_loop_is_cancelled(write_photon: WritePhoton) -> None:
    async with observed_loader() as (loader, observer):
        handler = await start(loader, write_photon("own_loop.py", OWN_LOOP))
        instance = handler.instance
        await wait_until(lambda: instance.task is not None)
        assert await loader.unload_photon(handler) is True
        assert instance.task.cancelled()
        assert not instance.thread.is_alive()
        assert not instance.thread.interrupted
        assert observer.errors == []
