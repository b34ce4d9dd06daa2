"""How real editors save: atomic renames, several writes, bursts, touch, vim's backup dance."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from luminal import Loader
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import (
    greeter,
    greetings,
    replace_atomically,
    wait_for,
)


async def test_atomic_save_is_reloaded_once(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    replace_atomically(path, greeter("howdy"))
    await wait_for(lambda: greetings(watching) == ["howdy ada"])
    assert len(recorder.reloaded) == 1
    assert recorder.unloaded == []
    assert list(watching.photons) == ["greeter"]


async def test_save_in_several_writes_ends_on_the_final_content(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    final = greeter("written in pieces")
    with path.open("w") as stream:
        for start in range(0, len(final), 16):
            stream.write(final[start : start + 16])
            stream.flush()
            os.fsync(stream.fileno())
    await wait_for(lambda: greetings(watching) == ["written in pieces ada"])
    assert watching.photons["greeter"].started


async def test_burst_of_saves_ends_on_the_last_one(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    for number in range(30):
        path.write_text(greeter(f"save {number}"))
    await wait_for(lambda: greetings(watching) == ["save 29 ada"])


async def test_touch_without_change_does_not_reload(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    touched = write_photon("touched.py", greeter("same", name="touched"))
    edited = write_photon("edited.py", greeter("before", name="edited"))
    await watching.watch_photons(photon_dir)
    touched.touch()
    touched.write_text(touched.read_text())
    # Changes are applied in order, so once the later edit is live the touch was handled.
    edited.write_text(greeter("after", name="edited"))
    await wait_for(lambda: greetings(watching) == ["after ada", "same ada"])
    assert [new.name for _, new in recorder.reloaded] == ["edited"]


async def test_vim_style_save_with_backup_file(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    backup = path.with_name(path.name + "~")
    path.rename(backup)
    path.write_text(greeter("vim"))
    backup.unlink()
    await wait_for(lambda: greetings(watching) == ["vim ada"])
    assert list(watching.photons) == ["greeter"]
    assert not recorder.errors


async def test_temporary_and_hidden_files_are_ignored(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    await watching.watch_photons(photon_dir)
    broken = "this would fail to import\n"
    for name in (
        ".#greeter.py",
        ".hidden.py",
        "greeter.py~",
        "greeter.py.swp",
        "greeter.py.tmp",
        "__pycache__/cached.py",
        ".git/hook.py",
    ):
        write_photon(name, broken)
    write_photon("sentinel.py", greeter("sentinel", name="sentinel"))
    await wait_for(lambda: greetings(watching) == ["sentinel ada"])
    assert list(watching.photons) == ["sentinel"]
    assert not recorder.errors


HELPER_USER = """
    import helpers
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return helpers.WORD + " from {name} " + who

        async def finalize(self):
            pass
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
async def test_git_checkout_between_branches_ends_in_step_with_each_branch(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    # A branch switch deletes, creates and rewrites files at once: here a user of a helper is
    # renamed, another deleted, a package and the helper they share changed.
    def git(*arguments: str) -> None:
        subprocess.run(["git", "-C", str(photon_dir), *arguments], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "ada@example.com")
    git("config", "user.name", "Ada")
    write_photon("helpers.py", "WORD = 'one'\n")
    write_photon("a.py", HELPER_USER.format(name="a"))
    write_photon("b.py", HELPER_USER.format(name="b"))
    write_photon("pkg/__init__.py", HELPER_USER.format(name="pkg"))
    git("add", ".")
    git("commit", "-qm", "one")
    git("checkout", "-qb", "two")
    git("mv", "a.py", "c.py")
    git("rm", "-q", "b.py")
    write_photon("helpers.py", "WORD = 'two'\n")
    write_photon("pkg/__init__.py", HELPER_USER.format(name="pkg2"))
    git("add", "-A")
    git("commit", "-qm", "two")
    git("checkout", "-q", "-")
    await watching.watch_photons(photon_dir)
    on_one = ["one from a ada", "one from b ada", "one from pkg ada"]
    on_two = ["two from a ada", "two from pkg2 ada"]
    assert greetings(watching) == on_one

    for _ in range(3):
        git("checkout", "-q", "two")
        await wait_for(lambda: greetings(watching) == on_two)
        git("checkout", "-q", "-")
        await wait_for(lambda: greetings(watching) == on_one)
    assert recorder.errors == []
