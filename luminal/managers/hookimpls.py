"""Checking a photon's hook implementations against the specs before it is registered."""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["check_hookimpls"]


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
