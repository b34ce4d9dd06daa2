"""Who holds a helper module: loads side by side, cancelled imports, helpers parked by a tree."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from luminal import Loader, PhotonLoadError, PhotonReloadError
from luminal.ownership import IMPORT_THREAD_NAME
from luminal.testing import WritePhoton
from tests.watch_support import wait_for

HELPER = "VERSION = {version}\nREADY = True\n"

SHARES_HELPERS = """
import helpers
from luminal import IPhoton

class Photon(IPhoton, name="{name}"):
    helper = helpers
"""

# a runs helpers.py, waits until b's import has taken it from sys.modules and ended, then
# fails: what a's failure drops must not take b's helper out of sys.modules.
RUNS_THE_HELPER_THEN_FAILS = """
import sys
import time
import helpers

deadline = time.monotonic() + 10
while not any(
    "_b_" in name and hasattr(module, "Photon") for name, module in list(sys.modules.items())
):
    if time.monotonic() > deadline:
        raise TimeoutError("b was never imported")
    time.sleep(0.001)
raise RuntimeError("a is broken")
"""

TAKES_THE_HELPER = """
import sys
import time

deadline = time.monotonic() + 10
while not getattr(sys.modules.get("helpers"), "READY", False):
    if time.monotonic() > deadline:
        raise TimeoutError("a never ran the helper")
    time.sleep(0.001)
""" + SHARES_HELPERS.format(name="b")


async def test_a_failed_load_leaves_the_helper_a_concurrent_load_took(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("helpers.py", HELPER.format(version=1))
    a = write_photon("a.py", RUNS_THE_HELPER_THEN_FAILS)
    b = write_photon("b.py", TAKES_THE_HELPER)

    failed, loaded = await asyncio.gather(
        loader.load_photon(a), loader.load_photon(b), return_exceptions=True
    )

    assert isinstance(failed, PhotonLoadError)
    assert not isinstance(loaded, BaseException)
    helper = getattr(loader.photons["b"].photon_class, "helper", None)
    assert sys.modules.get("helpers") is helper
    c = write_photon("c.py", SHARES_HELPERS.format(name="c"))
    await loader.load_photon(c)
    assert getattr(loader.photons["c"].photon_class, "helper", None) is helper
    assert await loader.unload_photon("b", force_stop=True) is True
    assert await loader.unload_photon("c", force_stop=True) is True
    assert "helpers" not in sys.modules


B_STARTED = threading.Event()

RUNS_THE_HELPER_THEN_FAILS_ONCE_B_STARTED = """
import helpers
from tests.test_helper_ownership import B_STARTED

B_STARTED.wait(10)
raise RuntimeError("a is broken")
"""

TAKES_THE_HELPER_AND_SAYS_WHEN_STARTED = TAKES_THE_HELPER.replace(
    "from luminal import IPhoton",
    "from luminal import IPhoton, hookimpl\nfrom tests.test_helper_ownership import B_STARTED",
) + ("\n    @hookimpl\n    def photon_start(self):\n        B_STARTED.set()\n")


async def test_a_load_failing_after_a_concurrent_load_went_live_leaves_it_its_helper(
    loader: Loader, write_photon: WritePhoton
) -> None:
    B_STARTED.clear()
    write_photon("helpers.py", HELPER.format(version=1))
    a = write_photon("a.py", RUNS_THE_HELPER_THEN_FAILS_ONCE_B_STARTED)
    b = write_photon("b.py", TAKES_THE_HELPER_AND_SAYS_WHEN_STARTED)

    async def load_and_start() -> None:
        handler = await loader.load_photon(b)
        assert not isinstance(handler, list)
        await handler.start()

    failed, _ = await asyncio.gather(
        loader.load_photon(a), load_and_start(), return_exceptions=True
    )

    assert isinstance(failed, PhotonLoadError)
    helper = getattr(loader.photons["b"].photon_class, "helper", None)
    assert sys.modules.get("helpers") is helper
    assert await loader.unload_photon("b") is True
    assert "helpers" not in sys.modules


IMPORT_ENTERED = threading.Event()
IMPORT_GATE = threading.Event()

HELD_AFTER_THE_HELPER = """
import helpers
from tests.test_helper_ownership import IMPORT_ENTERED, IMPORT_GATE

IMPORT_ENTERED.set()
IMPORT_GATE.wait(30)
from luminal import IPhoton

class Photon(IPhoton, name="held"):
    helper = helpers
"""


async def _cancel_while_importing(operation: asyncio.Future[object]) -> None:
    """Cancel ``operation`` while its import waits at the gate, then let the abandoned import
    thread end and the loop hear of it."""
    await wait_for(IMPORT_ENTERED.is_set)
    operation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await operation
    IMPORT_GATE.set()
    await wait_for(lambda: IMPORT_THREAD_NAME not in [t.name for t in threading.enumerate()])
    await asyncio.sleep(0)  # the thread handed its result to the loop before it ended


@pytest.fixture
def gate() -> None:
    IMPORT_ENTERED.clear()
    IMPORT_GATE.clear()


@pytest.mark.usefixtures("gate")
async def test_a_cancelled_load_takes_the_helper_it_ran_out_of_sys_modules(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("helpers.py", HELPER.format(version=1))
    held = write_photon("held.py", HELD_AFTER_THE_HELPER)

    await _cancel_while_importing(asyncio.ensure_future(loader.load_photon(held)))

    assert loader.photons == {}
    assert "helpers" not in sys.modules


@pytest.mark.usefixtures("gate")
async def test_a_cancelled_reload_puts_the_old_helper_back(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("helpers.py", HELPER.format(version=1))
    held = write_photon("held.py", SHARES_HELPERS.format(name="held"))
    handler = await loader.load_photon(held)
    old_helper = sys.modules["helpers"]
    write_photon("helpers.py", HELPER.format(version=2))
    write_photon("held.py", HELD_AFTER_THE_HELPER)

    await _cancel_while_importing(asyncio.ensure_future(loader.reload_photon("held")))

    assert loader.photons["held"] is handler
    assert sys.modules.get("helpers") is old_helper
    assert await loader.unload_photon("held", force_stop=True) is True
    assert "helpers" not in sys.modules


def _tree(write_photon: WritePhoton, tree: str, photon: str) -> Path:
    write_photon(f"{tree}/helpers.py", f"TREE = {tree!r}\nUSERS: list[str] = []\n")
    return write_photon(
        f"{tree}/{photon}.py",
        "import helpers\nfrom luminal import IPhoton\n\nhelpers.USERS.append(__name__)\n\n"
        f"class Photon(IPhoton, name={photon!r}):\n    helper = helpers\n",
    )


async def test_a_failed_reload_leaves_a_parked_helper_to_its_tree(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """one/helpers.py is parked while two's photon imports (two has its own helpers.py); a
    reload of one's photon that fails before its source runs must leave it there for one's
    next photon, which would otherwise run a second copy of one/helpers.py."""
    first = _tree(write_photon, "one", "first")
    await loader.load_photon(first)
    await loader.load_photon(_tree(write_photon, "two", "second"))
    helper = getattr(loader.photons["first"].photon_class, "helper", None)
    first.unlink()

    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("first")

    third = write_photon("one/third.py", SHARES_HELPERS.format(name="third"))
    await loader.load_photon(third)
    assert getattr(loader.photons["third"].photon_class, "helper", None) is helper
    assert getattr(helper, "USERS", None) == [loader.photons["first"].module_name]


HELPER_TAKEN = threading.Event()

TAKES_THE_HELPER_THEN_WAITS_FOR_A_TO_GO = """
import sys
import time
import helpers
from tests.test_helper_ownership import HELPER_TAKEN

HELPER_TAKEN.set()
deadline = time.monotonic() + 10
while any("_a_" in name for name in list(sys.modules)):
    if time.monotonic() > deadline:
        raise TimeoutError("a was never unloaded")
    time.sleep(0.001)
from luminal import IPhoton

class Photon(IPhoton, name="b"):
    helper = helpers
"""


async def test_a_neighbour_unloaded_while_a_load_imports_leaves_it_its_helper(
    loader: Loader, write_photon: WritePhoton
) -> None:
    HELPER_TAKEN.clear()
    write_photon("helpers.py", HELPER.format(version=1))
    await loader.load_photon(write_photon("a.py", SHARES_HELPERS.format(name="a")))
    helper = sys.modules["helpers"]
    load = asyncio.ensure_future(
        loader.load_photon(write_photon("b.py", TAKES_THE_HELPER_THEN_WAITS_FOR_A_TO_GO))
    )
    await wait_for(HELPER_TAKEN.is_set)

    assert await loader.unload_photon("a", force_stop=True) is True
    await load

    assert getattr(loader.photons["b"].photon_class, "helper", None) is helper
    assert sys.modules.get("helpers") is helper
    assert await loader.unload_photon("b", force_stop=True) is True
    assert "helpers" not in sys.modules
