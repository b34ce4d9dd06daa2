"""The ``luminal`` command: ``list`` and ``check`` as a user and a CI job run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from luminal import cli
from luminal.cli import inspecting
from luminal.cli.collecting import Collected
from luminal.testing import WritePhoton
from tests.isolation import REPO_ROOT, child_env

GREETER = """
    from luminal import IPhoton, hookimpl

    class Greeter(IPhoton, name="greeter", author="Ada", version="1.2.0"):
        \"\"\"Says hello.\"\"\"

        @hookimpl
        def photon_start(self):
            open(__file__ + ".started", "w").close()

        async def finalize(self):
            pass
"""

WEATHER = """
    from luminal import IPhoton

    class Sunny(IPhoton, name="sunny", version="0.2.0"):
        async def finalize(self):
            pass

    class Rainy(IPhoton, name="rainy", version="0.3.0"):
        def finalize(self):
            pass
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def subprocess_env() -> dict[str, str]:
    """The environment for a child Python that must import this tree's ``luminal``."""
    return child_env()


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--help"],
        *([command, "--help"] for command in ("run", "list", "check", "lock")),
    ):
        code, out, _ = run_cli(capsys, *argv)
        assert code == cli.EXIT_OK
        assert "exit codes:" in out
        assert "130" in out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "list", "--bogus")
    assert code == cli.EXIT_USAGE
    assert "unrecognized arguments: --bogus" in err


def test_list_prints_a_table_of_the_photons(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("greeter.py", GREETER)
    write_photon("weather.py", WEATHER)
    code, out, err = run_cli(capsys, "list", str(photon_dir))
    assert (code, err) == (cli.EXIT_OK, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "AUTHOR", "REQUIRES", "SOURCE", "PATH"]
    rows = [line.split() for line in lines[1:]]
    assert [row[:5] for row in rows] == [
        ["greeter", "1.2.0", "Ada", "-", "file"],
        ["rainy", "0.3.0", "Unknown", "-", "file"],
        ["sunny", "0.2.0", "Unknown", "-", "file"],
    ]
    assert rows[0][5] == str(photon_dir / "greeter.py")


def test_list_json_describes_each_photon(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("greeter.py", GREETER)
    code, out, _ = run_cli(capsys, "list", "--json", str(photon_dir))
    assert code == cli.EXIT_OK
    assert json.loads(out) == [
        {
            "name": "greeter",
            "version": "1.2.0",
            "author": "Ada",
            "description": "Says hello.",
            "tags": ["luminal", "photon"],
            "requires": [],
            "source": "file",
            "distribution": None,
            "distribution_version": None,
            "entry_point": None,
            "path": str(path),
        }
    ]


def test_list_never_starts_photons_and_leaves_nothing_imported(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    path = write_photon("greeter.py", GREETER)
    modules_before = set(sys.modules)
    code, out, _ = run_cli(capsys, "list", str(photon_dir))
    assert code == cli.EXIT_OK
    assert "greeter" in out
    assert not Path(f"{path}.started").exists()
    assert not {name for name in set(sys.modules) - modules_before if "greeter" in name}


def test_list_keeps_json_clean_of_what_photons_print(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("noisy.py", 'print("importing noisy")\n' + textwrap.dedent(WEATHER))
    code, out, err = run_cli(capsys, "list", "--json", str(photon_dir))
    assert code == cli.EXIT_OK
    assert [record["name"] for record in json.loads(out)] == ["rainy", "sunny"]
    assert "importing noisy" in err


def test_list_shows_what_loaded_and_reports_what_did_not(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("greeter.py", GREETER)
    write_photon("broken.py", "def oops(:\n")
    code, out, err = run_cli(capsys, "list", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert out.splitlines()[1].split()[0] == "greeter"
    assert len(err.splitlines()) == 1
    assert err.startswith(f"luminal: error: {photon_dir / 'broken.py'}:1: SyntaxError: ")


def test_check_passes_valid_photons(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("greeter.py", GREETER)
    write_photon("weather.py", WEATHER)
    code, out, err = run_cli(capsys, "check", str(photon_dir))
    assert (code, out, err) == (cli.EXIT_OK, "ok: 3 photons checked\n", "")


def test_check_reports_a_syntax_error_with_file_and_line(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("broken.py", "from luminal import IPhoton\n\nclass Broken(IPhoton:\n")
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_FAILURE
    assert out == ""
    first, summary = err.splitlines()
    assert first.startswith(f"luminal: error: {path}:3: SyntaxError: ")
    assert summary == "luminal: 1 problem found"
    assert "Traceback" not in err


def test_check_reports_an_import_error_at_its_line(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("raises.py", "import os\n\nraise RuntimeError('no config')\n")
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_FAILURE
    assert err.splitlines()[0] == f"luminal: error: {path}:3: RuntimeError: no config"


def test_check_reports_a_file_without_photons(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon("plain.py", "VALUE = 1\n")
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_FAILURE
    assert err.splitlines()[0] == (
        f"luminal: error: {path}: no photon found (a photon is a subclass of luminal.IPhoton)"
    )


def test_check_reports_a_name_collision(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("a.py", "from luminal import IPhoton\nclass A(IPhoton, name='twin'): pass\n")
    write_photon("b.py", "from luminal import IPhoton\nclass B(IPhoton, name='twin'): pass\n")
    code, _, err = run_cli(capsys, "check", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert err.splitlines()[0] == (
        f"luminal: error: {photon_dir / 'b.py'}: photon name 'twin' is already used by the "
        f"photon from {photon_dir / 'a.py'}"
    )


def test_check_reports_misspelt_and_mis_declared_lifecycle_hooks(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton
) -> None:
    path = write_photon(
        "hooks.py",
        """
        from luminal import IPhoton, hookimpl

        class Hooks(IPhoton, name="hooks"):
            @hookimpl
            def photon_strat(self):
                pass

            @hookimpl
            def photon_import_state(self, data):
                pass
        """,
    )
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == cli.EXIT_FAILURE
    assert err.splitlines()[:2] == [
        f"luminal: error: {path}: photon 'hooks' implements 'photon_strat', which is no "
        "Luminal hook; did you mean 'photon_start'?",
        f"luminal: error: {path}: hook photon_import_state of photon 'hooks' takes unknown "
        "argument(s) ['data']; the spec has ['state']",
    ]


def test_check_reports_every_broken_photon_of_a_directory(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("greeter.py", GREETER)
    write_photon("broken.py", "def oops(:\n")
    write_photon("nested/raises.py", "raise ValueError('bad')\n")
    code, _, err = run_cli(capsys, "check", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert len(err.splitlines()) == 3
    assert "broken.py:1: SyntaxError" in err
    assert f"{photon_dir / 'nested' / 'raises.py'}:1: ValueError: bad" in err


def test_check_of_a_missing_path_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    code, out, err = run_cli(capsys, "check", str(missing))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.splitlines()[0] == f"luminal: error: {missing}: no such file or directory"


def test_list_of_a_missing_path_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, tmp_path: Path
) -> None:
    """Bad usage leaves stdout empty (a script reading the table or the JSON gets nothing),
    also when another path given holds photons."""
    photon = write_photon("greeter.py", "from luminal import IPhoton\nclass G(IPhoton): ...\n")
    missing = tmp_path / "nowhere"
    code, out, err = run_cli(capsys, "list", "--json", str(photon), str(missing))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.splitlines()[0] == f"luminal: error: {missing}: no such file or directory"


@pytest.mark.parametrize("command", ["check", "list"])
@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_a_path_that_is_not_python_is_a_usage_error_whatever_its_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, kind: str
) -> None:
    """A FIFO (or a device such as ``/dev/null``) not named ``*.py`` is not Python either."""
    path = tmp_path / "notes"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_text("hello\n")
    code, out, err = run_cli(capsys, command, str(path))
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.splitlines()[0] == f"luminal: error: {path}: not a Python file or directory"


@pytest.mark.parametrize("command", ["check", "list", "lock"])
def test_a_path_whose_name_is_too_long_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    too_long = tmp_path / ("n" * 300)
    code, _, err = run_cli(capsys, command, str(too_long))
    assert code == cli.EXIT_USAGE
    assert err.startswith(f"luminal: error: {too_long}: ")
    assert "Traceback" not in err
    assert "OSError" not in err


def test_unexpected_errors_are_one_line_unless_verbose(
    capsys: pytest.CaptureFixture[str], photon_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object) -> Collected:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(inspecting, "collect", explode)
    code, _, err = run_cli(capsys, "check", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert err == (
        "luminal: error: RuntimeError: disk on fire (run with --verbose for the traceback)\n"
    )
    code, _, err = run_cli(capsys, "check", "--verbose", str(photon_dir))
    assert code == cli.EXIT_FAILURE
    assert "Traceback (most recent call last)" in err
    assert err.endswith("luminal: error: RuntimeError: disk on fire\n")


def test_python_dash_m_luminal_lists_the_example_photons(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "luminal", "list", str(REPO_ROOT / "plugins_example")],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stderr) == (0, "")
    names = [line.split()[0] for line in completed.stdout.splitlines()[1:]]
    assert {"clock", "greeter", "rainy", "sunny"} <= set(names)
    assert names == sorted(names)


def installed_from_this_tree() -> bool:
    """Whether the installed ``luminal-photons`` is an editable install of this checkout."""
    try:
        direct_url = metadata.distribution("luminal-photons").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    if direct_url is None:
        return False
    url = json.loads(direct_url).get("url", "")
    return bool(url.startswith("file://") and Path(url[len("file://") :]).resolve() == REPO_ROOT)


@pytest.mark.skipif(
    not installed_from_this_tree(), reason="luminal-photons is not installed from this checkout"
)
def test_console_script_checks_the_example_photons(tmp_path: Path) -> None:
    script = shutil.which("luminal", path=sysconfig.get_path("scripts"))
    assert script is not None, "pip install -e . should install the luminal console script"
    completed = subprocess.run(
        [script, "check", str(REPO_ROOT / "plugins_example")],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("ok: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", ""],
        ["list", ""],
        ["run", ""],
        ["lock", ""],
        ["run", "--lock", "", "plugins_example"],
        ["check", "--lock", "", "plugins_example"],
    ],
)
def test_an_empty_path_is_a_usage_error_never_the_current_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # a directory full of Python files the command must not load
    code, out, err = run_cli(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert "an empty path names no file or directory" in err
    assert out == ""
