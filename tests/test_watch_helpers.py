"""A changed helper module reloads, in one atomic step, every photon that imports it."""

from __future__ import annotations

import hashlib
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from luminal import Loader, PhotonLoadError, PhotonReloadError
from luminal.managers import watching as watching_module
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


def greetings_meanwhile(loader: Loader) -> list[str] | None:
    """The greetings, or ``None`` while a photon runs a helper that the watch read mid-write
    (created, its ``WORD`` not written yet): what the disk said then, until the write lands."""
    try:
        return greetings(loader)
    except AttributeError:
        return None


@pytest.mark.parametrize("helper_file", ["helpers.py", "helpers/__init__.py"])
async def test_a_helper_touched_or_saved_unchanged_reloads_none_of_its_users(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    helper_file: str,
) -> None:
    """As a photon file's, right after the tree loaded: the watch compares the helper (a
    package's every file) with what its users run."""
    helper = write_photon(helper_file, "WORD = 'hi'\nOTHER = 'yo'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    edited = write_photon("two.py", USER.format(name="two", attribute="OTHER"))
    await watching.watch_photons(photon_dir)
    helper.touch()
    helper.write_text(helper.read_text())
    # Changes are applied in order, so once the later edit is live the save was handled.
    edited.write_text(textwrap.dedent(USER.format(name="two", attribute="WORD")))
    await wait_for(lambda: greetings(watching) == ["hi from one ada", "hi from two ada"])
    await wait_for(lambda: not still_applying(watching))
    assert [new.name for _, new in recorder.reloaded] == ["two"]


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


async def test_helper_change_beside_a_deleted_user_reloads_the_users_still_there(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    # A branch switch (``git checkout``): one user of the helper goes, the helper changes. The
    # user still in its re-creation grace delay must not fail the others' reload.
    helper = write_photon("helpers.py", "WORD = 'hi'\nOTHER = 'yo'\n")
    leaving = write_photon("one.py", USER.format(name="one", attribute="WORD"))
    write_photon("two.py", USER.format(name="two", attribute="OTHER"))
    await watching.watch_photons(photon_dir)

    leaving.unlink()
    helper.write_text("WORD = 'hello'\nOTHER = 'hey'\n")
    await wait_for(lambda: greetings(watching) == ["hey from two ada"])
    assert recorder.errors == []
    assert [old.name for old, _ in recorder.reloaded] == ["two"]


async def test_user_back_unchanged_after_its_helper_changed_runs_the_new_helper(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watching_module, "RECREATE_GRACE", 5.0)  # a slow machine is no race
    helper = write_photon("helpers.py", "WORD = 'hi'\n")
    user = USER.format(name="one", attribute="WORD")
    leaving = write_photon("one.py", user)
    await watching.watch_photons(photon_dir, debounce=0.01)
    watch = watching._watch
    assert watch is not None

    leaving.unlink()
    await wait_for(lambda: leaving in watch.vanishing)
    helper.write_text("WORD = 'hello'\n")
    new_checksum = hashlib.sha512(helper.read_bytes()).hexdigest()
    await wait_for(lambda: watch.helpers.checksums.get(helper) == new_checksum)
    write_photon("one.py", user)  # back as it was: its helper is not
    await wait_for(lambda: greetings(watching) == ["hello from one ada"])
    assert recorder.errors == []
    assert recorder.unloaded == []


async def test_helper_changed_while_no_photon_used_it_is_compared_with_what_runs_later(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    # Switching between branches: the helper's users go, it changes back, new users load it
    # from disk; its next change must still reach them.
    helper = write_photon("helpers.py", "WORD = 'one'\n")
    user = write_photon("a.py", USER.format(name="a", attribute="WORD"))
    await watching.watch_photons(photon_dir)
    helper.write_text("WORD = 'two'\n")
    await wait_for(lambda: greetings(watching) == ["two from a ada"])

    user.unlink()
    await wait_for(lambda: greetings(watching) == [])
    helper.write_text("WORD = 'one'\n")
    write_photon("b.py", USER.format(name="b", attribute="WORD"))
    await wait_for(lambda: greetings(watching) == ["one from b ada"])

    helper.write_text("WORD = 'two'\n")
    await wait_for(lambda: greetings(watching) == ["two from b ada"])


async def test_photon_that_starts_using_a_changed_helper_gets_its_new_version(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    # One change (a branch switch): "two" now imports helpers, which changed too. Reloaded
    # before helpers' users, it would take the old helpers that they still held.
    helper = write_photon("helpers.py", "WORD = 'one'\n")
    write_photon("other.py", "WORD = 'other'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    switching = write_photon(
        "two.py", USER.format(name="two", attribute="WORD").replace("helpers", "other")
    )
    await watching.watch_photons(photon_dir, debounce=0.2)
    assert greetings(watching) == ["one from one ada", "other from two ada"]

    switching.write_text(textwrap.dedent(USER.format(name="two", attribute="WORD")))
    helper.write_text("WORD = 'two'\n")
    await wait_for(lambda: greetings(watching) == ["two from one ada", "two from two ada"])


async def test_changed_helper_whose_users_are_away_runs_anew_for_its_next_user(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watching_module, "RECREATE_GRACE", 5.0)  # a slow machine is no race
    helper = write_photon("helpers.py", "WORD = 'one'\n")
    write_photon("other.py", "WORD = 'other'\n")
    leaving = write_photon("one.py", USER.format(name="one", attribute="WORD"))
    switching = write_photon(
        "two.py", USER.format(name="two", attribute="WORD").replace("helpers", "other")
    )
    await watching.watch_photons(photon_dir, debounce=0.01)
    watch = watching._watch
    assert watch is not None

    leaving.unlink()
    await wait_for(lambda: leaving in watch.vanishing)
    helper.write_text("WORD = 'two'\n")
    switching.write_text(textwrap.dedent(USER.format(name="two", attribute="WORD")))
    await wait_for(lambda: greetings(watching) == ["one from one ada", "two from two ada"])


async def test_helper_package_reimports_as_a_whole_whichever_of_its_files_changes(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    # A helper package is one helper: its __init__.py changing alone must not leave the
    # package running with a submodule that changed before (here while the package was broken).
    init = write_photon("words/__init__.py", "from .base import BASE\nWORD = BASE + ' one'\n")
    base = write_photon("words/base.py", "BASE = 'old'\n")
    write_photon("user.py", USER.format(name="user", attribute="WORD").replace("helpers", "words"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["old one from user ada"]

    def user_failures() -> int:
        return sum(path.endswith("user.py") for path, _ in recorder.errors)

    init.write_text("from .base import BASE\nWORD = BASE + ' one'\ndef broken(:\n")
    await wait_for(lambda: user_failures() == 1)
    base.write_text("BASE = 'new'\n")
    await wait_for(lambda: user_failures() == 2)
    init.write_text("from .base import BASE\nWORD = BASE + ' two'\n")
    await wait_for(lambda: any(" two " in greeting for greeting in greetings(watching)))
    assert greetings(watching) == ["new two from user ada"]


async def test_users_held_back_by_a_broken_user_run_the_new_helper_once_it_is_fixed(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    # A branch switch brings a changed helper and a user with a syntax error: the helper's
    # users keep their versions (one atomic reload), until the broken user is fixed.
    helper = write_photon("helpers.py", "WORD = 'old'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    two = write_photon("two.py", USER.format(name="two", attribute="WORD"))
    await watching.watch_photons(photon_dir)

    two.write_text(textwrap.dedent(USER.format(name="two", attribute="WORD")) + "def broken(:\n")
    await wait_for(lambda: len(recorder.errors) == 1)
    helper.write_text("WORD = 'new'\n")
    await wait_for(lambda: len(recorder.errors) == 2)
    assert greetings(watching) == ["old from one ada", "old from two ada"]

    two.write_text(textwrap.dedent(USER.format(name="two", attribute="WORD")))
    await wait_for(lambda: greetings(watching) == ["new from one ada", "new from two ada"])


async def test_deleted_helper_is_not_taken_by_a_new_photon_and_its_return_reaches_every_user(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    # A branch switch turns helpers.py into a helpers/ package and adds a user: while the
    # helper is away, its user's reload fails and the new user's load must fail too (not take
    # the deleted copy that the failed reload keeps running); both run the package once it is
    # there.
    helper = write_photon("helpers.py", "WORD = 'old'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["old from one ada"]

    helper.unlink()
    write_photon("two.py", USER.format(name="two", attribute="WORD"))
    await wait_for(
        lambda: any(
            isinstance(e, PhotonLoadError) and "two.py" in str(e) for _, e in recorder.errors
        )
    )
    assert greetings(watching) == ["old from one ada"]

    write_photon("helpers/__init__.py", "WORD = 'new'\n")
    await wait_for(
        lambda: greetings_meanwhile(watching) == ["new from one ada", "new from two ada"]
    )


FROM_USER = """
    from helpers import WORD
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return WORD + " from {name} " + who

        async def finalize(self):
            pass
"""


async def test_helper_change_reloads_every_photon_that_imports_a_plain_value_from_it(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    # Only the first user's import runs the helper; the second keeps a str, no module.
    helper = write_photon("helpers.py", "WORD = 'hi'\n")
    write_photon("one.py", FROM_USER.format(name="one"))
    write_photon("two.py", FROM_USER.format(name="two"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["hi from one ada", "hi from two ada"]

    helper.write_text("WORD = 'hello'\n")
    await wait_for(lambda: greetings(watching) == ["hello from one ada", "hello from two ada"])


@pytest.mark.parametrize("new_helper", ["helpers/__init__.py", "sub/helpers.py"])
async def test_new_helper_that_takes_the_name_reloads_the_photons_it_shadows_for(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, new_helper: str
) -> None:
    # A package beats a module of the same name; a sub-directory's helper beats the tree's.
    write_photon("helpers.py", "WORD = 'module'\n")
    write_photon("sub/one.py", USER.format(name="one", attribute="WORD"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["module from one ada"]

    write_photon(new_helper, "WORD = 'closer'\n")
    await wait_for(lambda: greetings_meanwhile(watching) == ["closer from one ada"])


async def test_photon_that_fell_back_on_a_missing_helper_reloads_when_it_comes(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon(
        "one.py",
        USER.format(name="one", attribute="WORD").replace(
            "import helpers\n",
            "try:\n        import helpers\n    except ImportError:\n"
            "        import types\n        helpers = types.SimpleNamespace(WORD='fallback')\n",
        ),
    )
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["fallback from one ada"]

    write_photon("helpers.py", "WORD = 'arrived'\n")
    await wait_for(lambda: greetings_meanwhile(watching) == ["arrived from one ada"])


@pytest.mark.parametrize("spelling", ["import nsdir.extra as extra", "from nsdir import extra"])
async def test_photon_that_fell_back_on_a_missing_namespace_helper_reloads_when_it_comes(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    spelling: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``nsdir`` has no ``__init__.py``: its users sit above it and name it by its top name."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the photon puts its directory first
    write_photon("nsdir/other.py", "WORD = 'other'\n")
    write_photon(
        "one.py",
        USER.format(name="one", attribute="WORD").replace(
            "import helpers\n",
            "import os, sys\n    sys.path.insert(0, os.path.dirname(__file__))\n"
            f"    try:\n        {spelling}\n    except ImportError:\n"
            "        import types\n        extra = types.SimpleNamespace(WORD='fallback')\n"
            "    helpers = extra\n",
        ),
    )
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["fallback from one ada"]

    write_photon("nsdir/extra.py", "WORD = 'arrived'\n")
    await wait_for(lambda: greetings_meanwhile(watching) == ["arrived from one ada"])


async def test_a_helper_deleted_from_one_watched_tree_is_never_replaced_by_another_tree_s(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    # `luminal run first second`, both with a helpers.py: deleting first's (a branch without
    # it) fails its user's reload; it keeps running first's old helper, not second's.
    first, second = trees
    for tree, word in ((first, "one"), (second, "two")):
        (tree / "helpers.py").write_text(f"WORD = {word!r}\n")
        (tree / f"user_{tree.name}.py").write_text(
            textwrap.dedent(USER.format(name=tree.name, attribute="WORD"))
        )
    await watching.watch_photons(second, more_directories=[first])
    assert greetings(watching) == ["one from first ada", "two from second ada"]

    (first / "helpers.py").unlink()
    await wait_for(lambda: any(isinstance(e, PhotonReloadError) for _, e in recorder.errors))
    assert greetings(watching) == ["one from first ada", "two from second ada"]

    (first / "helpers.py").write_text("WORD = 'back'\n")
    await wait_for(
        lambda: greetings_meanwhile(watching) == ["back from first ada", "two from second ada"]
    )


async def test_a_helper_deleted_then_recreated_within_the_grace_delay_fails_nothing(
    watching: Loader,
    photon_dir: Path,
    write_photon: WritePhoton,
    recorder: EventRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A safe-write with a gap (delete, then write anew), as photon files get: the users'
    # reload waits for the grace delay rather than fail on the helper being away meanwhile.
    monkeypatch.setattr(watching_module, "RECREATE_GRACE", 5.0)  # a slow machine is no race
    helper = write_photon("helpers.py", "WORD = 'old'\n")
    write_photon("one.py", USER.format(name="one", attribute="WORD"))
    write_photon("sub/two.py", USER.format(name="two", attribute="WORD"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    watch = watching._watch
    assert watch is not None

    helper.unlink()
    await wait_for(lambda: helper in watch.vanishing and watch.worker and watch.worker.done())
    assert recorder.errors == []
    assert greetings(watching) == ["old from one ada", "old from two ada"]

    helper.write_text("WORD = 'new'\n")
    await wait_for(
        lambda: greetings_meanwhile(watching) == ["new from one ada", "new from two ada"]
    )
    assert recorder.errors == []
    assert sorted(new.name for _, new in recorder.reloaded) == ["one", "two"]


def still_applying(loader: Loader) -> bool:
    """Whether changes wait for their debounce delay (or their writer's close) or are applied."""
    watch = loader._watch
    assert watch is not None
    return bool(watch.pending) or (watch.worker is not None and not watch.worker.done())


@pytest.mark.parametrize("arrival", ["copied", "moved"])
async def test_a_plugin_folder_brought_into_the_tree_starts_each_photon_once(
    watching: Loader, photon_dir: Path, tmp_path: Path, recorder: EventRecorder, arrival: str
) -> None:
    # `cp -r new_plugin plugins/` or `mv new_plugin plugins/`: its photons load with the
    # helper beside them, which they already run; neither the helper's arrival nor its files'
    # late events reload them.
    folder = tmp_path / "new_plugin"
    folder.mkdir()
    (folder / "helpers.py").write_text("WORD = 'new'\n")
    for name in ("ant", "bee"):  # imported before helpers.py is loaded
        (folder / f"{name}.py").write_text(
            textwrap.dedent(USER.format(name=name, attribute="WORD"))
        )
    await watching.watch_photons(photon_dir)

    if arrival == "copied":
        shutil.copytree(folder, photon_dir / "new_plugin")
    else:
        folder.rename(photon_dir / "new_plugin")
    await wait_for(lambda: greetings(watching) == ["new from ant ada", "new from bee ada"])
    await wait_for(lambda: not still_applying(watching))
    assert recorder.reloaded == []
    assert sorted(handler.name for handler in recorder.started) == ["ant", "bee"]
    assert recorder.errors == []


async def test_a_new_photon_at_the_top_imports_the_top_helper_not_a_sub_directory_s(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    # sub/helpers.py shadows the tree's helpers.py for sub/'s photons only, also for a photon
    # created at the top once a sub-directory's photon ran last.
    write_photon("helpers.py", "WORD = 'top'\n")
    write_photon("sub/helpers.py", "WORD = 'sub'\n")
    write_photon("sub/inner.py", USER.format(name="inner", attribute="WORD"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["sub from inner ada"]

    write_photon("outer.py", USER.format(name="outer", attribute="WORD"))
    await wait_for(lambda: len(greetings(watching)) == 2)
    assert greetings(watching) == ["sub from inner ada", "top from outer ada"]
