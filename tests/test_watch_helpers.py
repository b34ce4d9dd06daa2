"""A changed helper module reloads, in one atomic step, every photon that imports it."""

from __future__ import annotations

from pathlib import Path

from luminal import Loader, PhotonReloadError
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greetings, wait_for

USER = """
    import helpers
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return helpers.{attribute} + " from {name} " + who

        async def finalize(self):
            pass
"""

PACKAGE_INIT = """
    from luminal import IPhoton, hookimpl
    from .words import WORD

    class Photon(IPhoton, name="pkg"):
        @hookimpl
        def greet(self, who):
            return WORD + " " + who

        async def finalize(self):
            pass
"""


async def test_helper_change_reloads_every_photon_that_imports_it(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    helper = write_photon("helpers.py", "WORD = 'hi'\nOTHER = 'yo'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    write_photon("two.py", USER.format(name="two", attribute="OTHER"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["hi from one ada", "yo from two ada"]

    helper.write_text("WORD = 'hello'\nOTHER = 'hey'\n")
    await wait_for(lambda: greetings(watching) == ["hello from one ada", "hey from two ada"])
    assert sorted(new.name for _, new in recorder.reloaded) == ["one", "two"]


async def test_helper_change_that_breaks_one_user_keeps_every_user_as_it_was(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    helper = write_photon("helpers.py", "WORD = 'hi'\nOTHER = 'yo'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    write_photon("two.py", USER.format(name="two", attribute="OTHER"))
    write_photon(
        "uses_missing.py",
        USER.format(name="three", attribute="WORD").replace(
            "import helpers", "import helpers\n    helpers.OTHER.upper()"
        ),
    )
    await watching.watch_photons(photon_dir)

    helper.write_text("WORD = 'changed'\n")
    await wait_for(lambda: any(isinstance(e, PhotonReloadError) for _, e in recorder.errors))
    assert greetings(watching) == ["hi from one ada", "hi from three ada", "yo from two ada"]
    assert recorder.reloaded == []

    helper.write_text("WORD = 'fixed'\nOTHER = 'fine'\n")
    await wait_for(
        lambda: (
            greetings(watching)
            == ["fine from two ada", "fixed from one ada", "fixed from three ada"]
        )
    )


async def test_module_of_a_photon_package_reloads_the_package(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("pkg/__init__.py", PACKAGE_INIT)
    words = write_photon("pkg/words.py", "WORD = 'old'\n")
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["old ada"]
    words.write_text("WORD = 'new'\n")
    await wait_for(lambda: greetings(watching) == ["new ada"])


async def test_photon_waiting_for_a_missing_helper_loads_once_it_appears(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    await watching.watch_photons(photon_dir)
    assert recorder.errors
    write_photon("helpers.py", "WORD = 'at last'\n")
    await wait_for(lambda: greetings(watching) == ["at last from one ada"])
