"""Isolated hook calls pass what pluggy passes: an implementation's defaulted argument is given
by keyword."""

from __future__ import annotations

import textwrap

from luminal import Loader, hookspec
from luminal.testing import WritePhoton
from tests.test_hook_isolation import started


class LoudSpecs:
    @hookspec
    def shout(self, word: str, loud: bool = False) -> str:  # type: ignore[empty-body]
        """Say ``word``, in capitals when ``loud``."""


async def test_an_implementations_defaulted_argument_is_passed(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(LoudSpecs)
    source = textwrap.dedent(
        """
        from luminal import IPhoton, hookimpl

        class Loud(IPhoton, name="loud"):
            @hookimpl
            def shout(self, word, loud=False):
                return word.upper() if loud else word

            async def finalize(self):
                pass
        """
    )
    await started(loader, write_photon("loud.py", source))
    assert loader.plugin_manager.hook.shout(word="hi", loud=True) == ["HI"]
    assert await loader.acall("shout", word="hi", loud=True) == ["HI"]
    assert loader.call("shout", word="hi", loud=True) == ["HI"]
    assert await loader.acall("shout", word="hi") == ["hi"]
