"""One isolated hook call, and each photon's implementation run inside it: timed, recorded in
its handler's :class:`~luminal.managers.hookstats.HookRecord` and, when the call isolates, a
failure turned into ``None`` (which pluggy drops) or, for a photon's wrapper, into no wrapper
at all (the call goes on with what the implementations inside it gave)."""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pluggy

from luminal.errors import PhotonHookError, PhotonHookTimeoutError
from luminal.guard import escaped_error
from luminal.managers.handler import Handler
from luminal.managers.hookstats import HookOutcome

__all__ = ["CURRENT", "Call", "Pending", "isolating", "isolating_wrapper"]

CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "luminal_hook_call", default=None
)
"""The isolated call that pluggy's call loop runs in this context, if any."""


class Pending:
    """The awaitable an ``async`` photon implementation returned, while the call awaits it."""

    __slots__ = ("awaitable", "duration", "handler", "impl", "start")

    def __init__(
        self, handler: Handler, impl: pluggy.HookImpl, awaitable: Awaitable[Any], start: float
    ) -> None:
        self.handler = handler
        self.impl = impl
        self.awaitable = awaitable
        self.start = start
        self.duration: float | None = None


class Call:
    """One call of one hook: what each photon's implementation did."""

    def __init__(self, hook_name: str, isolate: bool, asynchronous: bool) -> None:
        self.hook_name = hook_name
        self.isolate = isolate
        self.asynchronous = asynchronous
        self.failures: list[tuple[Handler, PhotonHookError]] = []
        self.succeeded: list[Handler] = []
        self.pending: list[Pending] = []

    def run(
        self,
        handler: Handler,
        impl: pluggy.HookImpl,
        function: Any,
        args: Any,
        kwargs: dict[str, Any],
    ) -> Any:
        start = time.perf_counter()
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            self.fail(handler, error, time.perf_counter() - start)
            if not self.isolate:
                raise
            return None
        except BaseException as escaped:  # what photon_code does, inline: this is the hot path
            if isinstance(escaped, KeyboardInterrupt):
                raise
            self.fail(handler, escaped_error(escaped), time.perf_counter() - start)
            if not self.isolate:
                raise escaped_error(escaped) from escaped
            return None
        if not inspect.isawaitable(result):
            self.succeed(handler, time.perf_counter() - start)
            return result
        if not self.asynchronous:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            problem = TypeError("an async implementation, called by loader.call(); use acall")
            self.fail(handler, problem, time.perf_counter() - start)
            if not self.isolate:
                raise problem
            return None
        pending = Pending(handler, impl, result, start)
        self.pending.append(pending)
        return pending

    def run_wrapper(
        self,
        handler: Handler,
        function: Any,
        args: Any,
        kwargs: dict[str, Any],
        old_style: bool,
    ) -> Generator[None, Any, Any]:
        """Run a photon's wrapper as pluggy would; if it raises (before or after its yield),
        does not yield or yields twice, count it and, when isolating, go on without it: what
        comes from inside goes out unchanged. What it is given and passes on (an inner
        exception) is no failure of its own."""
        start = time.perf_counter()
        try:
            teardown = function(*args, **kwargs)
            next(teardown)
        except StopIteration:
            self._failed(handler, RuntimeError("the wrapper did not yield"), start)
            return (yield)
        except BaseException as error:
            self._failed(handler, error, start)
            return (yield)
        setup = time.perf_counter() - start
        outcome: Any = None
        given: BaseException | None = None
        try:
            outcome = yield
        except BaseException as thrown:  # pluggy throws an inner error into a new-style one
            given = thrown
        if old_style and isinstance(outcome, pluggy.Result):
            given = outcome.exception  # an old-style one gets it inside pluggy's Result
        start = time.perf_counter() - setup  # its time is its setup's and its teardown's
        returned, value = self._tear_down(handler, teardown, outcome, given, old_style, start)
        if returned:
            return value
        if given is not None and not old_style:
            raise given
        return outcome

    def _tear_down(
        self,
        handler: Handler,
        teardown: Generator[None, Any, Any],
        outcome: Any,
        given: BaseException | None,
        old_style: bool,
        start: float,
    ) -> tuple[bool, Any]:
        """Resume a photon's wrapper after its yield with ``outcome`` (or throw ``given`` into a
        new-style one); whether it returned, and what. A failure of its own is counted.

        An old-style one is sent a copy of pluggy's ``Result``: what it forces on it is the
        call's only if it then ends well, since a broken wrapper is as if it were not there."""
        sent = _copied(outcome) if old_style and isinstance(outcome, pluggy.Result) else outcome
        try:
            if given is not None and not old_style:
                teardown.throw(given)
            else:
                teardown.send(sent)
        except StopIteration as stop:
            self.succeed(handler, time.perf_counter() - start)
            if sent is not outcome:
                _forced(outcome, sent)
            return True, stop.value
        except BaseException as error:
            if error is not given:
                self._failed(handler, error, start)
            else:
                self.succeed(handler, time.perf_counter() - start)
        else:
            self._yielded_twice(handler, teardown, start)
        return False, None

    def _yielded_twice(
        self, handler: Handler, teardown: Generator[None, Any, Any], start: float
    ) -> None:
        """Close a wrapper that yielded a second time and count it; what its closing raises
        (a ``finally`` that raises, a ``GeneratorExit`` it ignores) is part of that failure."""
        problem = RuntimeError("the wrapper has a second yield")
        try:
            teardown.close()
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
            problem.__cause__ = error
        self._failed(handler, problem, start)

    def _failed(self, handler: Handler, error: BaseException, start: float) -> None:
        """Count ``error`` of ``handler``'s code, run since ``start``; raise it (a
        ``BaseException`` as its Luminal error) when not isolating, a ``KeyboardInterrupt``
        always."""
        if isinstance(error, KeyboardInterrupt):
            raise error
        cause = error if isinstance(error, Exception) else escaped_error(error)
        self.fail(handler, cause, time.perf_counter() - start)
        if not self.isolate:
            raise cause

    def succeed(self, handler: Handler, duration: float) -> None:
        handler.hook_record.add(self.hook_name, HookOutcome.OK, duration)
        self.succeeded.append(handler)

    def fail(self, handler: Handler, cause: BaseException | None, duration: float) -> None:
        outcome = HookOutcome.ERROR if cause is not None else HookOutcome.TIMEOUT
        handler.hook_record.add(self.hook_name, outcome, duration)
        if cause is None:
            error: PhotonHookError = PhotonHookTimeoutError(
                f"{self.hook_name} of photon {handler.name!r} did not return within the "
                "call's timeout; it was cancelled and skipped",
                handler.name,
                self.hook_name,
            )
        else:
            error = PhotonHookError(
                f"{self.hook_name} of photon {handler.name!r} raised "
                f"{type(cause).__name__}: {cause}",
                handler.name,
                self.hook_name,
            )
            error.__cause__ = cause
        self.failures.append((handler, error))


def _copied(result: pluggy.Result[Any]) -> pluggy.Result[Any]:
    """A ``Result`` holding what ``result`` holds, for a wrapper to force things on."""
    if result.exception is not None:
        return pluggy.Result(None, result.exception)
    return pluggy.Result(result.get_result(), None)


def _forced(result: pluggy.Result[Any], copy: pluggy.Result[Any]) -> None:
    """Give ``result`` what a wrapper that ended well left in its ``copy``."""
    if copy.exception is not None:
        result.force_exception(copy.exception)
    else:
        result.force_result(copy.get_result())


def isolating(handler: Handler, impl: pluggy.HookImpl, function: Any) -> Callable[..., Any]:
    """``function`` as the call running in this context runs a photon's implementation."""

    def isolated(*args: Any, **kwargs: Any) -> Any:  # pluggy passes defaulted ones by keyword
        call = CURRENT.get()
        if call is None:  # called by someone holding the wrapped implementation
            return function(*args, **kwargs)
        return call.run(handler, impl, function, args, kwargs)

    return isolated


def isolating_wrapper(
    handler: Handler, function: Any, old_style: bool
) -> Callable[..., Generator[None, Any, Any]]:
    """A photon's wrapper ``function`` as the call running in this context runs it."""

    def isolated(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
        call = CURRENT.get()
        if call is None:
            return (yield from function(*args, **kwargs))
        return (yield from call.run_wrapper(handler, function, args, kwargs, old_style))

    return isolated
