"""Attributes of a package imported when first asked for (PEP 562), one rule for every package
of Luminal that defers its imports."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["package_attribute"]


def package_attribute(
    namespace: MutableMapping[str, Any], names: Mapping[str, str], name: str
) -> Any:
    """``name`` of the package whose globals are ``namespace``: a public name of ``names``
    (name → the module defining it) is imported from its module and kept in ``namespace``, a
    sub-module is imported (as an eager package's ``import`` made ``luminal.trust`` reachable);
    anything else is an :class:`AttributeError`."""
    package = namespace["__name__"]
    module_name = names.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value
    if name.isidentifier() and not name.startswith("__"):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{package}.{name}":
                raise  # the sub-module exists and failed: say why
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
