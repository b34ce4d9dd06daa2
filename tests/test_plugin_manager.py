"""Luminal's default plugin manager finds exactly the hook implementations pluggy's finds, while
skipping the members every instance inherits from ``object``."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import pluggy
import pytest

from luminal import IPhoton, Loader, hookimpl, hookspec
from luminal.managers.hookimpls import PhotonPluginManager


class Specs:
    @hookspec
    def answer(self, question: str) -> str:  # type: ignore[empty-body]
        """Answer a question."""


class Answering(IPhoton, name="answering"):
    @hookimpl
    def answer(self, question: str) -> str:
        return question

    def __repr__(self) -> str:
        return "answering"


class Plain:
    @hookimpl
    def answer(self, question: str) -> str:
        return question.upper()


class AsClass:
    @hookimpl
    @staticmethod
    def answer(question: str) -> str:
        return question[::-1]


def _in_instance_dict() -> Any:
    plugin = Plain()

    @hookimpl
    def answer(question: str) -> str:
        return "instance"

    plugin.__dict__["answer"] = answer
    return plugin


def _module() -> ModuleType:
    module = ModuleType("answering_module")

    @hookimpl
    def answer(question: str) -> str:
        return "module"

    module.answer = answer  # type: ignore[attr-defined]
    return module


def _registered(manager_class: type[pluggy.PluginManager], plugin: Any) -> list[tuple[str, str]]:
    manager = manager_class("luminal")
    manager.add_hookspecs(Specs)
    manager.register(plugin, name="plugin")
    return sorted(
        (caller.name, impl.function.__qualname__)
        for caller in manager.get_hookcallers(plugin) or []
        for impl in caller.get_hookimpls()
    )


@pytest.mark.parametrize(
    "plugin",
    [Answering(), Plain(), AsClass, _in_instance_dict(), _module()],
    ids=["photon", "plain", "class", "instance-dict", "module"],
)
def test_finds_what_pluggy_finds(plugin: Any) -> None:
    assert _registered(PhotonPluginManager, plugin) == _registered(pluggy.PluginManager, plugin)
    assert _registered(PhotonPluginManager, plugin) != []


def test_object_members_are_not_looked_up_by_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    original = pluggy.PluginManager.parse_hookimpl_opts

    def counting(self: pluggy.PluginManager, plugin: object, name: str) -> Any:
        looked_up.append(name)
        return original(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", counting)
    PhotonPluginManager("luminal").register(Answering(), name="answering")
    assert {"answer", "__repr__", "spawn_thread"} <= set(looked_up)  # defined below object
    assert not {"__str__", "__setattr__", "__reduce_ex__"} & set(looked_up)


async def test_a_loader_makes_its_plugin_manager_a_photon_plugin_manager() -> None:
    async with Loader() as loader:
        assert isinstance(loader.plugin_manager, PhotonPluginManager)
    assert "luminal.managers.hookimpls" in sys.modules
