"""Finding a photon's hook implementations quickly, and checking them against the specs before
it is registered."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pluggy

__all__ = ["PhotonPluginManager", "check_hookimpls"]

_OBJECT_NAMES = frozenset(vars(object))


class PhotonPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` that skips, when it looks for hook implementations, the
    attributes an instance inherits unchanged from :class:`object`.

    They are most of the names ``dir()`` gives for a photon, they can carry no hook marker
    (attributes cannot be set on :class:`object`'s members), and pluggy's static lookup of each
    is the larger part of ``register``. Anything else is looked up by pluggy, as before.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if name in _OBJECT_NAMES and _inherited_from_object(plugin, name):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _inherited_from_object(plugin: object, name: str) -> bool:
    """Whether ``plugin.name`` is :class:`object`'s own member: a plain instance (not a class
    or module) whose instance dictionary and classes, but ``object``, do not define it."""
    if isinstance(plugin, (type, ModuleType)):
        return False
    try:  # as pluggy reads it: no __getattr__ or descriptor of the plugin runs
        instance_dict = object.__getattribute__(plugin, "__dict__")
    except AttributeError:
        instance_dict = {}
    classes = type(plugin).__mro__
    return (
        classes[-1] is object
        and not (isinstance(instance_dict, dict) and name in instance_dict)
        and not any(name in vars(owner) for owner in classes[:-1])
    )


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
