"""Photon requirements under ``watch_photons``: a photon waits for its provider's file, and a
save of a provider reloads it with its running dependents as one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from luminal import HandlerState, Loader, PhotonDependencyError, PhotonReloadError
from luminal.testing import EventRecorder, WritePhoton
from tests.dependency_support import EVENTS, RUNNING, VIOLATIONS, ChainSpecs, clear, photon
from tests.watch_support import replace_atomically, wait_for


@pytest.fixture(autouse=True)
def _clean(watching: Loader) -> Iterator[None]:
    clear()
    watching.plugin_manager.add_hookspecs(ChainSpecs)
    yield
    clear()


@pytest.fixture
def chain(write_photon: WritePhoton) -> Path:
    """``web`` requires ``api``, which requires ``db>=1.2``."""
    write_photon("a_web.py", photon("web", requires=("api",)))
    write_photon("b_api.py", photon("api", requires=("db>=1.2",)))
    return Path(write_photon("c_db.py", photon("db", "1.5")))


async def test_watching_starts_a_tree_in_dependency_order(
    watching: Loader, photon_dir: Path, chain: Path
) -> None:
    await watching.watch_photons(photon_dir)
    assert EVENTS == ["start db-1.5", "start api-1.0", "start web-1.0"]


async def test_a_photon_waits_for_its_provider_and_starts_when_its_file_is_saved(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("api.py", photon("api", requires=("db>=1.2",)))
    await watching.watch_photons(photon_dir)
    api = watching.photons["api"]
    assert api.state is HandlerState.WAITING
    assert any(isinstance(error, PhotonDependencyError) for _, error in recorder.errors)
    replace_atomically(photon_dir / "db.py", photon("db", "1.2"))
    await wait_for(lambda: api.started)
    assert EVENTS == ["start db-1.2", "start api-1.0"]


async def test_a_provider_saved_in_a_version_too_old_leaves_the_photon_waiting(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    write_photon("api.py", photon("api", requires=("db>=1.2",)))
    await watching.watch_photons(photon_dir)
    replace_atomically(photon_dir / "db.py", photon("db", "1.0"))
    await wait_for(lambda: "start db-1.0" in EVENTS)
    replace_atomically(photon_dir / "db.py", photon("db", "1.3"))
    await wait_for(lambda: watching.photons["api"].started)
    assert EVENTS == ["start db-1.0", "finalize db-1.0", "start db-1.3", "start api-1.0"]


async def test_a_save_of_a_provider_reloads_its_chain_while_hooks_are_called(
    watching: Loader, photon_dir: Path, chain: Path
) -> None:
    await watching.watch_photons(photon_dir)
    calls = 0
    done = False

    async def call_in_a_loop() -> None:
        nonlocal calls
        while not done:
            answers = watching.plugin_manager.hook.chain()
            assert len(answers) <= 3
            calls += 1
            await asyncio.sleep(0)

    caller = asyncio.ensure_future(call_in_a_loop())
    EVENTS.clear()
    replace_atomically(chain, photon("db", "1.6"))
    await wait_for(lambda: "start web-1.0" in EVENTS)
    done = True
    await caller
    assert EVENTS == [
        "finalize web-1.0",
        "finalize api-1.0",
        "finalize db-1.5",
        "start db-1.6",
        "start api-1.0",
        "start web-1.0",
    ]
    assert calls > 0
    assert VIOLATIONS == []
    assert RUNNING["api"].providers["db"] is RUNNING["db"]
    assert RUNNING["web"].providers["api"] is RUNNING["api"]
    assert sorted(watching.plugin_manager.hook.chain()) == ["api-1.0", "db-1.6", "web-1.0"]


async def test_a_save_breaking_a_requirement_is_refused_under_watching(
    watching: Loader, photon_dir: Path, chain: Path, recorder: EventRecorder
) -> None:
    await watching.watch_photons(photon_dir)
    running = dict(RUNNING)
    EVENTS.clear()
    replace_atomically(chain, photon("db", "1.0"))
    await wait_for(
        lambda: any(isinstance(error, PhotonReloadError) for _, error in recorder.errors)
    )
    assert EVENTS == []
    assert running == RUNNING
    assert watching.photons["db"].version == "1.5"
    replace_atomically(chain, photon("db", "1.7"))
    await wait_for(lambda: "start web-1.0" in EVENTS)
    assert watching.photons["db"].version == "1.7"


async def test_deleting_a_provider_suspends_its_chain_and_a_new_file_restarts_it(
    watching: Loader, photon_dir: Path, chain: Path
) -> None:
    await watching.watch_photons(photon_dir)
    EVENTS.clear()
    chain.unlink()
    await wait_for(lambda: "db" not in watching.photons)
    assert EVENTS == ["finalize web-1.0", "finalize api-1.0", "finalize db-1.5"]
    assert watching.photons["api"].state is HandlerState.WAITING
    assert watching.photons["web"].state is HandlerState.WAITING
    replace_atomically(photon_dir / "db2.py", photon("db", "2.0"))
    replace_atomically(photon_dir / "b_api.py", photon("api", requires=("db>=2",)))
    await wait_for(lambda: watching.photons["web"].started)
    assert watching.photons["api"].started
    assert RUNNING["api"].providers["db"] is RUNNING["db"]


async def test_watching_two_trees_starts_a_provider_of_the_second_before_its_dependent(
    watching: Loader, trees: tuple[Path, Path], recorder: EventRecorder
) -> None:
    first, second = trees
    (first / "api.py").write_text(photon("api", requires=("db>=1.2",)))
    (second / "db.py").write_text(photon("db", "1.5"))
    await watching.watch_photons(first, more_directories=[second])
    assert EVENTS == ["start db-1.5", "start api-1.0"]
    assert recorder.errors == []  # api never waited for a db that was about to load
