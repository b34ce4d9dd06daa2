"""The pytest plugin for photon authors, run as they would run it: through ``pytester``."""

from __future__ import annotations

import textwrap

import pytest

from tests.isolation import REPO_ROOT
from tests.test_cli import installed_from_this_tree

INI = """
    [pytest]
    asyncio_mode = auto
    asyncio_default_fixture_loop_scope = function
    filterwarnings = error
"""

STUBBORN_TASK = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class StubbornTask(IPhoton, name="stubborn-task"):
        async def hold(self):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(3600)  # ignores the first cancellation

        @hookimpl
        def photon_start(self):
            self.create_task(self.hold(), name="holder")

        async def finalize(self):
            pass
"""

STUBBORN_THREAD = """
    import threading

    from luminal import IPhoton, hookimpl

    class StubbornThread(IPhoton, name="stubborn-thread"):
        @hookimpl
        def photon_start(self):
            never = threading.Event()
            self.spawn_thread(lambda stop_event: never.wait(), name="deaf")

        async def finalize(self):
            pass
"""

ROGUE_THREAD = """
    import threading

    from luminal import IPhoton, hookimpl

    class RogueThread(IPhoton, name="rogue-thread"):
        @hookimpl
        def photon_start(self):
            never = threading.Event()
            threading.Thread(target=never.wait, name="rogue", daemon=True).start()

        async def finalize(self):
            pass
"""

SHORT_TIMEOUTS = """
    import pytest

    @pytest.fixture
    def luminal_loader_kwargs():
        return {"finalize_timeout": 1.0, "stop_timeout": 0.2}
"""


def write_photon_source(pytester: pytest.Pytester, name: str, source: str) -> None:
    """Write a photon next to the inner tests, in a folder pytest does not collect."""
    directory = pytester.path / "photons"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(source))


@pytest.fixture
def plugin_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester directory configured like a photon author's project."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeini(INI)
    return pytester


def test_fixtures_load_start_call_reload_and_clean_up(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        '''
        import luminal

        COUNTER = """
            from luminal import IPhoton, hookimpl

            class Counter(IPhoton, name="counter", version="1.0.0"):
                def __init__(self):
                    self.count = 0

                @hookimpl
                async def bump(self, by):
                    self.count += by
                    return self.count

                @hookimpl
                def photon_export_state(self):
                    return self.count

                @hookimpl
                def photon_import_state(self, state):
                    self.count = state

                async def finalize(self):
                    pass
        """

        class Specs:
            @luminal.hookspec
            def bump(self, by): ...

        async def test_counter(luminal_start, luminal_write_photon, luminal_loader):
            path = luminal_write_photon("counter.py", COUNTER)
            counter = await luminal_start(path, hookspecs=Specs)
            assert counter.instance.count == 0
            assert await counter.call("bump", by=2) == [2]
            reloaded = await counter.reload()
            assert await reloaded.call("bump", by=3) == [5]
            assert list(luminal_loader.photons) == ["counter"]

        async def test_fresh_loader_each_time(luminal_loader, luminal_photon_dir):
            assert dict(luminal_loader.photons) == {}
            assert list(luminal_photon_dir.iterdir()) == []
        '''
    )
    result = plugin_pytester.runpytest("-p", "luminal.testing")
    result.assert_outcomes(passed=2)


def test_the_event_recorder_sees_the_loaders_events_in_order(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        '''
        import textwrap

        import pytest
        import luminal
        from luminal.testing import EventRecorder

        GREETER = """
            from luminal import IPhoton

            class Greeter(IPhoton, name="greeter"):
                async def finalize(self):
                    pass
        """

        @pytest.mark.asyncio
        async def test_a_broken_save_is_reported(
            luminal_start, luminal_events, luminal_write_photon
        ):
            path = luminal_write_photon("greeter.py", GREETER)
            greeter = await luminal_start(path)
            assert luminal_events.names() == ["loaded", "started"]
            path.write_text("this is not Python")
            with pytest.raises(luminal.PhotonReloadError) as caught:
                await greeter.reload()
            assert luminal_events.last() == ("error", (str(path.resolve()), caught.value))
            assert luminal_events.errors == [(str(path.resolve()), caught.value)]
            assert luminal_events.loaded == luminal_events.started == greeter.handlers

        @pytest.mark.asyncio
        async def test_a_recorder_of_ones_own_sees_reloads_and_unloads(tmp_path):
            (tmp_path / "greeter.py").write_text(textwrap.dedent(GREETER))
            recorder = EventRecorder()
            async with luminal.Loader() as loader:
                loader.plugin_manager.register(recorder)
                old = await loader.load_photon(tmp_path / "greeter.py")
                await old.start()
                new = await loader.reload_photon(old)
            assert recorder.reloaded == [(old, new)]
            assert recorder.unloaded == [new]
            assert recorder.names()[-2:] == ["reloaded", "unloaded"]
        '''
    )
    result = plugin_pytester.runpytest("-p", "luminal.testing")
    result.assert_outcomes(passed=2)


def test_a_photon_that_stops_its_work_passes_the_leftover_check(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        '''
        WORKER = """
            import asyncio

            from luminal import IPhoton, hookimpl

            class Worker(IPhoton, name="worker"):
                @hookimpl
                def photon_start(self):
                    self.spawn_thread(lambda stop_event: stop_event.wait(), name="polite")
                    self.create_task(asyncio.sleep(3600), name="sleeper")

                async def finalize(self):
                    pass
        """

        async def test_worker(luminal_start, luminal_write_photon):
            worker = await luminal_start(luminal_write_photon("worker.py", WORKER))
            assert await worker.unload() is True
        '''
    )
    result = plugin_pytester.runpytest("-p", "luminal.testing")
    result.assert_outcomes(passed=1)


def test_a_task_left_running_after_unload_fails_the_test(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makeconftest(SHORT_TIMEOUTS)
    write_photon_source(plugin_pytester, "stubborn.py", STUBBORN_TASK)
    plugin_pytester.makepyfile(
        test_stubborn="""
        from pathlib import Path

        async def test_task(luminal_start):
            await luminal_start(Path(__file__).parent / "photons" / "stubborn.py")
        """
    )
    result = plugin_pytester.runpytest("-p", "luminal.testing")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*photons left work running after they were unloaded:",
            "*photon 'stubborn-task' left running after stop: task holder",
        ]
    )


def test_threads_left_running_after_unload_fail_the_test(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makeconftest(SHORT_TIMEOUTS)
    write_photon_source(plugin_pytester, "stubborn.py", STUBBORN_THREAD)
    write_photon_source(plugin_pytester, "rogue.py", ROGUE_THREAD)
    plugin_pytester.makepyfile(
        test_stubborn="""
        from pathlib import Path

        PHOTONS = Path(__file__).parent / "photons"

        async def test_owned_thread(luminal_start):
            await luminal_start(PHOTONS / "stubborn.py")

        async def test_untracked_thread(luminal_start):
            await luminal_start(PHOTONS / "rogue.py")
        """
    )
    # The threads never end, so the photon author's run is a process of its own.
    result = plugin_pytester.runpytest_subprocess("-p", "luminal.testing")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        ["*photon 'stubborn-thread' left running after stop: thread deaf*"], consecutive=False
    )
    # The loader reports the plain thread the photon started; the plugin does not repeat it.
    result.stdout.fnmatch_lines(
        ["*photon 'rogue-thread' left running after stop: thread rogue (a threading.Thread*"],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*thread 'rogue' started during the test is still running*")


def test_an_expected_stop_error_can_be_cleared(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        '''
        from luminal import PhotonStopError

        FAILING = """
            from luminal import IPhoton

            class Failing(IPhoton, name="failing"):
                async def finalize(self):
                    raise OSError("socket already closed")
        """

        async def test_failing_finalizer(luminal_start, luminal_write_photon, luminal_leftovers):
            failing = await luminal_start(luminal_write_photon("failing.py", FAILING))
            await failing.unload()
            [error] = luminal_leftovers.stop_errors
            assert isinstance(error, PhotonStopError)
            assert "socket already closed" in str(error)
            luminal_leftovers.stop_errors.clear()
        '''
    )
    result = plugin_pytester.runpytest("-p", "luminal.testing")
    result.assert_outcomes(passed=1)


def test_the_plugin_implements_no_pytest_hook(plugin_pytester: pytest.Pytester) -> None:
    config = plugin_pytester.parseconfigure("-p", "luminal.testing")
    plugin = config.pluginmanager.get_plugin("luminal.testing")
    assert plugin is not None
    assert config.pluginmanager.get_hookcallers(plugin) == []


def test_the_plugins_example_test_passes_in_a_new_project_s_configuration(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example is one to copy: it runs under the README's one line of configuration
    (pytest-asyncio's strict mode), not this repository's, which wants pytest-timeout too."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    config = pytester.makeini(
        """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    example = REPO_ROOT / "examples" / "test_plugins_example.py"
    result = pytester.runpytest_subprocess("-c", str(config), "-p", "luminal.testing", str(example))
    result.assert_outcomes(passed=3)


@pytest.mark.skipif(
    not installed_from_this_tree(), reason="luminal-photons is not installed from this checkout"
)
def test_the_pytest11_entry_point_loads_the_plugin(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        """
        async def test_loader(luminal_loader):
            assert dict(luminal_loader.photons) == {}
        """
    )
    result = plugin_pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


STRAY_TASK = """
    import asyncio

    from luminal import IPhoton, hookimpl

    class StrayTask(IPhoton, name="stray-task"):
        @hookimpl
        def photon_start(self):
            asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="stray")

        async def finalize(self):
            pass
"""


@pytest.mark.parametrize("fixture_loop_scope", ["function", "module", "session"])
def test_strict_mode_fixtures_share_the_tests_loop_whatever_the_default_loop_scope(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fixture_loop_scope: str
) -> None:
    """In pytest-asyncio's default strict mode, with no configuration warning, the plugin's
    fixtures run on the test's loop: the leftover check still sees a task left on it."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makeini(
        f"""
        [pytest]
        asyncio_default_fixture_loop_scope = {fixture_loop_scope}
        filterwarnings = error
        """
    )
    write_photon_source(pytester, "stray.py", STRAY_TASK)
    pytester.makepyfile(
        test_stray="""
        from pathlib import Path

        import pytest

        @pytest.mark.asyncio
        async def test_stray_task(luminal_start):
            started = await luminal_start(Path(__file__).parent / "photons" / "stray.py")
            assert started.handler.started
        """
    )
    result = pytester.runpytest_subprocess("-p", "luminal.testing")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*task 'stray' started during the test was still pending*"])
    result.stdout.no_fnmatch_line("*Warning*")
