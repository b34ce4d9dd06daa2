"""Testing the photons of ``plugins_example/`` with Luminal's pytest plugin.

Installing luminal-photons registers the plugin with pytest, and its fixtures need
pytest-asyncio; each async test is marked, as pytest-asyncio's default strict mode wants. In a
checkout, ``python3 -m pip install -e ".[test]"`` (the repository's own pytest configuration
asks for pytest-timeout too), then ``python3 -m pytest examples/test_plugins_example.py``.
Photon tests live next to the photon directory, never inside it, because the loader imports
every ``.py`` file there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import luminal
from luminal.testing import StartPhotons

PHOTONS = Path(__file__).resolve().parent.parent / "plugins_example"


class HostSpecs:
    """The hook the example host offers; photons' implementations are checked against it."""

    @luminal.hookspec
    def greet(self, who: str) -> str:  # type: ignore[empty-body]
        """Return a greeting for ``who``."""


@pytest.mark.asyncio
async def test_greeter_greets(luminal_start: StartPhotons) -> None:
    greeter = await luminal_start(PHOTONS / "greeter.py", hookspecs=HostSpecs)
    assert greeter.handler.name == "greeter"
    assert await greeter.call("greet", who="Ada") == ["Hello, Ada! (greeting #1)"]


@pytest.mark.asyncio
async def test_greeter_keeps_its_count_across_a_reload(luminal_start: StartPhotons) -> None:
    greeter = await luminal_start(PHOTONS / "greeter.py", hookspecs=HostSpecs)
    await greeter.call("greet", who="Ada")
    reloaded = await greeter.reload()
    assert await reloaded.call("greet", who="Ada") == ["Hello, Ada! (greeting #2)"]


@pytest.mark.asyncio
async def test_every_example_photon_answers(luminal_start: StartPhotons) -> None:
    photons = await luminal_start(PHOTONS, hookspecs=HostSpecs, recursive=True)
    names = {handler.name for handler in photons.handlers}
    assert {"clock", "greeter", "rainy", "sunny"} <= names
    answers = await photons.call("greet", who="Ada")
    assert "Hello, Ada! (greeting #1)" in answers
    assert "It rains on Ada." in answers
