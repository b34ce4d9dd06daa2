"""How long importing some modules takes in a fresh interpreter (this module uses the stdlib
only, so nothing is imported ahead of them)."""

from __future__ import annotations

import importlib
import time
from typing import Any

__all__ = ["child"]


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    for name in arguments["modules"]:
        importlib.import_module(name)
    return {"seconds": time.perf_counter() - started}
