"""``luminal list`` and ``luminal check``: load photons without running them, and tell what
they are or what is wrong with them."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pluggy

from luminal import hookspecs
from luminal.cli.arguments import check_directories, tree_of, trust_policy
from luminal.cli.collecting import Collected, collect, collect_entry_points, new_loader
from luminal.cli.exits import EXIT_OK
from luminal.cli.output import describe_load_error, format_table, plural, relative_path
from luminal.dependencies import dependency_order
from luminal.errors import PhotonStartError, PhotonStopError
from luminal.hookspecs import hookimpl
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader
from luminal.photon import IPhoton

__all__ = ["check_command", "list_command", "photon_record"]

LIFECYCLE_PREFIXES = ("photon_", "luminal_")


def photon_record(handler: Handler) -> dict[str, Any]:
    """What ``luminal list`` tells about one photon."""
    photon_class = handler.photon_class
    origin = handler.origin
    return {
        "name": handler.name,
        "version": str(getattr(photon_class, "photon_version", "")),
        "author": str(getattr(photon_class, "photon_author", "")),
        "description": str(getattr(photon_class, "photon_description", "")),
        "tags": list(getattr(photon_class, "photon_tags", [])),
        "requires": [str(requirement) for requirement in handler.requires],
        "source": "file" if origin is None else "distribution",
        "distribution": None if origin is None else origin.distribution,
        "distribution_version": None if origin is None else origin.version,
        "entry_point": None if origin is None else origin.entry_point,
        "path": handler.filepath,
    }


async def list_command(args: argparse.Namespace) -> int:
    """``luminal list``: load the photons without starting them, print them, discard them."""
    async with new_loader(args) as loader:
        with contextlib.redirect_stdout(sys.stderr):
            if args.paths:
                collected = await collect(loader, args.paths, args.recursive)
            else:
                collected = await collect_entry_points(loader, args.group)
        records = sorted((photon_record(handler) for handler in collected.handlers), key=_by_name)
    collected.report()
    if collected.usage_problems:  # bad usage prints nothing on stdout, as argparse's does
        return collected.exit_code
    if args.json:
        print(json.dumps(records, indent=2))
    elif records:
        print(format_table(records))
    else:
        print("no photons found")
    return collected.exit_code


def _by_name(record: dict[str, Any]) -> str:
    return str(record["name"])


def unknown_lifecycle_hooks(handler: Handler, plugin_manager: pluggy.PluginManager) -> list[str]:
    """One line per ``photon_*``/``luminal_*`` hook implementation that matches no spec."""
    photon_class = handler.photon_class
    if photon_class is None:
        return []
    known = [name for name in dir(hookspecs) if name.startswith(LIFECYCLE_PREFIXES)]
    lines = []
    for attribute in dir(photon_class):
        if not attribute.startswith(LIFECYCLE_PREFIXES) or attribute in known:
            continue
        if plugin_manager.parse_hookimpl_opts(photon_class, attribute) is None:
            continue
        guess = difflib.get_close_matches(attribute, known, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        lines.append(
            f"{relative_path(handler.filepath)}: photon {handler.name!r} implements "
            f"{attribute!r}, which is no Luminal hook{hint}"
        )
    return lines


def missing_finalizer(handler: Handler) -> str | None:
    """A warning line when the photon has no finalizer (unloading it then force-stops it)."""
    photon_class = handler.photon_class
    if photon_class is None or not issubclass(photon_class, IPhoton):
        return None
    if photon_class.finalize is not IPhoton.finalize:
        return None
    if photon_class.photon_finalize is not IPhoton.photon_finalize:
        return None
    return (
        f"{relative_path(handler.filepath)}: photon {handler.name!r} implements no finalize(); "
        "unloading it force-stops what it started"
    )


def check_loaded(handler: Handler, plugin_manager: pluggy.PluginManager, into: Collected) -> None:
    """Note what is wrong with one loaded photon's hooks, and a missing finalizer."""
    into.problems.extend(unknown_lifecycle_hooks(handler, plugin_manager))
    warning = missing_finalizer(handler)
    if warning is not None:
        into.warnings.append(warning)
    if handler.photon_class is None:
        return
    try:
        handler.check_hookimpls(handler.photon_class)
    except pluggy.PluginValidationError as error:
        into.problems.append(f"{relative_path(handler.filepath)}: {error}")


class FailureRecorder:
    """Keeps the start and stop failures a loader reports while ``check --start`` runs."""

    def __init__(self) -> None:
        self.errors: list[PhotonStartError | PhotonStopError] = []

    @hookimpl
    def luminal_photon_error(self, path: str, error: BaseException) -> None:
        if isinstance(error, (PhotonStartError, PhotonStopError)):
            self.errors.append(error)


async def start_and_unload(loader: Loader, handlers: Sequence[Handler]) -> list[str]:
    """Create and start every photon as ``run`` would, then unload them (a file's photons go
    together); one line per failure."""
    recorder = FailureRecorder()
    loader.plugin_manager.register(recorder, name="luminal.cli.check")
    try:
        for handler in dependency_order(handlers):
            with contextlib.suppress(PhotonStartError):  # reported to the recorder
                await handler.start()
        # Started photons first: unloading one finalizes the started photons of its file and
        # discards the others; a file with none started is discarded.
        for handler in sorted(handlers, key=lambda each: not each.started):
            if loader.photons.get(handler.name) is handler:
                await loader.unload_photon(handler, force_stop=not handler.started)
    finally:
        loader.plugin_manager.unregister(recorder)
    return [describe_load_error(error) for error in recorder.errors]


async def check_command(args: argparse.Namespace) -> int:
    """``luminal check``: import and validate photons under ``run``'s trust policy, and with
    ``--start`` start and finalize each; one error line per problem."""
    check_directories([each for each in args.paths if os.path.isdir(each)])  # as ``run`` does
    policy = trust_policy(args, [tree_of(Path(each)) for each in args.paths])
    async with new_loader(args, policy) as loader:
        with contextlib.redirect_stdout(sys.stderr):
            collected = await collect(loader, args.paths, args.recursive)
        for handler in collected.handlers:
            check_loaded(handler, loader.plugin_manager, collected)
        if args.start and not collected.problems and not collected.usage_problems:
            with contextlib.redirect_stdout(sys.stderr):
                collected.problems.extend(await start_and_unload(loader, collected.handlers))
    collected.report()
    if collected.exit_code == EXIT_OK:
        started = " (started and finalized)" if args.start else ""
        print(f"ok: {plural(len(collected.handlers), 'photon')} checked{started}")
    else:
        broken = len(collected.problems) + len(collected.usage_problems)
        print(f"luminal: {plural(broken, 'problem')} found", file=sys.stderr)
    return collected.exit_code
