"""Loading photons without starting them, for ``luminal list`` and ``luminal check``.

Each problem found becomes one line; the caller decides whether they are errors to print.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from luminal.cli.arguments import package_tree_warning
from luminal.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from luminal.cli.output import describe_load_error
from luminal.errors import DirectoryLoadError, EntryPointGroupLoadError, PhotonLoadError
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader
from luminal.trust import TrustPolicy

__all__ = ["Collected", "collect", "collect_entry_points", "new_loader"]


@dataclass
class Collected:
    """The photons loaded from the command line's paths, and one line per problem found."""

    handlers: list[Handler] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    usage_problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.usage_problems:
            return EXIT_USAGE
        return EXIT_FAILURE if self.problems else EXIT_OK

    def report(self) -> None:
        for line in [*self.usage_problems, *self.problems]:
            print(f"luminal: error: {line}", file=sys.stderr)
        for line in self.warnings:
            print(f"luminal: warning: {line}", file=sys.stderr)


def new_loader(args: argparse.Namespace, trust: TrustPolicy | None = None) -> Loader:
    """The throwaway loader of ``list`` and ``check``: quiet unless ``--verbose``."""
    return Loader(logging=args.verbose, finalize_timeout=5.0, stop_timeout=2.0, trust=trust)


async def collect(loader: Loader, paths: Sequence[str], recursive: bool) -> Collected:
    """Load (never start) the photons of ``paths``, noting each problem as one line."""
    collected = Collected()
    for raw_path in paths:
        path = Path(raw_path)
        if not os.path.exists(path):
            collected.usage_problems.append(f"{raw_path}: no such file or directory")
        elif path.suffix != ".py" and not os.path.isdir(path):  # a FIFO or a device too
            collected.usage_problems.append(f"{raw_path}: not a Python file or directory")
        else:
            await _collect_path(loader, raw_path, recursive, collected)
    return collected


async def _collect_path(
    loader: Loader, raw_path: str, recursive: bool, collected: Collected
) -> None:
    """Load the photons of one existing file or directory into ``collected``: a directory as
    the tree ``luminal run`` reads (its own ``__init__.py`` is no source of it), a package's
    ``__init__.py`` as that package."""
    path = Path(raw_path)
    found: list[Handler] = []
    failed = False
    try:
        if os.path.isdir(path):
            warning = package_tree_warning(path)
            if warning is not None:
                collected.warnings.append(warning)
            found = await loader.load_photons(path, recursive=recursive)
        else:
            loaded = await loader.load_photon(path, recursive=recursive)
            found = loaded if isinstance(loaded, list) else [loaded]
    except DirectoryLoadError as error:
        found = error.handlers
        collected.problems.extend(describe_load_error(each) for each in error.errors)
        failed = True
    except PhotonLoadError as error:
        collected.problems.append(describe_load_error(error))
        failed = True
    if not found and not failed:
        collected.problems.append(
            f"{raw_path}: no photon found (a photon is a subclass of luminal.IPhoton)"
        )
    collected.handlers.extend(found)


async def collect_entry_points(loader: Loader, group: str) -> Collected:
    """Load (never start) the photons of the installed entry points of ``group``."""
    collected = Collected()
    try:
        collected.handlers = await loader.load_entry_points(group)
    except EntryPointGroupLoadError as error:
        collected.handlers = list(error.handlers)
        collected.problems.extend(str(each) for each in error.errors)
    return collected
