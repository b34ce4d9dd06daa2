"""Isolated hook calls reach photons' wrappers and keyword arguments: a photon's own
``hookwrapper``/``wrapper=True`` implementation that breaks is skipped like any other, and an
implementation's defaulted argument is passed as pluggy passes it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from luminal import HandlerState, Loader, PhotonQuarantinedError, hookspec
from luminal.testing import EventRecorder, WritePhoton
from tests.test_hook_isolation import HostSpecs, hook_errors, photon, started
from tests.watch_support import wait_for


class LoudSpecs:
    @hookspec
    def shout(self, word: str, loud: bool = False) -> str:  # type: ignore[empty-body]
        """Say ``word``, in capitals when ``loud``."""


WRAPPER = """
    import sys
    from luminal import IPhoton, hookimpl

    class Wrapper(IPhoton, name="wrapper"):
        @hookimpl({options})
        def answer(self, question):
            if question == "before":
                {failure}
            outcome = yield
            if question == "after":
                {failure}
            return {result}

        async def finalize(self):
            pass
"""

STYLES = {
    "new": ("wrapper=True", "[*outcome, 'wrapped']"),
    "old": ("hookwrapper=True", "None"),
}
FAILURES = {
    "raise": "raise ValueError('broken wrapper')",
    "exit": "sys.exit(3)",
}


def wrapper(style: str, failure: str) -> str:
    options, result = STYLES[style]
    return textwrap.dedent(WRAPPER).format(
        options=options, failure=FAILURES[failure], result=result
    )


@pytest.fixture
def host(loader: Loader, observer: EventRecorder) -> Loader:
    loader.plugin_manager.add_hookspecs(HostSpecs)
    return loader


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_photons_broken_wrapper_is_skipped_and_the_others_answer(
    host: Loader,
    observer: EventRecorder,
    write_photon: WritePhoton,
    style: str,
    failure: str,
    when: str,
) -> None:
    await started(host, write_photon("w.py", wrapper(style, failure)))
    await started(host, write_photon("a.py", photon("a")))
    assert await host.acall("answer", question=when) == ["a: " + when]
    assert host.call("answer", question=when) == ["a: " + when]
    await wait_for(lambda: len(hook_errors(observer)) == 2)  # call() reports in a task
    errors = hook_errors(observer)
    assert [(error.photon_name, error.hook_name) for error in errors] == [("wrapper", "answer")] * 2
    assert host.photons["wrapper"].hook_stats["answer"].errors == 2


BROKEN_TEARDOWNS = {
    # Yields twice, and its cleanup raises when the call closes it.
    "cleanup raises": """
        @hookimpl(wrapper=True)
        def answer(self, question):
            try:
                yield
                yield
            finally:
                raise ValueError("broken cleanup")
    """,
    # Yields twice, and ignores the GeneratorExit that closing it throws.
    "ignores closing": """
        @hookimpl(wrapper=True)
        def answer(self, question):
            try:
                yield
                yield
            except GeneratorExit:
                yield
    """,
    # An old-style wrapper that forces a result, then raises.
    "forces a result": """
        @hookimpl(hookwrapper=True)
        def answer(self, question):
            outcome = yield
            outcome.force_result(["forged"])
            raise ValueError("broken after forcing")
    """,
    # An old-style wrapper that forces an exception, then raises.
    "forces an exception": """
        @hookimpl(hookwrapper=True)
        def answer(self, question):
            outcome = yield
            outcome.force_exception(KeyError("forged"))
            raise ValueError("broken after forcing")
    """,
}


@pytest.mark.parametrize("teardown", sorted(BROKEN_TEARDOWNS))
async def test_a_wrapper_broken_after_its_yield_leaves_nothing_of_itself(
    host: Loader, observer: EventRecorder, write_photon: WritePhoton, teardown: str
) -> None:
    # Its close() raising, or what it forced on pluggy's Result before raising, made the call
    # raise for every photon or answer what the broken wrapper forged.
    source = "from luminal import IPhoton, hookimpl\n\nclass Wrapper(IPhoton, name='wrapper'):\n"
    source += textwrap.indent(textwrap.dedent(BROKEN_TEARDOWNS[teardown]), "    ")
    source += "\n    async def finalize(self):\n        pass\n"
    await started(host, write_photon("w.py", source))
    await started(host, write_photon("a.py", photon("a")))
    assert await host.acall("answer", question="q") == ["a: q"]
    assert host.call("answer", question="q") == ["a: q"]
    await wait_for(lambda: len(hook_errors(observer)) == 2)  # call() reports in a task
    assert [error.photon_name for error in hook_errors(observer)] == ["wrapper"] * 2


async def test_an_old_style_wrapper_that_ends_well_forces_its_result(
    host: Loader, write_photon: WritePhoton
) -> None:
    source = """
        from luminal import IPhoton, hookimpl

        class Wrapper(IPhoton, name="wrapper"):
            @hookimpl(hookwrapper=True)
            def answer(self, question):
                outcome = yield
                outcome.force_result([*outcome.get_result(), "forced"])

            async def finalize(self):
                pass
    """
    await started(host, write_photon("w.py", textwrap.dedent(source)))
    await started(host, write_photon("a.py", photon("a")))
    assert await host.acall("answer", question="q") == ["a: q", "forced"]
    assert host.call("answer", question="q") == ["a: q", "forced"]


async def test_a_photons_working_wrapper_still_wraps(
    host: Loader, write_photon: WritePhoton
) -> None:
    handler = await started(host, write_photon("w.py", wrapper("new", "raise")))
    await started(host, write_photon("a.py", photon("a")))
    assert await host.acall("answer", question="q") == ["a: q", "wrapped"]
    assert handler.hook_stats["answer"].calls == 1


async def test_without_isolation_a_photons_broken_wrapper_raises(
    host: Loader, write_photon: WritePhoton
) -> None:
    await started(host, write_photon("w.py", wrapper("new", "raise")))
    with pytest.raises(ValueError, match="broken wrapper"):
        await host.acall("answer", isolate=False, question="after")


async def test_a_photon_whose_wrapper_keeps_failing_is_quarantined(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    recorder = EventRecorder()
    async with Loader(quarantine_after=2) as loader:
        loader.plugin_manager.add_hookspecs(HostSpecs)
        loader.plugin_manager.register(recorder)
        bad = await started(loader, write_photon("w.py", wrapper("new", "raise")))
        await started(loader, write_photon("a.py", photon("a")))
        for _ in range(2):
            assert await loader.acall("answer", question="before") == ["a: before"]
        assert bad.state is HandlerState.QUARANTINED
        assert any(isinstance(error, PhotonQuarantinedError) for _, error in recorder.errors)


async def test_a_photons_broken_event_wrapper_hides_no_event_from_the_host(
    host: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    source = textwrap.dedent(
        """
        import sys
        from luminal import IPhoton, hookimpl

        class Wrapper(IPhoton, name="wrapper"):
            @hookimpl(wrapper=True)
            def luminal_photon_loaded(self, handler):
                sys.exit(3)
                yield

            async def finalize(self):
                pass
        """
    )
    await started(host, write_photon("w.py", source))
    a_handler = await host.load_photon(write_photon("a.py", photon("a")))
    assert a_handler in observer.loaded
    assert [error.hook_name for error in hook_errors(observer)] == ["luminal_photon_loaded"]


async def test_an_implementations_defaulted_argument_is_passed(
    host: Loader, write_photon: WritePhoton
) -> None:
    host.plugin_manager.add_hookspecs(LoudSpecs)
    source = textwrap.dedent(
        """
        from luminal import IPhoton, hookimpl

        class Loud(IPhoton, name="loud"):
            @hookimpl
            def shout(self, word, loud=False):
                return word.upper() if loud else word

            async def finalize(self):
                pass
        """
    )
    await started(host, write_photon("loud.py", source))
    assert host.plugin_manager.hook.shout(word="hi", loud=True) == ["HI"]
    assert await host.acall("shout", word="hi", loud=True) == ["HI"]
    assert host.call("shout", word="hi", loud=True) == ["HI"]
    assert await host.acall("shout", word="hi") == ["hi"]
