"""Finding a photon's hook implementations quickly, and checking them against the specs before
it is registered."""

from __future__ import annotations

import abc
from types import FunctionType, ModuleType
from typing import Any, cast

import pluggy

__all__ = ["PhotonPluginManager", "check_hookimpls"]

_DEFER: Any = object()
"""A member whose hook options only pluggy's own lookup can tell."""

# Class attributes that are no descriptor: pluggy binds nothing of them, so they are no hook.
_PLAIN_VALUES = (str, bytes, int, float, bool, type(None), tuple, list, dict, set, frozenset)
# Metaclasses that change nothing in how an instance's attributes are found.
_PLAIN_METACLASSES = (type, abc.ABCMeta)


class PhotonPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` that reads a photon's hook markers from its class.

    For an instance whose class has a plain metaclass and no ``__getattribute__`` of its own, a
    member that the instance dictionary lacks and that the class (or a base, :class:`object`
    included) holds as a plain function or a plain value is what pluggy's lookup finds: its
    options are the function's marker, and a value or a member of :class:`object` (which cannot
    carry a marker) is no hook. Every other member (properties, class and static methods, what
    the instance dictionary holds) and every other plugin (a class, a module) is looked up by
    pluggy, as before: that lookup (``inspect.getattr_static`` of each name ``dir()`` gives) was
    most of what registering a photon cost.
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self._marker = project_name + "_impl"

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        member = _class_member(plugin, name)
        if member is _DEFER:
            return super().parse_hookimpl_opts(plugin, name)
        if isinstance(member, FunctionType):
            opts = getattr(member, self._marker, None)
            if opts is None and "__func__" in member.__dict__:
                # pluggy (1.7) then reads the marker of what ``__func__`` holds: its rule.
                return super().parse_hookimpl_opts(plugin, name)
            return cast("pluggy.HookimplOpts", opts) if isinstance(opts, dict) else None
        return None


def _class_member(plugin: object, name: str) -> Any:
    """The member of ``plugin``'s class that ``plugin.name`` is, when it is a plain function, a
    plain value or :class:`object`'s (no ``__getattribute__``, descriptor or instance
    dictionary of the plugin in the way); :data:`_DEFER` otherwise."""
    if isinstance(plugin, (type, ModuleType)):
        return _DEFER
    plugin_class = type(plugin)
    if (
        type(plugin_class) not in _PLAIN_METACLASSES
        or plugin_class.__getattribute__ is not object.__getattribute__
    ):
        return _DEFER
    try:  # as pluggy reads it: no __getattr__ or descriptor of the plugin runs
        instance_dict = object.__getattribute__(plugin, "__dict__")
    except AttributeError:
        instance_dict = {}
    if not isinstance(instance_dict, dict) or name in instance_dict:
        return _DEFER
    for owner in plugin_class.__mro__:
        if name in owner.__dict__:
            member = owner.__dict__[name]
            plain = owner is object or type(member) is FunctionType or type(member) in _PLAIN_VALUES
            return member if plain else _DEFER
    return _DEFER


def check_hookimpls(plugin_manager: pluggy.PluginManager, instance: Any, name: str) -> None:
    """Reject hook implementations whose arguments the spec lacks, before registering.

    pluggy's ``register`` is not atomic: it can fail half-way through. Validating first
    means a failed start never leaves half a registration behind.
    """
    for attribute in dir(instance):
        # Only names with a spec can fail: parsing every attribute doubles register's cost.
        spec = getattr(getattr(plugin_manager.hook, attribute, None), "spec", None)
        if spec is None:
            continue
        opts = plugin_manager.parse_hookimpl_opts(instance, attribute)
        if opts is None:
            continue
        impl = pluggy.HookImpl(instance, name, getattr(instance, attribute), opts)
        unknown = set(impl.argnames) - set(spec.argnames)
        if unknown:
            raise pluggy.PluginValidationError(
                instance,
                f"hook {attribute} of photon {name!r} takes unknown argument(s) "
                f"{sorted(unknown)}; the spec has {list(spec.argnames)}",
            )
