"""Starting a coroutine as a task that runs at once, where Python can (3.12 and later)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["task_starter"]

TaskStarter = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


def task_starter(loop: asyncio.AbstractEventLoop) -> TaskStarter:
    """How to start a coroutine as a task of ``loop``: eagerly (it runs up to its first real wait
    before the call returns) on Python 3.12 and later, unless the host set a task factory, whose
    tasks start as the factory starts them."""
    if sys.version_info >= (3, 12) and loop.get_task_factory() is None:
        return functools.partial(_eager_task, loop)
    return loop.create_task


if sys.version_info >= (3, 12):

    def _eager_task(
        loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, Any]
    ) -> asyncio.Task[Any]:
        """A task started eagerly. A ``KeyboardInterrupt`` or ``SystemExit`` out of its first
        step is raised by the task's constructor and is the task's exception too: the task is
        made before it starts so that this exception, which the caller gets raised, is marked
        retrieved, or asyncio would log "Task exception was never retrieved" at collection."""
        task = asyncio.Task.__new__(asyncio.Task)
        try:
            asyncio.Task.__init__(task, coroutine, loop=loop, eager_start=True)
        except (KeyboardInterrupt, SystemExit):
            task.exception()
            raise
        return task
