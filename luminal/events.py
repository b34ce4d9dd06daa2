"""Calling hooks: broadcasting loader events, and awaiting async implementations."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import pluggy

__all__ = ["acall_hook", "broadcast"]

logger = logging.getLogger(__name__)


async def acall_hook(plugin_manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Any:
    """Call ``hook_name`` through pluggy and await the results that are awaitable.

    pluggy calls every implementation in its usual order (last registered first, ``tryfirst``
    and ``trylast`` honoured); coroutines returned by ``async`` implementations are then awaited
    concurrently and results keep pluggy's order. ``None`` results are dropped, as pluggy drops
    them for plain functions. For a ``firstresult`` hook the single result is awaited.
    """
    hook_caller = getattr(plugin_manager.hook, hook_name, None)
    if hook_caller is None:
        raise AttributeError(
            f"no hook named {hook_name!r} in project {plugin_manager.project_name!r}"
        )
    outcome = hook_caller(**kwargs)
    spec = hook_caller.spec
    if spec is not None and spec.opts.get("firstresult"):
        return await outcome if inspect.isawaitable(outcome) else outcome
    pending = [result for result in outcome if inspect.isawaitable(result)]
    if not pending:
        return [value for value in outcome if value is not None]
    awaited = iter(await asyncio.gather(*pending))
    values = [next(awaited) if inspect.isawaitable(result) else result for result in outcome]
    return [value for value in values if value is not None]


async def broadcast(plugin_manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Send a loader event to every registered plugin; an observer that fails is logged, never
    allowed to break the operation that sent the event."""
    try:
        await acall_hook(plugin_manager, hook_name, **kwargs)
    except Exception:
        logger.exception("an implementation of %s raised", hook_name)
