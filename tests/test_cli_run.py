"""``luminal run`` as a user runs it: a real child process, read line by line, stopped by a
signal."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from luminal import cli
from tests.distributions import install_distribution
from tests.isolation import REPO_ROOT, child_env
from tests.watch_support import replace_atomically

DEADLINE = 30.0
"""Seconds to wait for an expected line; a child Python on a busy machine can be slow."""


class LuminalRun:
    """A ``python -m luminal run`` child process whose stdout and stderr lines are collected
    as they come, by one reader thread per stream."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "luminal", "run", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._cursors = {"stdout": 0, "stderr": 0}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), name=f"read-{name}")
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: object) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, ""):
            with self._changed:
                self._lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def expect(self, pattern: str, stream: str = "stderr", timeout: float = DEADLINE) -> str:
        """Wait for a line of ``stream`` that matches ``pattern`` (a regex) and comes after the
        last line this method returned from that stream; return it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                lines = self._lines[stream]
                for index in range(self._cursors[stream], len(lines)):
                    if regex.search(lines[index]):
                        self._cursors[stream] = index + 1
                        return lines[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not any(reader.is_alive() for reader in self._readers):
                    raise AssertionError(
                        f"no {stream} line matching {pattern!r}:\n{self.transcript()}"
                    )
                self._changed.wait(remaining)

    def lines(self, stream: str = "stderr") -> list[str]:
        with self._changed:
            return list(self._lines[stream])

    def transcript(self) -> str:
        return "\n".join(
            f"{name}: {line}" for name in ("stdout", "stderr") for line in self._lines[name]
        )

    def send(self, signal_number: int) -> None:
        self.process.send_signal(signal_number)

    def wait(self, timeout: float = DEADLINE) -> int:
        """Wait for the process to exit and its output to be read; return the exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"luminal run did not exit:\n{self.transcript()}") from None
        for reader in self._readers:
            reader.join(timeout)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for reader in self._readers:
            reader.join()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


StartRun = Callable[..., LuminalRun]


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[StartRun]:
    """Start ``luminal run ARGS`` in ``tmp_path``; every process is killed at teardown."""
    started: list[LuminalRun] = []

    def start(*args: str, env: dict[str, str] | None = None, cwd: Path = tmp_path) -> LuminalRun:
        run = LuminalRun(list(args), cwd, env or child_env())
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()


def photon(word: str, name: str = "greeter", start_fails: bool = False) -> str:
    """A photon that prints ``<name> <word> started`` and ``<name> <word> finalized``."""
    failing = "raise RuntimeError('boom')" if start_fails else "pass"
    return textwrap.dedent(
        f"""\
        from luminal import IPhoton, hookimpl

        class Photon(IPhoton, name={name!r}):
            @hookimpl
            def photon_start(self):
                {failing}
                print({name!r}, {word!r}, "started")

            async def finalize(self):
                print({name!r}, {word!r}, "finalized")
        """
    )


@pytest.fixture
def photons(tmp_path: Path) -> Path:
    directory = tmp_path / "photons"
    directory.mkdir()
    return directory


def wait_until_running(run: LuminalRun, count: int) -> None:
    run.expect(rf"running {count} photons?; press Ctrl-C to stop")


def test_the_readme_main_job_runs_the_example_photons(start_run: StartRun) -> None:
    """``luminal run plugins_example`` from a checkout: the trust policy accepts its files."""
    run = start_run("plugins_example", cwd=REPO_ROOT)
    run.expect(r"running \d+ photons; press Ctrl-C to stop")
    started = {line.split()[3] for line in run.lines() if " started photon " in line}
    assert {"clock", "greeter", "rainy", "sunny"} <= started
    run.expect(r"^\[greeter\] Hello, world! \(version 1\.0\.0\)$", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    finalized = [line for line in run.lines("stdout") if "finalized" in line]
    assert set(finalized) >= {
        "[greeter] finalized after 0 greeting(s)",
        "[clock] finalized",
        "[sunny] finalized",
        "[rainy] finalized",
    }
    assert [line for line in run.lines() if " error: " in line or " warning: " in line] == []


def test_editing_the_example_greeting_prints_the_new_greeting_on_save(
    start_run: StartRun, tmp_path: Path
) -> None:
    """The README's invitation: edit the greeting of ``plugins_example/greeter.py`` (a copy)
    while ``luminal run`` runs, and the new greeting is printed as soon as the file is saved."""
    example = tmp_path / "plugins_example"
    shutil.copytree(REPO_ROOT / "plugins_example", example)
    greeter = example / "greeter.py"
    run = start_run("--no-entry-points", str(example))
    run.expect(r"^\[greeter\] Hello, world! \(version 1\.0\.0\)$", "stdout")
    wait_until_running(run, 4)

    source = greeter.read_text()
    assert source.count('GREETING = "Hello"') == 1
    greeter.write_text(source.replace('GREETING = "Hello"', 'GREETING = "Howdy"'))
    run.expect(r"reloaded photon greeter from ")
    run.expect(r"^\[greeter\] Howdy, world! \(version 1\.0\.0\)$", "stdout")

    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    assert [line for line in run.lines() if " error: " in line or " warning: " in line] == []


def test_run_loads_starts_reloads_and_unloads_on_sigint(start_run: StartRun, photons: Path) -> None:
    greeter = photons / "greeter.py"
    greeter.write_text(photon("v1"))
    run = start_run("--no-entry-points", str(photons))
    run.expect(rf"^\d\d:\d\d:\d\d loaded photon greeter from {re.escape(str(greeter))}$")
    run.expect(r"started photon greeter from ")
    run.expect(rf"watching {re.escape(str(photons))} for photon changes")
    wait_until_running(run, 1)
    run.expect("greeter v1 started", "stdout")

    replace_atomically(greeter, photon("v2"))
    run.expect(r"reloaded photon greeter from ")
    run.expect("greeter v1 finalized", "stdout")
    run.expect("greeter v2 started", "stdout")

    run.send(signal.SIGINT)
    run.expect("received SIGINT: unloading every photon")
    run.expect(r"unloaded photon greeter from ")
    run.expect("every photon is unloaded")
    assert run.wait() == cli.EXIT_OK
    run.expect("greeter v2 finalized", "stdout")
    assert not any("Traceback" in line for line in run.lines())


def test_sigterm_unloads_every_photon_gracefully_and_exits_0(
    start_run: StartRun, photons: Path
) -> None:
    (photons / "one.py").write_text(photon("v1", name="one"))
    (photons / "two.py").write_text(photon("v1", name="two"))
    run = start_run("--no-entry-points", str(photons))
    wait_until_running(run, 2)
    run.send(signal.SIGTERM)
    run.expect("received SIGTERM: unloading every photon")
    assert run.wait() == cli.EXIT_OK
    unloaded = [line for line in run.lines() if "unloaded photon" in line]
    assert len(unloaded) == 2
    assert sorted(run.lines("stdout")) == [
        "one v1 finalized",
        "one v1 started",
        "two v1 finalized",
        "two v1 started",
    ]


def test_a_broken_version_is_one_rollback_line_and_the_old_one_keeps_running(
    start_run: StartRun, photons: Path
) -> None:
    greeter = photons / "greeter.py"
    greeter.write_text(photon("v1"))
    run = start_run("--no-entry-points", str(photons))
    wait_until_running(run, 1)

    replace_atomically(greeter, photon("v2", start_fails=True))
    run.expect(r"restarted the previous version of photon greeter from ")
    line = run.expect(r"error: reload of .* failed, it was rolled back")
    assert str(greeter) in line
    assert "RuntimeError: boom" in line
    run.expect("greeter v1 finalized", "stdout")
    run.expect("greeter v1 started", "stdout")  # the old version, again

    replace_atomically(greeter, "def broken(:\n")
    line = run.expect(r"error: reload of .* failed, nothing changed")
    assert re.search(rf"{re.escape(str(greeter))}.*line 1", line)

    replace_atomically(greeter, photon("v3"))
    run.expect("reloaded photon greeter from ")
    run.expect("greeter v1 finalized", "stdout")
    run.expect("greeter v3 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    run.expect("greeter v3 finalized", "stdout")
    assert not any("Traceback" in line for line in run.lines())


def test_verbose_shows_the_traceback_of_a_rollback(start_run: StartRun, photons: Path) -> None:
    greeter = photons / "greeter.py"
    greeter.write_text(photon("v1"))
    run = start_run("--verbose", "--no-entry-points", str(photons))
    wait_until_running(run, 1)
    replace_atomically(greeter, photon("v2", start_fails=True))
    run.expect(r"ERROR luminal\.managers\.loader: reload of .* failed, it was rolled back")
    run.expect("^Traceback")
    run.expect("RuntimeError: boom")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK


def test_trust_policy_refuses_a_world_writable_photon_and_runs_the_others(
    start_run: StartRun, photons: Path
) -> None:
    (photons / "good.py").write_text(photon("v1", name="good"))
    writable = photons / "writable.py"
    writable.write_text(photon("v1", name="writable"))
    writable.chmod(0o666)
    run = start_run("--no-entry-points", str(photons))
    line = run.expect(r"error: refusing ")
    assert str(writable) in line
    assert "trust rule 'writable'" in line
    wait_until_running(run, 1)
    run.expect("good v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    assert "writable v1 started" not in run.lines("stdout")


def test_no_trust_runs_a_world_writable_photon(start_run: StartRun, photons: Path) -> None:
    writable = photons / "writable.py"
    writable.write_text(photon("v1", name="writable"))
    writable.chmod(0o666)
    run = start_run("--no-trust", "--no-entry-points", str(photons))
    run.expect(r"warning: trust policy off")
    wait_until_running(run, 1)
    run.expect("writable v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK


def test_a_package_given_as_a_directory_is_said_to_run_as_a_tree(
    start_run: StartRun, photons: Path
) -> None:
    """Its ``__init__.py`` is no photon of the tree (``luminal check`` of the same path says so
    too): said at once rather than left to be noticed as a photon that never runs."""
    (photons / "__init__.py").write_text(photon("v1", name="package"))
    (photons / "good.py").write_text(photon("v1", name="good"))
    run = start_run("--no-entry-points", str(photons))
    line = run.expect(r"warning: .* is a package: ")
    assert "give the directory that holds it" in line
    wait_until_running(run, 1)
    run.expect("good v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    assert "package v1 started" not in run.lines("stdout")


def test_a_locked_directory_refuses_a_changed_file_until_it_is_locked_again(
    start_run: StartRun, photons: Path
) -> None:
    greeter = photons / "greeter.py"
    greeter.write_text(photon("v1"))
    assert cli.main(["lock", str(photons)]) == cli.EXIT_OK
    run = start_run("--no-entry-points", str(photons))
    run.expect(r"trust policy: .*; pinned to .*luminal\.lock")
    wait_until_running(run, 1)

    replace_atomically(greeter, photon("v2"))
    line = run.expect(r"error: reload of .* failed, nothing changed: refusing ")
    assert "trust rule 'lock'" in line
    (photons / "newcomer.py").write_text(photon("v1", name="newcomer"))
    line = run.expect(r"error: refusing .*newcomer\.py: it is not pinned")
    assert "trust rule 'lock'" in line

    assert cli.main(["lock", str(photons)]) == cli.EXIT_OK
    replace_atomically(greeter, photon("v2"))  # the same bytes, saved again
    run.expect("reloaded photon greeter from ")
    run.expect("greeter v2 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK


def test_lock_option_pins_every_directory(
    start_run: StartRun, photons: Path, tmp_path: Path
) -> None:
    (photons / "greeter.py").write_text(photon("v1"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "stranger.py").write_text(photon("v1", name="stranger"))
    lock = tmp_path / "photons.lock"
    assert cli.main(["lock", str(photons), "--output", str(lock)]) == cli.EXIT_OK
    run = start_run("--no-entry-points", "--lock", str(lock), str(photons), str(other))
    line = run.expect(r"error: refusing .*stranger\.py: it is not pinned")
    assert str(lock) in line
    wait_until_running(run, 1)
    run.expect("greeter v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK


def test_several_directories_run_in_one_loader(
    start_run: StartRun, photons: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (photons / "one.py").write_text(photon("v1", name="one"))
    (other / "two.py").write_text(photon("v1", name="two"))
    run = start_run("--no-entry-points", str(photons), str(other))
    run.expect(rf"watching {re.escape(str(photons))} for photon changes")
    run.expect(rf"watching {re.escape(str(other))} for photon changes")
    wait_until_running(run, 2)

    replace_atomically(other / "two.py", photon("v2", name="two"))
    run.expect(rf"reloaded photon two from {re.escape(str(other / 'two.py'))}")
    run.expect("two v2 started", "stdout")
    (photons / "three.py").write_text(photon("v1", name="three"))
    run.expect("three v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    assert len([line for line in run.lines() if "unloaded photon" in line]) == 3


def test_entry_points_are_run_and_no_directory_waits_for_a_signal(
    start_run: StartRun, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    install_distribution(
        site_dir,
        "hello-photons",
        {"hello": "hello_photon:Photon"},
        {"hello_photon.py": photon("installed", name="hello")},
    )
    run = start_run(env=child_env(PYTHONPATH=str(site_dir)))
    run.expect(r"loaded photon hello from ")
    wait_until_running(run, 1)
    run.expect("hello installed started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    run.expect("hello installed finalized", "stdout")


def test_a_second_sigint_stops_waiting_for_a_hanging_finalizer(
    start_run: StartRun, photons: Path
) -> None:
    (photons / "stuck.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            from luminal import IPhoton

            class Stuck(IPhoton, name="stuck"):
                async def finalize(self):
                    print("finalizing", flush=True)
                    await asyncio.sleep(3600)
            """
        )
    )
    run = start_run("--no-entry-points", "--finalize-timeout", "600", str(photons))
    wait_until_running(run, 1)
    run.send(signal.SIGINT)
    run.expect("finalizing", "stdout")
    run.send(signal.SIGINT)
    run.expect("warning: received SIGINT again: not waiting for the photons left")
    assert run.wait() == cli.EXIT_INTERRUPTED
    assert run.lines()[-1] == "luminal: interrupted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "missing: no such directory"),
        (["photons", "photons/inner"], "overlaps"),
        (["--lock", "nowhere.lock", "photons"], "cannot use lock file nowhere.lock"),
        (["--no-trust", "--lock", "x.lock", "photons"], "contradict"),
    ],
)
def test_bad_run_arguments_are_one_line_usage_errors(
    capsys: pytest.CaptureFixture[str],
    photons: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    (photons / "inner").mkdir()
    monkeypatch.chdir(photons.parent)
    assert cli.main(["run", "--no-entry-points", *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("luminal: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finalize-timeout", "inf"], "--finalize-timeout: must be a finite number"),
        (["--start-timeout", "1e400"], "--start-timeout: must be a finite number"),
        (["--group", ""], "--group: an entry-point group needs a name"),
    ],
)
def test_bad_run_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
    photons: Path,
    args: list[str],
    message: str,
) -> None:
    assert cli.main(["run", *args, str(photons)]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_several_lock_files_without_lock_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], photons: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    for directory in (photons, other):
        (directory / "p.py").write_text(photon("v1", name=directory.name))
        assert cli.main(["lock", str(directory)]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["run", "--no-entry-points", str(photons), str(other)]) == cli.EXIT_USAGE
    assert "several lock files" in capsys.readouterr().err


def test_verbose_run_shows_the_traceback_of_the_photons_failing_code(
    start_run: StartRun, photons: Path
) -> None:
    broken = photons / "broken.py"
    broken.write_text(
        textwrap.dedent(
            """\
            from luminal import IPhoton

            def explode():
                raise ValueError("kaboom at import")

            explode()
            """
        )
    )
    failing = photons / "failing.py"
    failing.write_text(photon("v1", name="failing", start_fails=True))
    run = start_run("--verbose", "--no-entry-points", str(photons))
    run.expect(rf'File "{re.escape(str(broken))}", line 4, in explode')
    run.expect(r"ValueError: kaboom at import")
    run.expect(rf'File "{re.escape(str(failing))}", line \d+, in photon_start')
    run.expect(r"RuntimeError: boom")
    wait_until_running(run, 0)  # the photon that failed to start is loaded, not running
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    assert not [line for line in run.lines() if "NoneType: None" in line]


def test_start_timeout_cuts_a_hanging_start_and_the_rest_runs(
    start_run: StartRun, photons: Path
) -> None:
    (photons / "good.py").write_text(photon("v1", name="good"))
    (photons / "stuck.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            from luminal import IPhoton, hookimpl

            class Stuck(IPhoton, name="stuck"):
                @hookimpl
                async def photon_start(self):
                    await asyncio.Event().wait()

                async def finalize(self):
                    pass
            """
        )
    )
    run = start_run("--no-entry-points", "--start-timeout", "0.5", str(photons))
    run.expect(r"error: .*stuck")
    wait_until_running(run, 1)
    run.expect("good v1 started", "stdout")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK


def test_a_photon_whose_import_never_returns_does_not_hold_up_sigint(
    start_run: StartRun, photons: Path
) -> None:
    (photons / "a_good.py").write_text(photon("v1", name="good"))
    (photons / "b_stuck.py").write_text(
        "import threading\nprint('stuck importing', flush=True)\nthreading.Event().wait()\n"
    )
    run = start_run("--no-entry-points", str(photons))
    run.expect("stuck importing", "stdout")
    run.send(signal.SIGINT)
    run.expect(r"received SIGINT: unloading every photon")
    assert run.wait() == cli.EXIT_OK


def test_stats_prints_each_photons_hook_statistics_at_exit(
    start_run: StartRun, photons: Path
) -> None:
    greeter = photons / "greeter.py"
    greeter.write_text(photon("v1"))
    (photons / "spy.py").write_text(
        textwrap.dedent(
            """\
            from luminal import IPhoton, hookimpl

            class Spy(IPhoton, name="spy"):
                @hookimpl
                def luminal_photon_reloaded(self, new):
                    raise RuntimeError("spy broke on " + new.name)

                async def finalize(self):
                    pass
            """
        )
    )
    run = start_run("--no-entry-points", "--stats", str(photons))
    wait_until_running(run, 2)
    replace_atomically(greeter, photon("v2"))
    run.expect("greeter v2 started", "stdout")
    run.expect(r"luminal_photon_reloaded of photon 'spy' raised RuntimeError: spy broke on greeter")
    run.send(signal.SIGINT)
    assert run.wait() == cli.EXIT_OK
    header = run.expect(r"^PHOTON +HOOK +CALLS +ERRORS +TIMEOUTS +TOTAL MS +MAX MS$", "stdout")
    assert header
    row = run.expect(r"^spy +luminal_photon_reloaded ", "stdout")
    assert row.split()[2:5] == ["1", "1", "0"]
