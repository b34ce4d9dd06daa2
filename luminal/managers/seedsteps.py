"""The seed's private steps of a load, still callable by hosts written against its ``Loader``:
importing, validating and scanning one source, resolving a reference, and putting a failed
reload's previous version back. The loader's own operations do not go through them."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from luminal.managers.handler import Handler
from luminal.managers.registry import PhotonRef, Registry
from luminal.managers.reload import restart_previous
from luminal.managers.reporting import Reporter
from luminal.managers.staging import Staging
from luminal.reading import canonical_path
from luminal.tree import find_modules, scan_module

__all__ = ["SeedSteps"]


class SeedSteps:
    """The seed ``Loader``'s private step methods, over the loader's registry and staging."""

    _registry: Registry
    _staging: Staging
    _reporter: Reporter

    async def _import_module(self, module_path: str | os.PathLike[str]) -> ModuleType:
        """Import a source under its private name, registering nothing (:meth:`load_photon`
        does that once it is validated); :class:`ModuleNotFoundError` if there is none."""
        path = canonical_path(module_path)
        directory = self._registry.given_directory(path)
        return (await self._staging.importer.import_one(path, False, (), directory)).module

    async def _validate_module(
        self,
        imported_module: ModuleType,
        photon_path: str | os.PathLike[str],
        photon_base: type,
        other_classes: Sequence[str] = (),
    ) -> list[Handler]:
        """A handler per photon class of the module (``[]`` for none, the seed's ``False``);
        :class:`PhotonNameConflictError` if two share a name."""
        return self._staging.validate(imported_module, photon_path, photon_base, other_classes)

    async def _scan_module(self, path: str | os.PathLike[str]) -> tuple[str, bool, bool]:
        """``(path, is_dir, packages_only)`` of a module or package (see :func:`scan_module`)."""
        return scan_module(canonical_path(path))

    async def _find_modules(
        self, path: str | os.PathLike[str]
    ) -> tuple[list[tuple[str, bool]], bool]:
        """The photon sources directly in a directory: ``([(path, is_dir)], packages_only)``."""
        return find_modules(canonical_path(path))

    async def _check_photon(self, photon: PhotonRef) -> Handler | list[Handler]:
        """The handler(s) a handler, name or path names; :meth:`Registry.resolve` raises."""
        return self._registry.named(photon)

    async def _revert_photon(
        self,
        validated_photon: Handler | list[Handler],
        validated_modules: dict[str, ModuleType],
        states: Mapping[str, Any] | None = None,
    ) -> None:
        """Put a photon's previous version back (a step of the reload transaction now)."""
        handlers = validated_photon if isinstance(validated_photon, list) else [validated_photon]
        sys.modules.update(validated_modules)
        await restart_previous(self._reporter, handlers, states)
