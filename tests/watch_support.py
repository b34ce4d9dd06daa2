"""Helpers for the watching tests: photon sources, host specs and waiting with a deadline."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path

from luminal import Loader, hookspec

DEADLINE = 15.0


class HostSpecs:
    @hookspec
    def greet(self, who: str) -> str:  # type: ignore[empty-body]
        """Greet someone."""


def greeter(word: str, name: str = "greeter", extra: str = "") -> str:
    """A photon whose ``greet`` answers ``"<word> <who>"``."""
    return textwrap.dedent(
        f"""\
        from luminal import IPhoton, hookimpl
        {extra}

        class Photon(IPhoton, name={name!r}):
            @hookimpl
            def greet(self, who):
                return {word!r} + " " + who

            async def finalize(self):
                pass
        """
    )


def greetings(loader: Loader) -> list[str]:
    return sorted(loader.plugin_manager.hook.greet(who="ada"))


async def wait_for(predicate: Callable[[], object], timeout: float = DEADLINE) -> None:
    """Wait until ``predicate()`` is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


def replace_atomically(path: Path, text: str) -> None:
    """Save as many editors do: write a temporary file, then rename it over the original."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
