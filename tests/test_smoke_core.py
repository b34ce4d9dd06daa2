"""The core loop a host relies on: load, start, call a hook, reload, unload."""

from __future__ import annotations

import sys

from luminal import Handler, Loader, hookspec
from luminal.testing import WritePhoton

GREETER = """
    from luminal import IPhoton, hookimpl

    class Greeter(IPhoton, name="greeter"):
        @hookimpl
        def greet(self, who):
            return "{word} " + who
"""


class HostSpecs:
    @hookspec
    def greet(self, who: str) -> str:  # type: ignore[empty-body]
        """Greet someone."""


async def test_load_start_call_reload_unload(loader: Loader, write_photon: WritePhoton) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    path = write_photon("greeter.py", GREETER.format(word="hello"))
    handler = await loader.load_photon(path)
    assert isinstance(handler, Handler)
    assert loader.plugin_manager.hook.greet(who="ada") == []
    await handler.start()
    assert loader.plugin_manager.hook.greet(who="ada") == ["hello ada"]

    path.write_text(path.read_text().replace("hello", "howdy"))
    fresh = await loader.reload_photon(handler)
    assert isinstance(fresh, Handler)
    assert loader.plugin_manager.hook.greet(who="ada") == ["howdy ada"]
    module_name = fresh.module_name
    assert module_name in sys.modules

    assert await loader.unload_photon(fresh) is True
    assert loader.plugin_manager.hook.greet(who="ada") == []
    assert module_name not in sys.modules
    assert dict(loader.photons) == {}
