"""``luminal check`` for CI: the trust policy and lock of ``luminal run``, missing finalizers,
and with ``--start`` a real start and finalize of each photon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from luminal import cli
from luminal.testing import WritePhoton
from tests.test_cli import run_cli

NOBODY = 65534

GOOD = """
    from pathlib import Path

    from luminal import IPhoton, hookimpl

    class Good(IPhoton, name="good"):
        @hookimpl
        def photon_start(self):
            Path(__file__ + ".started").touch()

        async def finalize(self):
            Path(__file__ + ".finalized").touch()
"""

INIT_RAISES = """
    from luminal import IPhoton

    class Fragile(IPhoton, name="fragile"):
        def __init__(self):
            raise OSError("address already in use")

        async def finalize(self):
            pass
"""

START_RAISES = """
    from luminal import IPhoton, hookimpl

    class Fragile(IPhoton, name="fragile"):
        @hookimpl
        def photon_start(self):
            raise KeyError("token")

        async def finalize(self):
            pass
"""

FINALIZE_RAISES = """
    from luminal import IPhoton

    class Fragile(IPhoton, name="fragile"):
        async def finalize(self):
            raise RuntimeError("socket already closed")
"""

NO_FINALIZER = """
    from luminal import IPhoton

    class Careless(IPhoton, name="careless"):
        pass
"""


def test_check_refuses_a_file_other_users_can_write_as_run_does(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("good.py", GOOD)
    path.chmod(0o666)
    code, out, err = run_cli(capsys, "check", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert out == ""
    assert str(path) in err.splitlines()[0]
    assert "writable" in err.splitlines()[0]

    code, out, _ = run_cli(capsys, "check", "--no-trust", str(photon_dir))
    assert (code, out) == (cli.EXIT_OK, "ok: 1 photon checked\n")


def test_check_refuses_a_file_of_another_owner(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = write_photon("good.py", GOOD)
    os.chown(path, NOBODY, NOBODY)
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_FAILURE
    assert str(path) in err


def test_check_applies_the_lock_found_in_the_directory(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("good.py", GOOD)
    assert cli.main(["lock", str(photon_dir)]) == cli.EXIT_OK
    capsys.readouterr()
    code, out, err = run_cli(capsys, "check", str(photon_dir))
    assert err == ""
    assert (code, out) == (cli.EXIT_OK, "ok: 1 photon checked\n")

    path.write_text(path.read_text() + "# edited after the lock\n")
    unpinned = write_photon("new.py", NO_FINALIZER)
    for target in (photon_dir, path):
        code, _, err = run_cli(capsys, "check", str(target))
        assert code == cli.EXIT_FAILURE
        assert str(path) in err
    code, _, err = run_cli(capsys, "check", str(unpinned))
    assert code == cli.EXIT_FAILURE
    assert str(unpinned) in err
    code, _, _ = run_cli(capsys, "check", "--no-trust", str(photon_dir))
    assert code == cli.EXIT_OK


def test_check_with_an_unusable_lock_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path, tmp_path: Path
) -> None:
    write_photon("good.py", GOOD)
    missing = tmp_path / "missing.lock"
    code, _, err = run_cli(capsys, "check", "--lock", str(missing), str(photon_dir))
    assert code == cli.EXIT_USAGE
    assert f"cannot use lock file {missing}" in err
    code, _, err = run_cli(capsys, "check", "--no-trust", "--lock", str(missing), str(photon_dir))
    assert code == cli.EXIT_USAGE
    assert "contradict" in err


def test_check_warns_about_a_missing_finalizer(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("careless.py", NO_FINALIZER)
    code, out, err = run_cli(capsys, "check", str(path))
    assert (code, out) == (cli.EXIT_OK, "ok: 1 photon checked\n")
    assert err.splitlines() == [
        f"luminal: warning: {path}: photon 'careless' implements no finalize(); unloading it "
        "force-stops what it started"
    ]


def test_check_without_start_never_starts_a_photon(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("good.py", GOOD)
    code, _, _ = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_OK
    assert not Path(f"{path}.started").exists()


def test_check_start_starts_and_finalizes_each_photon(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("good.py", GOOD)
    code, out, err = run_cli(capsys, "check", "--start", str(path))
    assert (code, out, err) == (cli.EXIT_OK, "ok: 1 photon checked (started and finalized)\n", "")
    assert Path(f"{path}.started").exists()
    assert Path(f"{path}.finalized").exists()


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        (INIT_RAISES, 6, "OSError: address already in use"),
        (START_RAISES, 7, "KeyError: 'token'"),
        (FINALIZE_RAISES, 6, "RuntimeError: socket already closed"),
    ],
    ids=["__init__", "photon_start", "finalize"],
)
def test_check_start_reports_a_photon_that_fails_to_start_or_finalize(
    capsys: pytest.CaptureFixture[str],
    write_photon: WritePhoton,
    photon_dir: Path,
    source: str,
    line: int,
    expected: str,
) -> None:
    path = write_photon("fragile.py", source)
    write_photon("good.py", GOOD)
    code, _, _ = run_cli(capsys, "check", str(photon_dir))
    assert code == cli.EXIT_OK  # importing and validating finds nothing wrong

    code, out, err = run_cli(capsys, "check", "--start", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert out == ""
    assert err.splitlines() == [
        f"luminal: error: {path}:{line}: {expected}",
        "luminal: 1 problem found",
    ]
    assert Path(photon_dir / "good.py.finalized").exists()  # the others still ran


@pytest.mark.parametrize("command", ["run", "lock"])
def test_a_file_given_for_a_directory_is_named_a_file(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, tmp_path: Path, command: str
) -> None:
    path = write_photon("good.py", GOOD)
    code, _, err = run_cli(capsys, command, str(path))
    assert code == cli.EXIT_USAGE
    assert err.splitlines() == [f"luminal: error: {path}: is a file, not a directory"]
    missing = tmp_path / "nowhere"
    code, _, err = run_cli(capsys, command, str(missing))
    assert code == cli.EXIT_USAGE
    assert err.splitlines()[-1] == f"luminal: error: {missing}: no such directory"


def test_check_start_reports_a_plain_thread_left_running(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    release = write_photon("release.txt", "")
    path = write_photon(
        "spinner.py",
        f"""
        import threading
        import time
        from pathlib import Path

        from luminal import IPhoton, hookimpl

        def spin():
            while Path({str(release)!r}).exists():
                time.sleep(0.01)

        class Spinner(IPhoton, name="spinner"):
            @hookimpl
            def photon_start(self):
                threading.Thread(target=spin, name="spinner-worker", daemon=True).start()

            async def finalize(self):
                pass
        """,
    )
    try:
        code, _, err = run_cli(capsys, "check", "--start", str(path))
    finally:
        release.unlink()
    assert code == cli.EXIT_FAILURE
    assert "thread spinner-worker (a threading.Thread started by the photon's code" in err


def test_check_of_a_package_applies_the_lock_of_its_directory(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    """A package's ``__init__.py`` checks the package, against the lock of the tree holding it
    (where ``luminal run`` of that tree finds the lock)."""
    module = write_photon("toolkit/__init__.py", GOOD)
    assert cli.main(["lock", str(photon_dir)]) == cli.EXIT_OK
    capsys.readouterr()
    code, _, _ = run_cli(capsys, "check", str(module))
    assert code == cli.EXIT_OK
    module.write_text(module.read_text() + "# edited after the lock\n")
    for path in (module, photon_dir):
        code, _, err = run_cli(capsys, "check", str(path))
        assert code == cli.EXIT_FAILURE
        assert "lock" in err


def test_check_reads_a_package_directory_as_the_tree_run_reads(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    """``luminal run PKG`` runs no photon of the package's ``__init__.py`` (a tree's own
    ``__init__.py`` is no source of it), so ``luminal check PKG`` cannot pass it."""
    package = write_photon("toolkit/__init__.py", "\n    from . import words" + GOOD).parent
    write_photon("toolkit/words.py", "WORD = 'hello'\n")
    code, out, err = run_cli(capsys, "check", str(package))
    assert code == cli.EXIT_FAILURE
    assert out == ""
    assert f"{package}: no photon found" in err
    assert f"warning: {package} is a package: " in err
    code, out, err = run_cli(capsys, "check", str(photon_dir))
    assert err == ""
    assert (code, out) == (cli.EXIT_OK, "ok: 1 photon checked\n")


def test_check_refuses_overlapping_directories_as_run_does(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("nested/good.py", GOOD)
    for command in ("check", "run"):
        code, _, err = run_cli(capsys, command, str(photon_dir), str(photon_dir / "nested"))
        assert code == cli.EXIT_USAGE
        assert "overlaps" in err


def test_check_start_of_a_file_with_several_photons_starts_and_finalizes_each(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon(
        "pair.py",
        """
        from pathlib import Path

        from luminal import IPhoton, hookimpl

        class First(IPhoton, name="first"):
            @hookimpl
            def photon_start(self):
                raise ValueError("first fails")

            async def finalize(self):
                pass

        class Second(IPhoton, name="second"):
            async def finalize(self):
                Path(__file__ + ".second-finalized").touch()
        """,
    )
    code, out, err = run_cli(capsys, "check", "--start", str(path))
    assert code == cli.EXIT_FAILURE
    assert out == ""
    assert err.splitlines() == [
        f"luminal: error: {path}:9: ValueError: first fails",
        "luminal: 1 problem found",
    ]
    assert Path(f"{path}.second-finalized").exists()
