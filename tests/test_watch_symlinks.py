"""Watching follows symlinks as the tree spells them: a directory swapped for a link, and a
photon file that is a link (``ln -sfn`` deploys, dotfile managers) re-pointed or removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from luminal import Loader
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greeter, greetings, wait_for


async def test_a_directory_replaced_by_a_symlink_unloads_the_photons_it_held(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("sub/gone.py", greeter("gone", name="gone"))
    write_photon("lib/kept.py", greeter("kept", name="kept"))
    await watching.watch_photons(photon_dir, debounce=0.01)
    shutil.rmtree(photon_dir / "sub")
    (photon_dir / "sub").symlink_to("lib")
    await wait_for(lambda: "gone" not in watching.photons)
    assert greetings(watching) == ["kept ada"]
    assert recorder.errors == []


async def test_a_photon_symlink_re_pointed_runs_its_new_target(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon(".releases/one.py", greeter("one"))
    write_photon(".releases/two.py", greeter("two"))
    link = photon_dir / "greeter.py"
    link.symlink_to(".releases/one.py")
    await watching.watch_photons(photon_dir, debounce=0.01)
    assert greetings(watching) == ["one ada"]
    staged = photon_dir / ".greeter.py.new"
    staged.symlink_to(".releases/two.py")
    os.replace(staged, link)  # ln -sfn's atomic re-point
    await wait_for(lambda: greetings(watching) == ["two ada"])
    assert recorder.errors == []


async def test_a_removed_photon_symlink_unloads_its_photon(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon(".releases/one.py", greeter("one"))
    write_photon("other.py", greeter("other", name="other"))
    link = photon_dir / "greeter.py"
    link.symlink_to(".releases/one.py")
    await watching.watch_photons(photon_dir, debounce=0.01)
    link.unlink()
    await wait_for(lambda: greetings(watching) == ["other ada"])
