"""An example host: loads the photons of a directory and of installed distributions, calls a
host hook, reloads, unloads.

Run it with ``python examples/host_app.py plugins_example``.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import luminal

hookspec = luminal.hookspec


class HostSpecs:
    """The hooks this host offers its photons."""

    @hookspec
    def greet(self, who: str) -> str:  # type: ignore[empty-body]
        """Return a greeting for ``who``."""


async def main(directory: str) -> None:
    async with luminal.Loader(logging=True) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        handlers = await loader.load_photons(directory, recursive=True)
        # Photons of installed distributions, e.g. `pip install ./plugins_example/hello_dist`.
        handlers += await loader.load_entry_points()
        for handler in handlers:
            await handler.start()
        print("running:", ", ".join(sorted(loader.photons)))
        for answer in await loader.acall("greet", who="world"):
            print("  ", answer)
        greeter = loader.photons.get("greeter")
        if greeter is not None:
            fresh = await loader.reload_photon(greeter)
            print("reloaded:", fresh)
            print("  ", await loader.acall("greet", who="again"))
        for handler in list(loader.photons.values()):
            if loader.photons.get(handler.name) is handler:
                await loader.unload_photon(handler)
        print("left running:", dict(loader.photons))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "plugins_example"))
