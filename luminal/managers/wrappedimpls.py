"""The wrapped copies of photons' hook implementations that the loader's hook calls run, kept
only while their photon's instance is registered."""

from __future__ import annotations

import pluggy

__all__ = ["WrappedImpls"]

Entry = tuple[pluggy.HookImpl, pluggy.HookImpl]
"""pluggy's implementation and its wrapped copy."""


class WrappedImpls:
    """Each photon implementation's wrapped copy, per hook, made once per registration.

    ``loader.acall``/``loader.call`` find a copy by the id of pluggy's implementation on every
    call. A copy holds the photon's instance, so the handler that unregisters an instance
    (unload, reload, quarantine, a failed start) calls :meth:`forget`: nothing kept here
    outlives the registration, even if the hook is never called again.
    """

    def __init__(self) -> None:
        self._by_hook: dict[str, dict[int, Entry]] = {}
        self._by_plugin: dict[int, list[tuple[dict[int, Entry], int]]] = {}

    def of_hook(self, hook_name: str) -> dict[int, Entry]:
        """The copies made for ``hook_name``: id of pluggy's implementation → entry."""
        copies = self._by_hook.get(hook_name)
        if copies is None:
            copies = self._by_hook[hook_name] = {}
        return copies

    def add(
        self, copies: dict[int, Entry], impl: pluggy.HookImpl, wrapped: pluggy.HookImpl
    ) -> None:
        """Keep ``wrapped`` as the copy of ``impl`` in ``copies`` (one hook's, from
        :meth:`of_hook`) until its plugin is forgotten."""
        copies[id(impl)] = (impl, wrapped)
        self._by_plugin.setdefault(id(impl.plugin), []).append((copies, id(impl)))

    def forget(self, plugin: object) -> None:
        """Drop every copy of ``plugin``'s implementations: it was unregistered."""
        for copies, key in self._by_plugin.pop(id(plugin), ()):
            entry = copies.get(key)
            if entry is not None and entry[0].plugin is plugin:
                del copies[key]
