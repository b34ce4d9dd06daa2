"""Random sequences of load / start / reload / unload / edits against a model of the registry."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from luminal import (
    Loader,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonReloadError,
    hookspec,
)

T = TypeVar("T")
FILES = ("alpha", "beta", "gamma")


class HostSpecs:
    @hookspec
    def version_of(self) -> str:  # type: ignore[empty-body]
        """Name and version of each running photon."""


def photon_source(stem: str, version: int, valid: bool) -> str:
    body = f"""
from luminal import IPhoton, hookimpl

class Photon_{stem}(IPhoton, name="{stem}"):
    @hookimpl
    def version_of(self):
        return "{stem}:{version}"
"""
    return body if valid else body + "\n    def broken(:\n"


@dataclass
class FileModel:
    version_on_disk: int = 0
    valid_on_disk: bool = True
    loaded_version: int | None = None
    started: bool = False


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp(prefix="luminal-prop-"))
        self.loader = Loader(finalize_timeout=1.0, stop_timeout=1.0)
        self.loader.plugin_manager.add_hookspecs(HostSpecs)
        self.model = {stem: FileModel() for stem in FILES}
        for stem in FILES:
            self.path(stem).write_text(photon_source(stem, 0, True))

    def path(self, stem: str) -> Path:
        return self.directory / f"{stem}.py"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @rule(stem=st.sampled_from(FILES), valid=st.booleans())
    def edit(self, stem: str, valid: bool) -> None:
        model = self.model[stem]
        model.version_on_disk += 1
        model.valid_on_disk = valid
        self.path(stem).write_text(photon_source(stem, model.version_on_disk, valid))

    @rule(stem=st.sampled_from(FILES))
    def load(self, stem: str) -> None:
        model = self.model[stem]
        if model.loaded_version is None and not model.valid_on_disk:
            try:
                self.run(self.loader.load_photon(self.path(stem)))
            except ImportError:
                return
            raise AssertionError("loading a broken file did not raise")
        self.run(self.loader.load_photon(self.path(stem)))
        if model.loaded_version is None:
            model.loaded_version = model.version_on_disk

    @rule(stem=st.sampled_from(FILES))
    def start(self, stem: str) -> None:
        model = self.model[stem]
        if model.loaded_version is None:
            return
        self.run(self.loader.photons[stem].start())
        model.started = True

    @rule(stem=st.sampled_from(FILES), by_path=st.booleans())
    def reload(self, stem: str, by_path: bool) -> None:
        model = self.model[stem]
        target = self.path(stem) if by_path else stem
        if model.loaded_version is None:
            try:
                self.run(self.loader.reload_photon(target))
            except PhotonNotFoundError:
                return
            raise AssertionError("reloading an unloaded photon did not raise")
        if not model.valid_on_disk:
            try:
                self.run(self.loader.reload_photon(target))
            except PhotonReloadError:
                return
            raise AssertionError("reloading a broken file did not raise")
        self.run(self.loader.reload_photon(target))
        model.loaded_version = model.version_on_disk

    @precondition(
        lambda self: any(model.loaded_version is not None for model in self.model.values())
    )
    @rule(data=st.data())
    def reload_all(self, data: st.DataObject) -> None:
        loaded = [stem for stem in FILES if self.model[stem].loaded_version is not None]
        chosen = data.draw(st.lists(st.sampled_from(loaded), min_size=1, unique=True))
        if not all(self.model[stem].valid_on_disk for stem in chosen):
            try:
                self.run(self.loader.reload_photons(chosen))
            except PhotonReloadError:
                return
            raise AssertionError("reload_photons with a broken file did not raise")
        self.run(self.loader.reload_photons(chosen))
        for stem in chosen:
            self.model[stem].loaded_version = self.model[stem].version_on_disk

    @rule(stem=st.sampled_from(FILES), force=st.booleans())
    def unload(self, stem: str, force: bool) -> None:
        model = self.model[stem]
        if model.loaded_version is None:
            try:
                self.run(self.loader.unload_photon(stem, force_stop=force))
            except PhotonNotFoundError:
                return
            raise AssertionError("unloading an unloaded photon did not raise")
        if not model.started and not force:
            try:
                self.run(self.loader.unload_photon(stem))
            except PhotonNotInitializedError:
                return
            raise AssertionError("unloading a never-started photon did not raise")
        assert self.run(self.loader.unload_photon(stem, force_stop=force)) is True
        model.loaded_version = None
        model.started = False

    @invariant()
    def registry_matches_model(self) -> None:
        loaded = {stem for stem, model in self.model.items() if model.loaded_version is not None}
        assert set(self.loader.photons) == loaded
        expected_answers = sorted(
            f"{stem}:{model.loaded_version}"
            for stem, model in self.model.items()
            if model.loaded_version is not None and model.started
        )
        assert sorted(self.loader.plugin_manager.hook.version_of()) == expected_answers
        for stem in loaded:
            handler = self.loader.photons[stem]
            assert handler.started == self.model[stem].started
            assert handler.module_name in sys.modules
        prefix = self.loader._namespace + "_"
        photon_modules = [name for name in sys.modules if name.startswith(prefix)]
        assert len(photon_modules) == len(loaded)

    def teardown(self) -> None:
        try:
            self.run(self.loader.close())
            prefix = self.loader._namespace + "_"
            assert not [name for name in sys.modules if name.startswith(prefix)]
        finally:
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)


RegistryMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_registry_follows_model = RegistryMachine.TestCase
