"""The ``luminal`` command: list and check photons from a shell or a CI job.

Each subcommand is a coroutine taking the parsed arguments and returning an exit code; ``main``
parses, runs it on a fresh event loop and turns every failure into one line on stderr (the
traceback only with ``--verbose``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import logging
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from luminal import __version__, hookspecs
from luminal.errors import (
    DirectoryLoadError,
    LuminalError,
    PhotonLoadError,
    PhotonNameConflictError,
)
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}    success
  {EXIT_FAILURE}    a photon failed to import or validate (one line each on stderr), or an
       unexpected error
  {EXIT_USAGE}    bad usage: an unknown option, or a PATH that is missing or not Python
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)"""

LIFECYCLE_PREFIXES = ("photon_", "luminal_")

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


@dataclass
class Collected:
    """The photons loaded from the command line's paths, and one line per problem found."""

    handlers: list[Handler] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    usage_problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.usage_problems:
            return EXIT_USAGE
        return EXIT_FAILURE if self.problems else EXIT_OK

    def report(self) -> None:
        for line in [*self.usage_problems, *self.problems]:
            print(f"luminal: error: {line}", file=sys.stderr)


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def describe_load_error(error: PhotonLoadError) -> str:
    """One line for a photon that failed to load: ``file:line: what happened`` where known."""
    if isinstance(error, PhotonNameConflictError):
        return (
            f"{display_path(error.path or '?')}: photon name {error.photon_name!r} is already "
            f"used by the photon from {display_path(error.existing_path)}"
        )
    cause = error.__cause__
    source = Path(error.path) if error.path else None
    if isinstance(cause, SyntaxError):
        where = display_path(cause.filename or error.path or "?")
        if cause.lineno is not None:
            where = f"{where}:{cause.lineno}"
        return f"{where}: SyntaxError: {cause.msg}"
    if cause is not None and not isinstance(cause, LuminalError) and source is not None:
        frames = [
            frame
            for frame in traceback.extract_tb(cause.__traceback__)
            if Path(frame.filename) == source or source in Path(frame.filename).parents
        ]
        where = (
            f"{display_path(frames[-1].filename)}:{frames[-1].lineno}"
            if frames
            else display_path(source)
        )
        return f"{where}: {type(cause).__name__}: {cause}"
    return str(error)


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
            f"{display_path(handler.filepath)}: photon {handler.name!r} implements "
            f"{attribute!r}, which is no Luminal hook{hint}"
        )
    return lines


async def collect(loader: Loader, paths: Sequence[str], recursive: bool) -> Collected:
    """Load (never start) the photons of ``paths``, noting each problem as one line."""
    collected = Collected()
    for raw_path in paths:
        path = Path(raw_path)
        is_package = (path / "__init__.py").is_file()
        if not path.exists():
            collected.usage_problems.append(f"{raw_path}: no such file or directory")
            continue
        if path.is_file() and path.suffix != ".py":
            collected.usage_problems.append(f"{raw_path}: not a Python file or directory")
            continue
        found: list[Handler] = []
        failed = False
        try:
            if path.is_dir() and not is_package:
                found = await loader.load_photons(path, recursive=recursive)
            else:
                loaded = await loader.load_photon(
                    path / "__init__.py" if is_package else path, recursive=recursive
                )
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
    return collected


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
        "source": "file" if origin is None else "distribution",
        "distribution": None if origin is None else origin.distribution,
        "distribution_version": None if origin is None else origin.version,
        "entry_point": None if origin is None else origin.entry_point,
        "path": handler.filepath,
    }


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The records as aligned columns under a header."""
    header = ("NAME", "VERSION", "AUTHOR", "SOURCE", "PATH")
    rows = [header]
    for record in records:
        source = record["source"]
        if record["distribution"] is not None:
            source = f"{record['distribution']} {record['distribution_version']}"
        rows.append(
            (
                record["name"],
                record["version"],
                record["author"],
                source,
                display_path(record["path"]),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    )


def new_loader(args: argparse.Namespace) -> Loader:
    return Loader(logging=args.verbose, finalize_timeout=5.0, stop_timeout=2.0)


async def list_command(args: argparse.Namespace) -> int:
    """``luminal list``: load the photons without starting them, print them, discard them."""
    if not args.paths:
        print("luminal: error: nothing to list: give at least one DIR", file=sys.stderr)
        return EXIT_USAGE
    async with new_loader(args) as loader:
        with contextlib.redirect_stdout(sys.stderr):
            collected = await collect(loader, args.paths, args.recursive)
        records = sorted((photon_record(handler) for handler in collected.handlers), key=_by_name)
    collected.report()
    if args.json:
        print(json.dumps(records, indent=2))
    elif records:
        print(format_table(records))
    else:
        print("no photons found")
    return collected.exit_code


async def check_command(args: argparse.Namespace) -> int:
    """``luminal check``: import and validate photons; one error line per broken one."""
    async with new_loader(args) as loader:
        with contextlib.redirect_stdout(sys.stderr):
            collected = await collect(loader, args.paths, args.recursive)
        for handler in collected.handlers:
            collected.problems.extend(unknown_lifecycle_hooks(handler, loader.plugin_manager))
            if handler.photon_class is None:
                continue
            try:
                handler._check_hookimpls(handler.photon_class)
            except pluggy.PluginValidationError as error:
                collected.problems.append(f"{display_path(handler.filepath)}: {error}")
    collected.report()
    if collected.exit_code == EXIT_OK:
        count = len(collected.handlers)
        print(f"ok: {count} photon{'s' if count != 1 else ''} checked")
    else:
        broken = len(collected.problems) + len(collected.usage_problems)
        print(f"luminal: {broken} problem{'s' if broken != 1 else ''} found", file=sys.stderr)
    return collected.exit_code


def _by_name(record: dict[str, Any]) -> str:
    return str(record["name"])


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, after the subcommand's name as well as before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the loader does and show tracebacks",
    )
    return common


def _add_subcommand(
    subcommands: Any, name: str, command: Command, summary: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 78),
        epilog=EXIT_CODES,
        parents=[_common_options()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command=command)
    parser.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enter sub-directories and load packages' sub-modules (default: on)",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``command`` to the coroutine that runs it."""
    parser = argparse.ArgumentParser(
        prog="luminal",
        description="Load, inspect and check Luminal photons.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the loader does and show tracebacks"
    )
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    list_parser = _add_subcommand(
        subcommands,
        "list",
        list_command,
        "list the photons of directories without starting them",
        "Load the photons of each DIR (or photon file) without starting them, print name, "
        "version, author, source and path, then discard them.",
    )
    list_parser.add_argument("paths", nargs="*", metavar="DIR", help="photon directory or file")
    list_parser.add_argument("--json", action="store_true", help="print a JSON array instead")

    check_parser = _add_subcommand(
        subcommands,
        "check",
        check_command,
        "import and validate photons, for CI",
        "Import and validate the photons of each PATH (file, package or directory) without "
        "starting them. Prints one line per problem: a syntax or import error with file and "
        "line, a path without photons, a name used twice, a lifecycle hook that matches no "
        "Luminal hook or takes arguments its spec lacks.",
    )
    check_parser.add_argument("paths", nargs="+", metavar="PATH", help="photon file or directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``luminal`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    if args.verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    command: Command = args.command
    try:
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        print("luminal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (run with --verbose for the traceback)"
        print(f"luminal: error: {type(error).__name__}: {error}{hint}", file=sys.stderr)
        return EXIT_FAILURE
