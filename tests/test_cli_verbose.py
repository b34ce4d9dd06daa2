"""``--verbose`` shows the traceback of the photon's own failing code, in ``check`` and
``list`` (``run``'s is in ``test_cli_run.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from luminal import cli
from luminal.testing import WritePhoton

EXPLODING = """
    from luminal import IPhoton

    def explode():
        raise ValueError("kaboom at import")

    explode()

    class Exploding(IPhoton, name="exploding"):
        pass
"""


def assert_photon_traceback(err: str, path: Path) -> None:
    assert "NoneType: None" not in err
    assert "Traceback (most recent call last):" in err
    assert f'File "{path}", line 5, in explode' in err
    assert "ValueError: kaboom at import" in err


@pytest.mark.parametrize("command", ["check", "list"])
def test_verbose_shows_the_traceback_of_the_photons_code(
    capsys: pytest.CaptureFixture[str],
    write_photon: WritePhoton,
    photon_dir: Path,
    command: str,
) -> None:
    path = write_photon("exploding.py", EXPLODING)
    code = cli.main([command, "--verbose", str(photon_dir)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILURE
    assert_photon_traceback(err, path)


@pytest.mark.parametrize("command", ["check", "list"])
def test_without_verbose_a_failure_is_one_line_with_file_and_line(
    capsys: pytest.CaptureFixture[str],
    write_photon: WritePhoton,
    photon_dir: Path,
    command: str,
) -> None:
    path = write_photon("exploding.py", EXPLODING)
    code = cli.main([command, str(photon_dir)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILURE
    assert "Traceback" not in err
    assert f"{path}:5: ValueError: kaboom at import" in err
