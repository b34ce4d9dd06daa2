"""Steps that, once begun, end before their caller's cancellation goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["finish_then_cancel"]

T = TypeVar("T")


async def finish_then_cancel(step: Coroutine[Any, Any, T], hurry: Callable[[], object]) -> T:
    """Run ``step`` in a task of its own and return what it returns. If the caller is cancelled
    meanwhile, ``hurry`` tells the step to end soon, the step is waited for (a stop left half
    done would leave threads running), and then the cancellation goes on (or the step's own
    error, if it failed)."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        hurry()
        await asyncio.wait([task])
        task.result()
        raise
