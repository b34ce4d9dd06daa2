"""``luminal lock`` and ``luminal list`` of installed photons, called through ``main``."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest

from luminal import cli
from luminal.testing import WritePhoton
from luminal.trust import LOCK_FILE_NAME, read_lock
from tests.distributions import install_distribution
from tests.test_cli import run_cli

PHOTON = """
    from luminal import IPhoton

    class Photon(IPhoton, name={name!r}, author="Ada", version="2.0"):
        async def finalize(self):
            pass
"""


def test_lock_pins_every_photon_source_and_says_how_many(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    greeter = write_photon("greeter.py", PHOTON.format(name="greeter"))
    nested = write_photon("nested/inner.py", PHOTON.format(name="inner"))
    package = write_photon("pkg/__init__.py", PHOTON.format(name="pkg")).parent
    code, out, err = run_cli(capsys, "lock", str(photon_dir))
    assert (code, err) == (cli.EXIT_OK, "")
    lock = photon_dir / LOCK_FILE_NAME
    assert out == f"wrote {lock}: 3 photon sources pinned\n"
    pins = read_lock(lock)
    assert set(pins) == {greeter, nested, package}
    assert pins[greeter] == hashlib.sha512(greeter.read_bytes()).hexdigest()


def test_lock_output_writes_the_lock_elsewhere(
    capsys: pytest.CaptureFixture[str],
    write_photon: WritePhoton,
    photon_dir: Path,
    tmp_path: Path,
) -> None:
    write_photon("greeter.py", PHOTON.format(name="greeter"))
    target = tmp_path / "pins" / "photons.lock"
    target.parent.mkdir()
    code, out, _ = run_cli(capsys, "lock", str(photon_dir), "--output", str(target))
    assert code == cli.EXIT_OK
    assert out == f"wrote {target}: 1 photon source pinned\n"
    assert list(read_lock(target)) == [photon_dir / "greeter.py"]
    assert not (photon_dir / LOCK_FILE_NAME).exists()


def test_lock_of_a_missing_directory_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "lock", str(tmp_path / "missing"))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err == f"luminal: error: {tmp_path / 'missing'}: no such directory\n"


def test_lock_into_a_missing_directory_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], photon_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / LOCK_FILE_NAME
    code, out, err = run_cli(capsys, "lock", str(photon_dir), "--output", str(target))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err == f"luminal: error: {target.parent}: no such directory\n"


def test_list_without_a_directory_lists_the_installed_photons(
    capsys: pytest.CaptureFixture[str], site_dir: Path
) -> None:
    install_distribution(
        site_dir,
        "hello-photons",
        {"hello": "hello_photon:Photon"},
        {"hello_photon.py": PHOTON.format(name="hello")},
        version="3.1",
    )
    code, out, err = run_cli(capsys, "list")
    assert (code, err) == (cli.EXIT_OK, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "VERSION", "AUTHOR", "REQUIRES", "SOURCE", "PATH"]
    assert rows[1] == [
        "hello",
        "2.0",
        "Ada",
        "-",
        "hello-photons",
        "3.1",
        str(site_dir / "hello_photon.py"),
    ]

    code, out, _ = run_cli(capsys, "list", "--json")
    [record] = json.loads(out)
    assert record["source"] == "distribution"
    assert (record["distribution"], record["entry_point"]) == ("hello-photons", "hello")


def test_list_group_picks_the_entry_point_group(
    capsys: pytest.CaptureFixture[str], site_dir: Path
) -> None:
    install_distribution(
        site_dir,
        "other-photons",
        {"other": "other_photon:Photon"},
        {"other_photon.py": PHOTON.format(name="other")},
        group="acme.photons",
    )
    code, out, _ = run_cli(capsys, "list", "--group", "acme.photons")
    assert code == cli.EXIT_OK
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "other"]
    code, out, _ = run_cli(capsys, "list", "--group", "acme.nothing")
    assert (code, out) == (cli.EXIT_OK, "no photons found\n")


def test_list_reports_a_broken_installed_photon_and_lists_the_others(
    capsys: pytest.CaptureFixture[str], site_dir: Path
) -> None:
    install_distribution(
        site_dir,
        "mixed-photons",
        {"good": "good_photon:Photon", "bad": "bad_photon:Photon"},
        {
            "good_photon.py": PHOTON.format(name="good"),
            "bad_photon.py": "raise RuntimeError('broken on import')\n",
        },
    )
    code, out, err = run_cli(capsys, "list")
    assert code == cli.EXIT_FAILURE
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "good"]
    [line] = err.splitlines()
    assert line.startswith("luminal: error: ")
    assert "bad" in line
    assert "broken on import" in line


def test_lock_where_no_lock_file_can_be_read_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Luminal reads no file whose path is not valid UTF-8 (a photon or a lock file alike): a
    lock there would be written and then refused by every run, so it is not written."""
    directory = tmp_path / os.fsdecode(b"photons\xff")
    directory.mkdir()
    (directory / "greeter.py").write_text(textwrap.dedent(PHOTON.format(name="greeter")))
    code, out, err = run_cli(capsys, "lock", str(directory))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.startswith("luminal: error: ")
    assert "no lock file can be read there: its name is not valid UTF-8" in err
    assert not (directory / LOCK_FILE_NAME).exists()
