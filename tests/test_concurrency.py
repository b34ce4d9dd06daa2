"""Many tasks loading, reloading and unloading photons while a host calls hooks in a loop."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

from luminal import (
    Handler,
    Loader,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonReloadError,
    hookspec,
)
from luminal.testing import EventRecorder, WritePhoton

PHOTON = """
import asyncio
from luminal import IPhoton, hookimpl

class Photon(IPhoton, name="{name}"):
    def __init__(self):
        self.live = False

    @hookimpl
    async def photon_start(self):
        self.live = True
        await asyncio.sleep(0)

    async def finalize(self):
        self.live = False
        await asyncio.sleep(0)

    @hookimpl
    def probe(self):
        return (self.photon_name, self.live)
"""

NAMES = [f"photon{index}" for index in range(6)]
DOCUMENTED = (PhotonNotFoundError, PhotonNotInitializedError)


class HostSpecs:
    @hookspec
    def probe(self) -> tuple[str, bool]:  # type: ignore[empty-body]
        """Whether the photon answering is live."""


async def test_fifty_tasks_keep_the_registry_consistent(
    loader: Loader, write_photon: WritePhoton
) -> None:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    paths = {name: write_photon(f"{name}.py", PHOTON.format(name=name)) for name in NAMES}
    unexpected: list[BaseException] = []
    answers_seen = 0
    stop_probing = asyncio.Event()

    async def probe_forever() -> None:
        nonlocal answers_seen
        while not stop_probing.is_set():
            for name, live in loader.plugin_manager.hook.probe():
                assert live, f"a hook call reached {name} while it was not live"
                answers_seen += 1
            await asyncio.sleep(0)

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            name = rng.choice(NAMES)
            operation = rng.choice(["load", "start", "reload", "unload", "force"])
            try:
                if operation == "load":
                    await loader.load_photon(paths[name])
                elif operation == "start":
                    handler = loader.photons.get(name)
                    if handler is not None:
                        await handler.start()
                elif operation == "reload":
                    await loader.reload_photon(paths[name])
                elif operation == "unload":
                    await loader.unload_photon(paths[name])
                else:
                    await loader.unload_photon(paths[name], force_stop=True)
            except DOCUMENTED:
                pass
            except Exception as error:
                unexpected.append(error)

    observer = EventRecorder()
    loader.plugin_manager.register(observer)
    prober = asyncio.create_task(probe_forever())
    await asyncio.gather(*(worker(seed) for seed in range(50)))
    stop_probing.set()
    await prober

    assert unexpected == []
    assert answers_seen > 0
    registered = {
        name for name, plugin in loader.plugin_manager.list_name_plugin() if name in NAMES
    }
    started = {name for name, handler in loader.photons.items() if handler.started}
    assert registered == started
    for name, handler in loader.photons.items():
        assert handler.module_name in sys.modules
        assert Path(handler.filepath) == paths[name]
    prefix = loader._namespace + "_"
    loaded_modules = {module for module in sys.modules if module.startswith(prefix)}
    assert loaded_modules == {handler.module_name for handler in loader.photons.values()}

    # The loader's own events, in the order they were sent, say what the final state must be:
    # a photon is loaded exactly when its last event loaded or reloaded it, as that handler.
    last_event: dict[str, tuple[str, object]] = {}
    for kind, arguments in observer.events:
        if kind in ("loaded", "unloaded"):
            subject = arguments[0]
            last_event[getattr(subject, "name", "")] = (kind, subject)
        elif kind == "reloaded":
            fresh = arguments[1]
            last_event[getattr(fresh, "name", "")] = (kind, fresh)
    assert len(last_event) > 0
    for name in NAMES:
        kind, subject = last_event.get(name, ("unloaded", None))
        if kind == "unloaded":
            assert name not in loader.photons
        else:
            assert loader.photons[name] is subject


async def test_concurrent_operations_on_one_file_are_serialised(
    loader: Loader, write_photon: WritePhoton
) -> None:
    path = write_photon("solo.py", PHOTON.format(name="solo"))
    handler = await loader.load_photon(path)
    assert not isinstance(handler, list)
    await handler.start()
    operations = [loader.reload_photon(path) for _ in range(10)]
    results = await asyncio.gather(*operations, return_exceptions=True)
    assert not [result for result in results if isinstance(result, BaseException)]
    final = await loader.unload_photon(path)
    assert final is True
    assert "solo" not in loader.photons

    loaded = await asyncio.gather(*(loader.load_photon(path) for _ in range(10)))
    assert len({id(result) for result in loaded}) == 1
    assert list(loader.photons) == ["solo"]


WAITS_FOR_MODULE = """
import sys
import time
from luminal import IPhoton

deadline = time.monotonic() + 10
while not any({marker!r} in name for name in list(sys.modules)):
    if time.monotonic() > deadline:
        raise RuntimeError("the other source was never imported")
    time.sleep(0.001)

class Photon(IPhoton, name="{name}"):
    pass
"""


async def test_a_source_imported_meanwhile_is_not_taken_for_a_helper(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """While one photon's import runs, another photon of its directory is imported on another
    thread: unloading the first must leave the second's module alone."""
    slow = write_photon("slow.py", WAITS_FOR_MODULE.format(marker="_quick_", name="slow"))
    quick = write_photon("quick.py", PHOTON.format(name="quick"))
    await asyncio.gather(loader.load_photon(slow), loader.load_photon(quick))
    quick_module = loader.photons["quick"].module_name

    assert await loader.unload_photon(slow, force_stop=True) is True

    assert quick_module in sys.modules
    reloaded = await loader.reload_photon(quick)
    assert not isinstance(reloaded, list)
    assert reloaded.module_name in sys.modules


async def test_a_helper_another_tree_imports_meanwhile_stays_that_trees(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """A helper that another directory's photon imports while this photon's import runs is
    that photon's: reloading this one must not take it out of ``sys.modules``."""
    slow = write_photon("one/slow.py", WAITS_FOR_MODULE.format(marker="helper_two", name="slow"))
    write_photon("two/helper_two.py", "VALUE = 2\n")
    other = write_photon(
        "two/other.py",
        "import helper_two\nfrom luminal import IPhoton\n\n"
        "class Photon(IPhoton, name='other'):\n    value = helper_two.VALUE\n",
    )
    await asyncio.gather(loader.load_photon(slow), loader.load_photon(other))
    helper = sys.modules["helper_two"]

    # The new version waits for nothing: while it runs, the other tree's helper is hidden
    # from it (it is not this tree's), so it would wait in vain.
    slow.write_text(PHOTON.format(name="slow"))
    await loader.reload_photon(slow)
    assert await loader.unload_photon(slow, force_stop=True) is True

    assert sys.modules.get("helper_two") is helper


SHARES_HELPERS = """
import helpers
from luminal import IPhoton, hookimpl

class Photon(IPhoton, name="{name}"):
    helper = helpers

    @hookimpl
    def photon_start(self):
        pass
"""

# a's new version runs once b's new helper is in sys.modules (b's import put it there), then
# fails: a's undo must not take b's helper out of sys.modules or put the old one over it.
FAILS_AFTER_THE_OTHERS_HELPER = """
import sys
import time

deadline = time.monotonic() + 10
while getattr(sys.modules.get("helpers"), "VERSION", None) != 2:
    if time.monotonic() > deadline:
        raise TimeoutError("b's new helper never came")
    time.sleep(0.001)
import helpers

raise RuntimeError("a is broken")
"""


@pytest.mark.parametrize("first", ["a", "b"], ids=["unload-a-first", "unload-b-first"])
async def test_a_failed_reload_leaves_the_helper_a_concurrent_reload_imported(
    loader: Loader, write_photon: WritePhoton, first: str
) -> None:
    write_photon("helpers.py", "VERSION = 1\n")
    a_path = write_photon("a.py", SHARES_HELPERS.format(name="a"))
    write_photon("b.py", SHARES_HELPERS.format(name="b"))
    for handler in await loader.load_photons(a_path.parent):
        await handler.start()
    old_a = loader.photons["a"]
    old_helper = sys.modules["helpers"]
    write_photon("helpers.py", "VERSION = 2\n")
    write_photon("a.py", FAILS_AFTER_THE_OTHERS_HELPER)
    write_photon("b.py", SHARES_HELPERS.format(name="b"))

    failed, reloaded = await asyncio.gather(
        loader.reload_photon("a"), loader.reload_photon("b"), return_exceptions=True
    )

    assert isinstance(failed, PhotonReloadError)
    assert isinstance(reloaded, Handler)
    assert loader.photons["a"] is old_a
    assert getattr(old_a.photon_class, "helper", None) is old_helper
    new_helper = getattr(reloaded.photon_class, "helper", None)
    assert getattr(new_helper, "VERSION", None) == 2
    assert sys.modules.get("helpers") is new_helper
    assert await loader.unload_photon(first) is True
    assert sys.modules.get("helpers") is (new_helper if first == "a" else None)
    assert await loader.unload_photon("b" if first == "a" else "a") is True
    assert "helpers" not in sys.modules


A_STARTS: list[str] = []

COUNTS_ITS_STARTS = """
import helpers
from luminal import IPhoton, hookimpl
from tests.test_concurrency import A_STARTS

class Photon(IPhoton, name="a"):
    helper = helpers

    @hookimpl
    def photon_start(self):
        A_STARTS.append("a")
"""

# a's new version takes b's new helper from sys.modules and fails to start: its rollback takes
# that helper out with it and puts the old one back before b's new version goes live.
FAILS_TO_START_WITH_THE_OTHERS_HELPER = FAILS_AFTER_THE_OTHERS_HELPER.replace(
    'raise RuntimeError("a is broken")',
    """from luminal import IPhoton, hookimpl

class Photon(IPhoton, name="a"):
    @hookimpl
    def photon_start(self):
        raise RuntimeError("a is broken")
""",
)

WAITS_FOR_THE_ROLLBACK = """
import time
import helpers
from luminal import IPhoton, hookimpl
from tests.test_concurrency import A_STARTS

deadline = time.monotonic() + 10
while A_STARTS.count("a") < 2:
    if time.monotonic() > deadline:
        raise TimeoutError("a's old version never started again")
    time.sleep(0.001)

class Photon(IPhoton, name="b"):
    helper = helpers

    @hookimpl
    def photon_start(self):
        pass
"""


async def test_a_rollback_before_a_concurrent_reload_goes_live_leaves_it_its_helper(
    loader: Loader, write_photon: WritePhoton
) -> None:
    A_STARTS.clear()
    write_photon("helpers.py", "VERSION = 1\n")
    a_path = write_photon("a.py", COUNTS_ITS_STARTS)
    write_photon("b.py", SHARES_HELPERS.format(name="b"))
    for handler in await loader.load_photons(a_path.parent):
        await handler.start()
    old_helper = sys.modules["helpers"]
    write_photon("helpers.py", "VERSION = 2\n")
    write_photon("a.py", FAILS_TO_START_WITH_THE_OTHERS_HELPER)
    write_photon("b.py", WAITS_FOR_THE_ROLLBACK)

    failed, reloaded = await asyncio.gather(
        loader.reload_photon("a"), loader.reload_photon("b"), return_exceptions=True
    )

    assert isinstance(failed, PhotonReloadError)
    assert isinstance(reloaded, Handler)
    assert A_STARTS == ["a", "a"]
    assert getattr(loader.photons["a"].photon_class, "helper", None) is old_helper
    new_helper = getattr(reloaded.photon_class, "helper", None)
    assert getattr(new_helper, "VERSION", None) == 2
    assert sys.modules.get("helpers") is new_helper
    assert await loader.unload_photon("b") is True
    assert await loader.unload_photon("a") is True
    assert "helpers" not in sys.modules
