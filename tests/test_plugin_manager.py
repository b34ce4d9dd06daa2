"""Luminal's default plugin manager finds exactly the hook implementations pluggy's finds, while
reading a photon's plain members (functions, values, ``object``'s) from its class itself."""

from __future__ import annotations

import abc
import sys
from types import ModuleType
from typing import Any, ClassVar

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


def test_plain_members_are_not_looked_up_by_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    original = pluggy.PluginManager.parse_hookimpl_opts

    def counting(self: pluggy.PluginManager, plugin: object, name: str) -> Any:
        looked_up.append(name)
        return original(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", counting)
    PhotonPluginManager("luminal").register(Answering(), name="answering")
    assert "_luminal_ownership" in looked_up  # a property: pluggy decides
    assert not {"answer", "spawn_thread", "photon_name", "__str__", "__reduce_ex__"} & set(
        looked_up
    )


def _unmarked(question: str) -> str:
    return question


def _marked(question: str) -> str:
    return question


_marked.luminal_impl = {"tryfirst": True}  # type: ignore[attr-defined]


class Tricky(IPhoton, name="tricky"):
    """Members pluggy must be asked about, beside plain ones."""

    plain_function = _unmarked
    marked_function = _marked
    number = 3
    data: ClassVar[dict[str, int]] = {"answer": 1}

    @hookimpl
    def answer(self, question: str) -> str:
        return question

    @property
    def hook_property(self) -> Any:
        return _marked

    @hookimpl
    @classmethod
    def class_hook(cls, question: str) -> str:
        return question

    @hookimpl
    @staticmethod
    def static_hook(question: str) -> str:
        return question

    def not_a_hook(self) -> None:
        return None


Tricky.not_a_hook.luminal_impl = "not options"  # type: ignore[attr-defined]


class Slotted:
    __slots__ = ("answer", "unset")

    def __init__(self) -> None:
        self.answer = _marked


class Abstract(IPhoton, abc.ABC):  # no class keywords: ABCMeta takes none on 3.10
    @hookimpl
    def answer(self, question: str) -> str:
        return question


class CustomLookup(Answering, name="custom"):
    def __getattribute__(self, name: str) -> Any:
        return object.__getattribute__(self, name)


def _marked_through_func(question: str) -> str:
    return question


_marked_through_func.__func__ = _marked  # type: ignore[attr-defined]


def _none_through_func(question: str) -> str:
    return question


_none_through_func.luminal_impl = None  # type: ignore[attr-defined]
_none_through_func.__func__ = _marked  # type: ignore[attr-defined]


class MarkedThroughFunc:
    """Plain functions whose options pluggy 1.7 reads from their ``__func__`` attribute."""

    answer = _marked_through_func
    other = _none_through_func


def _overridden() -> Any:
    photon = Tricky()
    photon.__dict__["answer"] = _unmarked
    photon.__dict__["extra"] = _marked
    return photon


@pytest.mark.parametrize(
    "plugin",
    [
        Tricky(),
        _overridden(),
        Slotted(),
        Abstract(),
        CustomLookup(),
        MarkedThroughFunc(),
        Tricky,
        _module(),
    ],
    ids=["members", "instance-dict", "slots", "abc", "getattribute", "func", "class", "module"],
)
def test_every_member_has_the_options_pluggy_gives(plugin: Any) -> None:
    photon_manager = PhotonPluginManager("luminal")
    pluggy_manager = pluggy.PluginManager("luminal")
    for name in dir(plugin):
        assert photon_manager.parse_hookimpl_opts(
            plugin, name
        ) is pluggy_manager.parse_hookimpl_opts(plugin, name), name


async def test_a_loader_makes_its_plugin_manager_a_photon_plugin_manager() -> None:
    async with Loader() as loader:
        assert isinstance(loader.plugin_manager, PhotonPluginManager)
    assert "luminal.managers.hookimpls" in sys.modules
