"""Photons that require each other: start order, unmet requirements, cycles, unloading a
provider and reloading it with its dependents in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from luminal import (
    Handler,
    HandlerState,
    Loader,
    PhotonDependencyError,
    PhotonReloadError,
    PhotonStartError,
)
from luminal.testing import EventRecorder, WritePhoton
from tests.dependency_support import (
    EVENTS,
    GATES,
    RUNNING,
    VIOLATIONS,
    ChainSpecs,
    clear,
    photon,
)
from tests.watch_support import wait_for


@pytest.fixture(autouse=True)
def _clean(loader: Loader) -> Iterator[None]:
    clear()
    loader.plugin_manager.add_hookspecs(ChainSpecs)
    yield
    clear()


@pytest.fixture
def chain(write_photon: WritePhoton) -> Path:
    """``web`` requires ``api``, which requires ``db``; the files sort dependents first."""
    write_photon("a_web.py", photon("web", requires=("api",)))
    write_photon("b_api.py", photon("api", requires=("db>=1.2",)))
    write_photon("c_db.py", photon("db", "1.5"))
    return Path(write_photon("d_cache.py", photon("cache"))).parent


async def start_all(handlers: list[Handler]) -> None:
    for handler in handlers:
        await handler.start()


async def test_load_photons_returns_providers_before_their_dependents(
    loader: Loader, chain: Path
) -> None:
    handlers = await loader.load_photons(chain)
    assert [handler.name for handler in handlers] == ["db", "api", "web", "cache"]
    await start_all(handlers)
    assert EVENTS == ["start db-1.5", "start api-1.0", "start web-1.0", "start cache-1.0"]
    assert RUNNING["web"].providers["api"] is RUNNING["api"]


async def test_handler_requires_gives_the_parsed_requirements(loader: Loader, chain: Path) -> None:
    await loader.load_photons(chain)
    assert [str(requirement) for requirement in loader.photons["api"].requires] == ["db>=1.2"]
    assert loader.photons["db"].requires == ()


async def test_a_missing_requirement_refuses_the_start_and_the_photon_waits(
    loader: Loader, write_photon: WritePhoton, observer: EventRecorder
) -> None:
    api = await loader.load_photon(write_photon("api.py", photon("api", requires=("db", "x>1"))))
    assert isinstance(api, Handler)
    with pytest.raises(PhotonDependencyError) as raised:
        await api.start()
    assert isinstance(raised.value, PhotonStartError)
    assert raised.value.photon_name == "api"
    assert raised.value.unmet == {"db": "not loaded", "x>1": "not loaded"}
    assert "db (not loaded)" in str(raised.value)
    assert api.state is HandlerState.WAITING
    assert not api.started
    assert [error for _, error in observer.errors] == [raised.value]
    assert EVENTS == []


async def test_a_requirement_loaded_but_not_started_is_unmet(loader: Loader, chain: Path) -> None:
    await loader.load_photons(chain)
    with pytest.raises(PhotonDependencyError) as raised:
        await loader.photons["api"].start()
    assert raised.value.unmet == {"db>=1.2": "not running"}


@pytest.mark.parametrize(
    ("provided", "required", "met"),
    [
        ("1.0", "db>=1.0", True),
        ("1.0", "db==1", True),
        ("1.0.0", "db==1.0", True),
        ("2.0", "db<2", False),
        ("2.0rc1", "db>=2.0rc1", True),
        ("2.0rc1", "db<2", False),  # PEP 440: "<2" excludes 2.0 pre-releases
        (None, "db>=1", False),
        (None, "db", True),
        ("banana", "db>=1", False),
        ("banana", "db", True),
    ],
)
async def test_versions_are_matched_as_pep_440_versions(
    loader: Loader, write_photon: WritePhoton, provided: str | None, required: str, met: bool
) -> None:
    version = "" if provided is None else f", version={provided!r}"
    write_photon(
        "db.py",
        f"""
        from luminal import IPhoton

        class Db(IPhoton, name="db"{version}):
            async def finalize(self):
                pass
        """,
    )
    write_photon("api.py", photon("api", requires=(required,), start="return"))
    handlers = await loader.load_photons(write_photon("x.txt", "").parent)
    await handlers[0].start()
    if met:
        await handlers[1].start()
        assert handlers[1].started
    else:
        with pytest.raises(PhotonDependencyError) as raised:
            await handlers[1].start()
        shown = "0.0.0" if provided is None else provided
        assert raised.value.unmet == {required: f"version {shown} runs"}


async def test_a_waiting_photon_starts_by_itself_once_its_requirements_run(
    loader: Loader, chain: Path
) -> None:
    handlers = {handler.name: handler for handler in await loader.load_photons(chain)}
    for name in ("web", "api"):
        with pytest.raises(PhotonDependencyError):
            await handlers[name].start()
    await handlers["db"].start()
    assert handlers["api"].started
    assert handlers["web"].started
    assert EVENTS == ["start db-1.5", "start api-1.0", "start web-1.0"]
    assert not handlers["cache"].started  # never asked to start: it does not wait


async def test_a_cycle_of_three_is_refused_before_any_of_it_starts(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("a.py", photon("a", requires=("b",)))
    write_photon("b.py", photon("b", requires=("c",)))
    directory = write_photon("c.py", photon("c", requires=("a",))).parent
    handlers = await loader.load_photons(directory)
    assert sorted(handler.name for handler in handlers) == ["a", "b", "c"]
    for handler in handlers:
        with pytest.raises(PhotonDependencyError) as raised:
            await handler.start()
        assert len(raised.value.cycle) == 4
        assert set(raised.value.cycle) == {"a", "b", "c"}
        assert raised.value.cycle[0] == raised.value.cycle[-1] == handler.name
    assert "a -> b -> c -> a" in str(raised.value) or "c -> a -> b -> c" in str(raised.value)
    assert EVENTS == []


async def test_a_photon_leading_into_a_cycle_is_refused_with_the_cycle(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("a.py", photon("a", requires=("b",)))
    write_photon("b.py", photon("b", requires=("c",)))
    directory = write_photon("c.py", photon("c", requires=("b",))).parent
    handlers = {handler.name: handler for handler in await loader.load_photons(directory)}
    with pytest.raises(PhotonDependencyError) as raised:
        await handlers["a"].start()
    assert raised.value.cycle == ("b", "c", "b")


async def test_unloading_a_provider_stops_its_dependents_first_and_they_wait(
    loader: Loader, chain: Path, observer: EventRecorder
) -> None:
    await start_all(await loader.load_photons(chain))
    EVENTS.clear()
    assert await loader.unload_photon("db") is True
    assert EVENTS == ["finalize web-1.0", "finalize api-1.0", "finalize db-1.5"]
    assert loader.photons["api"].state is HandlerState.WAITING
    assert loader.photons["web"].state is HandlerState.WAITING
    assert "db" not in loader.photons
    assert loader.photons["cache"].started
    assert sorted(loader.plugin_manager.hook.chain()) == ["cache-1.0"]


async def test_loading_and_starting_the_provider_again_restarts_its_dependents(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    await loader.unload_photon("db")
    EVENTS.clear()
    db = await loader.load_photon(chain / "c_db.py")
    assert isinstance(db, Handler)
    await db.start()
    assert EVENTS == ["start db-1.5", "start api-1.0", "start web-1.0"]
    assert RUNNING["api"].providers["db"] is RUNNING["db"]


async def test_stopping_a_provider_stops_its_dependents_first_and_they_start_again_with_it(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    EVENTS.clear()
    db = loader.photons["db"]
    assert await db.stop() is True
    assert EVENTS == ["finalize web-1.0", "finalize api-1.0", "finalize db-1.5"]
    assert loader.photons["api"].state is HandlerState.WAITING
    assert loader.photons["web"].state is HandlerState.WAITING
    assert loader.photons["cache"].started
    assert sorted(loader.plugin_manager.hook.chain()) == ["cache-1.0"]
    EVENTS.clear()
    await db.start()
    assert EVENTS == ["start db-1.5", "start api-1.0", "start web-1.0"]
    assert RUNNING["api"].providers["db"] is RUNNING["db"]
    assert VIOLATIONS == []


async def test_a_waiting_photon_unloads_without_force_stop(loader: Loader, chain: Path) -> None:
    await start_all(await loader.load_photons(chain))
    await loader.unload_photon("db")
    assert await loader.unload_photon("web") is True
    assert "web" not in loader.photons


async def test_a_provider_unloaded_while_a_dependent_starts_waits_for_that_start(
    loader: Loader, write_photon: WritePhoton
) -> None:
    GATES["api"] = asyncio.Event()
    write_photon("db.py", photon("db"))
    start = "EVENTS.append('api starting')\n        await GATES['api'].wait()"
    source = photon("api", requires=("db",), start=start)
    write_photon("api.py", source.replace("def photon_start", "async def photon_start"))
    db, api = await loader.load_photons(write_photon("x.txt", "").parent)
    await db.start()
    starting = asyncio.ensure_future(api.start())
    await wait_for(lambda: "api starting" in EVENTS)
    unloading = asyncio.ensure_future(loader.unload_photon("db"))
    for _ in range(20):  # let the unload run up to api's lock
        await asyncio.sleep(0)
    assert not unloading.done()
    GATES["api"].set()
    await starting
    assert await unloading is True
    assert EVENTS == [
        "start db-1.0",
        "api starting",
        "start api-1.0",
        "finalize api-1.0",
        "finalize db-1.0",
    ]
    assert api.state is HandlerState.WAITING


async def test_reloading_a_provider_restarts_its_dependents_in_one_transaction(
    loader: Loader, chain: Path, observer: EventRecorder
) -> None:
    await start_all(await loader.load_photons(chain))
    old_api = RUNNING["api"]
    EVENTS.clear()
    (chain / "c_db.py").write_text(photon("db", "1.6"))
    new_db = await loader.reload_photon("db")
    assert isinstance(new_db, Handler)
    assert EVENTS == [
        "finalize web-1.0",
        "finalize api-1.0",
        "finalize db-1.5",
        "start db-1.6",
        "start api-1.0",
        "start web-1.0",
    ]
    assert RUNNING["api"] is not old_api
    assert RUNNING["api"].providers["db"] is RUNNING["db"]
    assert RUNNING["web"].providers["api"] is RUNNING["api"]
    assert (RUNNING["db"].count, RUNNING["api"].count, RUNNING["web"].count) == (1, 1, 1)
    assert loader.photons["api"].started
    assert sorted(loader.plugin_manager.hook.chain()) == [
        "api-1.0",
        "cache-1.0",
        "db-1.6",
        "web-1.0",
    ]
    assert VIOLATIONS == []


async def test_reload_photons_returns_handlers_in_dependency_order(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    handlers = await loader.reload_photons(["web", "cache", "api"])
    assert [handler.name for handler in handlers] == ["api", "web", "cache"]


async def test_a_dependent_failing_to_start_in_the_reload_rolls_everything_back(
    loader: Loader, chain: Path
) -> None:
    (chain / "a_web.py").write_text(
        photon(
            "web",
            requires=("api",),
            start="if RUNNING['db'].chain() == 'db-1.6': raise OSError('no db 1.6')",
        )
    )
    await start_all(await loader.load_photons(chain))
    old = {name: RUNNING[name] for name in ("db", "api", "web")}
    EVENTS.clear()
    (chain / "c_db.py").write_text(photon("db", "1.6"))
    with pytest.raises(PhotonReloadError) as raised:
        await loader.reload_photon("db")
    assert isinstance(raised.value.__cause__, PhotonStartError)
    assert EVENTS[:6] == [
        "finalize web-1.0",
        "finalize api-1.0",
        "finalize db-1.5",
        "start db-1.6",
        "start api-1.0",
        "finalize web-1.0",  # its failed start finalizes the new instance
    ]
    assert EVENTS[6:] == [
        "finalize api-1.0",
        "finalize db-1.6",
        "start db-1.5",
        "start api-1.0",
        "start web-1.0",
    ]
    assert loader.photons["db"].version == "1.5"
    assert all(loader.photons[name].started for name in ("db", "api", "web"))
    assert all(RUNNING[name] is not old[name] for name in old)
    assert RUNNING["web"].providers["api"] is RUNNING["api"]
    assert RUNNING["api"].providers["db"] is RUNNING["db"]
    assert RUNNING["api"].count == 1  # the state it exported before the reload
    assert sorted(loader.plugin_manager.hook.chain())[2] == "db-1.5"


async def test_a_reload_that_breaks_a_requirement_is_refused_and_nothing_changes(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    running = dict(RUNNING)
    EVENTS.clear()
    (chain / "c_db.py").write_text(photon("db", "1.0"))
    with pytest.raises(PhotonReloadError) as raised:
        await loader.reload_photon("db")
    cause = raised.value.__cause__
    assert isinstance(cause, PhotonDependencyError)
    assert (cause.photon_name, cause.unmet) == ("api", {"db>=1.2": "version 1.0 runs"})
    assert "nothing changed" in str(raised.value)
    assert EVENTS == []
    assert running == RUNNING
    assert loader.photons["db"].version == "1.5"


async def test_a_reload_adding_an_unmet_requirement_is_refused(loader: Loader, chain: Path) -> None:
    await start_all(await loader.load_photons(chain))
    (chain / "c_db.py").write_text(photon("db", "1.5", ("missing",)))
    with pytest.raises(PhotonReloadError) as raised:
        await loader.reload_photon("db")
    assert isinstance(raised.value.__cause__, PhotonDependencyError)
    assert raised.value.__cause__.unmet == {"missing": "not loaded"}
    assert loader.photons["db"].started
    assert loader.photons["web"].started


async def test_a_reload_closing_a_cycle_is_refused(loader: Loader, chain: Path) -> None:
    await start_all(await loader.load_photons(chain))
    (chain / "c_db.py").write_text(photon("db", "1.5", ("web",)))
    with pytest.raises(PhotonReloadError) as raised:
        await loader.reload_photon("db")
    assert isinstance(raised.value.__cause__, PhotonDependencyError)
    assert set(raised.value.__cause__.cycle) == {"db", "api", "web"}


async def test_close_finalizes_dependents_before_their_providers(
    chain: Path, write_photon: WritePhoton
) -> None:
    async with Loader() as loader:
        loader.plugin_manager.add_hookspecs(ChainSpecs)
        await start_all(await loader.load_photons(chain))
        EVENTS.clear()
    assert EVENTS == ["finalize cache-1.0", "finalize web-1.0", "finalize api-1.0",
                      "finalize db-1.5"]  # fmt: skip


def state_of(loader: Loader, name: str) -> HandlerState:
    return loader.photons[name].state  # read anew after each operation (mypy narrows a property)


def failing_chain(source: str) -> str:
    """``source`` with a ``chain`` implementation that raises."""
    return source.replace("def chain(self):", "def chain(self):\n        raise ValueError('no')")


async def quarantined_api(chain: Path) -> Loader:
    """A loader running the chain with ``api`` quarantined (by one failing ``chain`` call)."""
    (chain / "b_api.py").write_text(failing_chain(photon("api", requires=("db>=1.2",))))
    loader = Loader(quarantine_after=1, finalize_timeout=2.0, stop_timeout=2.0)
    loader.plugin_manager.add_hookspecs(ChainSpecs)
    await start_all(await loader.load_photons(chain))
    assert sorted(await loader.acall("chain")) == ["cache-1.0", "db-1.5", "web-1.0"]
    assert state_of(loader, "api") is HandlerState.QUARANTINED
    return loader


async def test_a_quarantined_dependent_stays_quarantined_when_its_provider_reloads(
    chain: Path,
) -> None:
    async with await quarantined_api(chain) as loader:
        EVENTS.clear()
        await loader.reload_photon("db")
        assert "start api-1.0" in EVENTS  # restarted on the new db
        assert RUNNING["api"].providers["db"] is RUNNING["db"]
        assert state_of(loader, "api") is HandlerState.QUARANTINED
        assert loader.plugin_manager.get_plugin("api") is None
        assert sorted(await loader.acall("chain")) == ["cache-1.0", "db-1.5", "web-1.0"]


async def test_a_quarantined_dependent_stays_quarantined_when_its_provider_comes_back(
    chain: Path,
) -> None:
    async with await quarantined_api(chain) as loader:
        await loader.unload_photon("db")
        assert state_of(loader, "api") is HandlerState.WAITING
        db = await loader.load_photon(chain / "c_db.py")
        assert isinstance(db, Handler)
        await db.start()
        assert state_of(loader, "web") is HandlerState.STARTED
        assert state_of(loader, "api") is HandlerState.QUARANTINED
        assert loader.plugin_manager.get_plugin("api") is None


async def test_a_quarantined_photon_stays_quarantined_when_its_reload_rolls_back(
    chain: Path,
) -> None:
    async with await quarantined_api(chain) as loader:
        broken = photon("api", requires=("db>=1.2",), start="raise OSError('no start')")
        (chain / "b_api.py").write_text(broken)
        with pytest.raises(PhotonReloadError):
            await loader.reload_photon("api")
        assert state_of(loader, "api") is HandlerState.QUARANTINED
        assert loader.plugin_manager.get_plugin("api") is None
        (chain / "b_api.py").write_text(photon("api", requires=("db>=1.2",)))
        await loader.reload_photon("api")  # a good reload brings it back
        assert state_of(loader, "api") is HandlerState.STARTED
        assert "api-1.0" in await loader.acall("chain")


async def test_a_waiting_photon_reloaded_still_starts_once_its_provider_runs(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    await loader.unload_photon("db")
    (chain / "b_api.py").write_text(photon("api", "1.1", requires=("db>=1.2",)))
    await loader.reload_photon("api")
    assert state_of(loader, "api") is HandlerState.WAITING
    EVENTS.clear()
    db = await loader.load_photon(chain / "c_db.py")
    assert isinstance(db, Handler)
    await db.start()
    assert EVENTS == ["start db-1.5", "start api-1.1", "start web-1.0"]
    assert RUNNING["web"].providers["api"] is RUNNING["api"]


async def test_a_reloaded_waiting_photon_whose_requirements_run_starts_at_once(
    loader: Loader, chain: Path
) -> None:
    await start_all(await loader.load_photons(chain))
    await loader.unload_photon("db")
    EVENTS.clear()
    (chain / "b_api.py").write_text(photon("api", "1.1"))  # no longer requires db
    await loader.reload_photon("api")
    assert EVENTS == ["start api-1.1", "start web-1.0"]
    assert state_of(loader, "web") is HandlerState.STARTED


async def test_a_dependent_is_not_restarted_on_a_provider_that_failed_to_come_back(
    loader: Loader, chain: Path, observer: EventRecorder
) -> None:
    """``api`` refuses every state it is given, so the rollback cannot restart it either:
    ``web`` waits for it rather than start without it."""
    refusing = photon("api", requires=("db>=1.2",)).replace(
        "self.count = state + 1", "raise ValueError('no state')"
    )
    (chain / "b_api.py").write_text(refusing)
    await start_all(await loader.load_photons(chain))
    EVENTS.clear()
    (chain / "c_db.py").write_text(photon("db", "1.6"))
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("db")
    assert EVENTS[-3:] == ["finalize db-1.6", "start db-1.5", "finalize api-1.0"]
    assert loader.photons["db"].version == "1.5"
    assert state_of(loader, "api") is HandlerState.LOADED
    assert state_of(loader, "web") is HandlerState.WAITING
    waiting = [error for _, error in observer.errors if isinstance(error, PhotonDependencyError)]
    assert [error.photon_name for error in waiting] == ["web"]
    assert waiting[0].unmet == {"api": "not running"}
    (chain / "b_api.py").write_text(photon("api", requires=("db>=1.2",)))
    await loader.reload_photon("api")
    await loader.photons["api"].start()
    assert state_of(loader, "web") is HandlerState.STARTED
    assert RUNNING["web"].providers["api"] is RUNNING["api"]


async def test_a_waiting_photon_unloaded_while_others_wake_leaves_the_providers_start_alone(
    loader: Loader, write_photon: WritePhoton
) -> None:
    """``db``'s start wakes ``api`` and ``x``; ``x`` is unloaded while ``api`` starts."""
    GATES["api"] = asyncio.Event()
    write_photon("a_db.py", photon("db"))
    start = "EVENTS.append('api starting')\n        await GATES['api'].wait()"
    source = photon("api", requires=("db",), start=start)
    write_photon("b_api.py", source.replace("def photon_start", "async def photon_start"))
    write_photon("c_x.py", photon("x", requires=("db",)))
    db, api, x = await loader.load_photons(write_photon("x.txt", "").parent)
    for waiting in (api, x):
        with pytest.raises(PhotonDependencyError):
            await waiting.start()
    starting = asyncio.ensure_future(db.start())
    await wait_for(lambda: "api starting" in EVENTS)
    assert await loader.unload_photon("x") is True
    GATES["api"].set()
    await starting  # no PhotonNotFoundError about x out of db's start
    assert db.started
    assert api.started
    assert "x" not in loader.photons


async def test_a_reload_closing_a_cycle_through_a_waiting_photon_is_refused(
    loader: Loader, chain: Path
) -> None:
    """``api`` waits for ``db``; its new version would also require ``web``, which requires
    it: a cycle that would keep both waiting for ever, whatever comes back."""
    await start_all(await loader.load_photons(chain))
    await loader.unload_photon("db")
    (chain / "b_api.py").write_text(photon("api", "1.1", requires=("db>=1.2", "web")))
    with pytest.raises(PhotonReloadError) as raised:
        await loader.reload_photon("api")
    assert isinstance(raised.value.__cause__, PhotonDependencyError)
    assert raised.value.__cause__.cycle == ("api", "web", "api")
    assert loader.photons["api"].version == "1.0"
    assert state_of(loader, "api") is HandlerState.WAITING


async def test_a_dependent_whose_export_raises_fails_its_providers_reload_with_nothing_changed(
    loader: Loader, chain: Path
) -> None:
    # Its state would be lost: as its own reload fails, so does the transaction it is part of.
    exporting = photon("api", requires=("db>=1.2",))
    (chain / "b_api.py").write_text(
        exporting.replace("return self.count", "raise RuntimeError('no export')")
    )
    await start_all(await loader.load_photons(chain))
    running = dict(RUNNING)
    EVENTS.clear()
    (chain / "c_db.py").write_text(photon("db", "1.6"))
    with pytest.raises(PhotonReloadError, match="no export"):
        await loader.reload_photon("db")
    assert EVENTS == []
    assert dict(RUNNING) == running  # the same instances run on
    assert loader.photons["db"].version == "1.5"
    assert all(loader.photons[name].started for name in ("db", "api", "web"))
