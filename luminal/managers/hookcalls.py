"""Hook calls one photon cannot break: isolation, time budgets and a circuit breaker.

The call runs through pluggy's own ``_multicall`` (call order, ``tryfirst``/``trylast``,
``firstresult``, ``hookwrapper`` and ``wrapper=True`` implementations), given the hook's
implementations with each photon's function wrapped (:mod:`.hookisolation`): the wrapper times
it, records it in the handler's :class:`~luminal.managers.hookstats.HookRecord` and, when the
call isolates, turns an exception into ``None``, which pluggy drops (and a ``firstresult`` call
passes over), or a photon's broken wrapper into none. An
``async`` implementation's awaitable comes back as a :class:`Pending`; they are awaited together,
each bounded by the call's ``timeout``. The wrapped implementations are kept per
implementation while their photon is registered (:mod:`.wrappedimpls`), so a call costs one
small closure call per photon.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import pluggy
from pluggy._callers import _multicall  # pluggy's own call loop, as its HookCaller runs it

from luminal.errors import LuminalError, PhotonHookError, PhotonQuarantinedError
from luminal.guard import AWAITING, closing, escaped_error
from luminal.managers.arguments import check_seconds
from luminal.managers.eager import task_starter
from luminal.managers.handler import Handler
from luminal.managers.hookisolation import CURRENT, Call, Pending, isolating, isolating_wrapper
from luminal.managers.reporting import Reporter
from luminal.managers.wrappedimpls import Entry, WrappedImpls

__all__ = ["HookCalls", "check_quarantine_after"]

logger = logging.getLogger(__name__)


def check_quarantine_after(quarantine_after: object) -> int | None:
    """``quarantine_after`` if it is ``None`` or a positive ``int``.

    :raises TypeError: if it is neither ``None`` nor an ``int``.
    :raises ValueError: if it is an ``int`` below 1.
    """
    if quarantine_after is None:
        return None
    if not isinstance(quarantine_after, int) or isinstance(quarantine_after, bool):
        raise TypeError(f"quarantine_after must be None or an int, not {quarantine_after!r}")
    if quarantine_after < 1:
        raise ValueError(f"quarantine_after must be at least 1, not {quarantine_after}")
    return quarantine_after


def _check_call(hook_name: object, timeout: object, isolate: object) -> None:
    if not isinstance(hook_name, str):
        raise TypeError(f"hook_name must be a str, not {hook_name!r}")
    if not isinstance(isolate, bool):
        raise TypeError(f"isolate must be a bool, not {isolate!r}")
    if timeout is not None:
        check_seconds("timeout", timeout)


class HookCalls:
    """The loader's ``acall`` and ``call``: each photon implementation isolated, timed and
    counted, and a photon that keeps failing quarantined."""

    def __init__(
        self,
        plugin_manager: pluggy.PluginManager,
        photons: Mapping[str, Handler],
        reporter: Reporter,
        quarantine_after: int | None,
        wrapped_impls: WrappedImpls,
    ) -> None:
        self.plugin_manager = plugin_manager
        self.photons = photons
        self.reporter = reporter
        self.quarantine_after = quarantine_after
        self.wrapped_impls = wrapped_impls
        self._abandoned: set[asyncio.Task[Any]] = set()
        self._reporting: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # where the async calls run

    async def broadcast(self, hook_name: str, kwargs: dict[str, Any]) -> None:
        """Send a loader event as an isolated call: a photon's implementation that fails is
        skipped, counted and reported, and the other plugins still get the event. A failure in
        ``luminal_photon_error`` itself is only logged (reporting it would call it again), as is
        a host observer's, which is the host's own code. An event no plugin implements is sent
        nowhere at once (a load sends one per photon)."""
        self._loop = asyncio.get_running_loop()
        hook_caller = getattr(self.plugin_manager.hook, hook_name, None)
        if hook_caller is not None and not hook_caller.get_hookimpls():
            return
        try:
            await self._acall(hook_name, None, True, kwargs, hook_name != "luminal_photon_error")
        except Exception:
            logger.exception("an implementation of %s raised", hook_name)

    async def acall(
        self, hook_name: str, timeout: float | None, isolate: bool, kwargs: dict[str, Any]
    ) -> Any:
        """Call ``hook_name`` and await the ``async`` implementations (see ``Loader.acall``)."""
        _check_call(hook_name, timeout, isolate)
        return await self._acall(hook_name, timeout, isolate, kwargs, True)

    async def _acall(
        self,
        hook_name: str,
        timeout: float | None,
        isolate: bool,
        kwargs: dict[str, Any],
        report: bool,
    ) -> Any:
        self._loop = asyncio.get_running_loop()
        impls, firstresult, hosted = self._impls(hook_name)
        if not impls:  # as pluggy answers a hook nobody implements
            return None if firstresult else []
        call = Call(hook_name, isolate, asynchronous=True)
        try:
            outcome = self._run(call, impls, kwargs, firstresult)
            if firstresult:
                while isinstance(outcome, Pending):
                    value = (await self._settle(call, [outcome], timeout))[0]
                    if value is not None:
                        outcome = value
                        break
                    rest = self._after(impls, outcome.impl)
                    outcome = self._run(call, rest, kwargs, firstresult) if rest else None
                if hosted and inspect.isawaitable(outcome):
                    outcome = await outcome
            elif call.pending or hosted:
                outcome = await self._settle_all(call, outcome, timeout, hosted)
        except BaseException:  # a host's implementation raised, or the caller is cancelled
            self._report_soon(self._conclude(call), report)
            raise
        for path, error in self._conclude(call):
            if report:
                await self.reporter.report(path, error)
            else:
                logger.error("%s", error, exc_info=error)
        return outcome

    def call(self, hook_name: str, isolate: bool, kwargs: dict[str, Any]) -> Any:
        """Call ``hook_name`` synchronously (see ``Loader.call``)."""
        _check_call(hook_name, None, isolate)
        call = Call(hook_name, isolate, asynchronous=False)
        impls, firstresult, _ = self._impls(hook_name)
        try:
            return self._run(call, impls, kwargs, firstresult)
        finally:
            self._report_soon(self._conclude(call), report=True)

    def _impls(self, hook_name: str) -> tuple[list[pluggy.HookImpl], bool, bool]:
        """The hook's implementations in registration order, photons' ones wrapped; whether
        the hook is ``firstresult``, and whether a host plugin answers it (an ``async`` one of
        those gives a coroutine that ``acall`` awaits, as a plain pluggy caller would).

        :raises TypeError: for a ``historic`` hook, whose calls pluggy must remember."""
        hook_caller = getattr(self.plugin_manager.hook, hook_name, None)
        if hook_caller is None:
            raise AttributeError(
                f"no hook named {hook_name!r} in project {self.plugin_manager.project_name!r}"
            )
        spec = hook_caller.spec
        if spec is not None and spec.opts.get("historic"):  # pluggy refuses a plain call too
            raise TypeError(
                f"hook {hook_name!r} is historic: call plugin_manager.hook.{hook_name}"
                ".call_historic(), which also calls the photons registered later"
            )
        firstresult = bool(spec is not None and spec.opts.get("firstresult"))
        cache = self.wrapped_impls.of_hook(hook_name)
        originals = hook_caller.get_hookimpls()
        impls = [self._wrap(cache, impl) for impl in originals]
        if len(cache) > 2 * len(impls) + 16:
            alive = {id(impl) for impl in originals}
            for key in [key for key in cache if key not in alive]:
                del cache[key]
        hosted = any(
            impl is original and not (impl.wrapper or impl.hookwrapper)
            for impl, original in zip(impls, originals, strict=True)
        )
        return impls, firstresult, hosted

    def _wrap(self, cache: dict[int, Entry], impl: pluggy.HookImpl) -> pluggy.HookImpl:
        entry = cache.get(id(impl))
        if entry is not None and entry[0] is impl:
            return entry[1]
        handler = self.photons.get(impl.plugin_name)
        if handler is None or handler.instance is not impl.plugin:
            return impl  # the host's own plugin, wrappers included: called as pluggy calls it
        wrapped = pluggy.HookImpl(impl.plugin, impl.plugin_name, impl.function, impl.opts)
        if impl.hookwrapper or impl.wrapper:
            function = isolating_wrapper(handler, impl.function, old_style=impl.hookwrapper)
        else:
            function = isolating(handler, wrapped, impl.function)
        setattr(wrapped, "function", function)  # noqa: B010
        self.wrapped_impls.add(cache, impl, wrapped)
        return wrapped

    @staticmethod
    def _run(
        call: Call, impls: Sequence[pluggy.HookImpl], kwargs: dict[str, Any], firstresult: bool
    ) -> Any:
        token = CURRENT.set(call)
        try:
            return _multicall(call.hook_name, impls, kwargs, firstresult)
        finally:
            CURRENT.reset(token)

    @staticmethod
    def _after(impls: list[pluggy.HookImpl], answered: pluggy.HookImpl) -> list[pluggy.HookImpl]:
        """What a ``firstresult`` call goes on with when ``answered`` gave nothing: the
        implementations pluggy would have called next, and the wrappers."""
        index = next(position for position, impl in enumerate(impls) if impl is answered)
        wrappers = [impl for impl in impls[index:] if impl.hookwrapper or impl.wrapper]
        return impls[:index] + wrappers

    async def _settle_all(
        self, call: Call, outcome: Any, timeout: float | None, hosted: bool
    ) -> Any:
        """The call's results with the photons' pending ones settled (see :meth:`_settle`) and
        the host plugins' awaitables awaited alongside them (as pluggy runs the host's
        implementations, an error of theirs is raised)."""
        hosts = [
            value
            for value in (outcome if hosted and isinstance(outcome, list) else ())
            if not isinstance(value, Pending) and inspect.isawaitable(value)
        ]
        host_tasks = [asyncio.ensure_future(awaitable) for awaitable in hosts]
        try:
            values = await self._settle(call, call.pending, timeout) if call.pending else []
            host_values = await asyncio.gather(*host_tasks) if host_tasks else []
        except BaseException:
            self._abandon(host_tasks)
            raise
        settled = dict(zip(map(id, call.pending), values, strict=True))
        settled.update(zip(map(id, hosts), host_values, strict=True))
        return _resolved(outcome, settled)

    async def _settle(
        self, call: Call, pending: Sequence[Pending], timeout: float | None
    ) -> list[Any]:
        """Await the pending implementations together, each within ``timeout``; what each
        gave (``None`` for one that failed). Without isolation the first failure is raised."""
        if timeout is None and call.isolate:
            return self._settled(call, pending, await _gathered(pending, self._abandon))
        tasks = _started(pending, self._abandon)
        try:
            when = asyncio.ALL_COMPLETED if call.isolate else asyncio.FIRST_EXCEPTION
            await asyncio.wait(tasks, timeout=timeout, return_when=when)
        except asyncio.CancelledError:
            self._abandon(tasks)
            raise
        values: list[Any] = []
        first_error: BaseException | None = None
        for each, task in zip(pending, tasks, strict=True):
            if not task.done():
                self._abandon([task])
                call.fail(each.handler, None, time.perf_counter() - each.start)
                values.append(None)
                continue
            error = None if task.cancelled() else task.exception()
            if task.cancelled() or error is not None:
                call.fail(each.handler, error or asyncio.CancelledError(), _duration(each))
                first_error = first_error or error
                values.append(None)
            else:
                call.succeed(each.handler, _duration(each))
                values.append(task.result())
        if not call.isolate and call.failures:
            raise first_error or call.failures[0][1]
        return values

    @staticmethod
    def _settled(call: Call, pending: Sequence[Pending], outcomes: list[Any]) -> list[Any]:
        """What each pending implementation gave (``None`` for one that raised), counted."""
        values: list[Any] = []
        for each, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                call.fail(each.handler, outcome, _duration(each))
                values.append(None)
            else:
                call.succeed(each.handler, _duration(each))
                values.append(outcome)
        return values

    def _abandon(self, tasks: Sequence[asyncio.Task[Any]]) -> None:
        """Cancel tasks the call no longer waits for, keeping them referenced until they end."""
        for task in tasks:
            task.cancel()
            self._abandoned.add(task)
            task.add_done_callback(_forget(self._abandoned))

    def _conclude(self, call: Call) -> list[tuple[str, LuminalError]]:
        """Count the call for the circuit breaker; what to report, quarantines included."""
        reports: list[tuple[str, LuminalError]] = [
            (handler.filepath, error) for handler, error in call.failures
        ]
        if not call.isolate:
            return reports
        failed = {id(handler): (handler, error) for handler, error in call.failures}
        for handler in call.succeeded:
            if id(handler) not in failed:
                handler.hook_record.consecutive_failures = 0
        for handler, error in failed.values():
            record = handler.hook_record
            record.consecutive_failures += 1
            limit = self.quarantine_after
            if limit is not None and record.consecutive_failures >= limit and handler.quarantine():
                reports.append((handler.filepath, _quarantined(handler, error, limit)))
        return reports

    def _report_soon(self, reports: list[tuple[str, LuminalError]], report: bool) -> None:
        """Report from synchronous code (or a call that raises): as a task of the running event
        loop; from a thread that runs none, as a task of the loop the loader's calls run on
        while it runs (the observers are that loop's code), else in a loop of its own; only
        log, unless ``report``."""
        if not reports:
            return
        if not report:
            for _, error in reports:
                logger.error("%s", error, exc_info=error)
            return

        async def report_all() -> None:
            for path, error in reports:
                await self.reporter.report(path, error)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            home = self._loop
            if home is not None and home.is_running():
                home.call_soon_threadsafe(self._start_reporting, report_all)
            else:
                asyncio.run(report_all())
            return
        self._start_reporting(report_all)

    def _start_reporting(self, report_all: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.get_running_loop().create_task(report_all())
        self._reporting.add(task)
        task.add_done_callback(_forget(self._reporting))


def _resolved(outcome: Any, settled: dict[int, Any]) -> Any:
    """The call's results with each awaited one replaced by what it gave, ``None`` dropped."""
    if not isinstance(outcome, list):
        return outcome  # a wrapper made something else of the results
    values = [settled.get(id(value), value) for value in outcome]
    return [value for value in values if value is not None]


async def _awaited(pending: Pending) -> Any:
    try:
        return await pending.awaitable
    except Exception:
        raise
    except AWAITING:
        raise
    except BaseException as escaped:  # what guarded does, inline: this is the hot path
        if closing(escaped):
            raise
        raise escaped_error(escaped) from escaped
    finally:
        pending.duration = time.perf_counter() - pending.start


def _started(
    pending: Sequence[Pending], abandon: Callable[[Sequence[asyncio.Task[Any]]], None]
) -> list[asyncio.Task[Any]]:
    """A task per pending implementation, in order. Where Python can (3.12 and later, unless the
    host set a task factory), each starts eagerly: an implementation that returns without
    waiting is done at once, with no trip through the event loop, and runs as its own task all
    the same. A ``KeyboardInterrupt`` out of an eager start leaves nothing behind: the tasks
    started are ``abandon``-ed and the implementations not started are closed."""
    start = task_starter(asyncio.get_running_loop())
    tasks: list[asyncio.Task[Any]] = []
    try:
        for each in pending:
            tasks.append(start(_awaited(each)))
    except BaseException:
        abandon(tasks)
        for rest in pending[len(tasks) + 1 :]:
            close = getattr(rest.awaitable, "close", None)
            if close is not None:
                close()
        raise
    return tasks


async def _gathered(
    pending: Sequence[Pending], abandon: Callable[[Sequence[asyncio.Task[Any]]], None]
) -> list[Any]:
    """Await every pending implementation concurrently; a result or an exception each."""
    tasks = _started(pending, abandon)
    waiting = [task for task in tasks if not task.done()]
    if waiting:
        await asyncio.gather(*waiting, return_exceptions=True)
    return [_outcome(task) for task in tasks]


def _outcome(task: asyncio.Task[Any]) -> Any:
    """What a finished task gave: its result, or the exception that ended it."""
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception() or task.result()


def _duration(pending: Pending) -> float:
    if pending.duration is None:
        return time.perf_counter() - pending.start
    return pending.duration


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def forget(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure was already counted as a timeout

    return forget


def _quarantined(handler: Handler, last: PhotonHookError, failures: int) -> PhotonQuarantinedError:
    error = PhotonQuarantinedError(
        f"photon {handler.name!r} from {handler.filepath} failed in {failures} consecutive hook "
        f"calls and is quarantined (no hook reaches it until it is reloaded); last: {last}",
        last,
        failures,
    )
    error.__cause__ = last
    return error
