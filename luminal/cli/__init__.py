"""The ``luminal`` command: run, list, check and lock photons from a shell or a CI job.

Each subcommand is a coroutine taking the parsed arguments and returning an exit code (one
module per command: :mod:`~luminal.cli.run`, :mod:`~luminal.cli.inspecting` for ``list`` and
``check``, :mod:`~luminal.cli.lock`); ``main`` parses, runs it on a fresh event loop and turns
every failure into one line on stderr (the traceback only with ``--verbose``). Log records of
the ``luminal`` loggers are written to stderr one line each while a command runs
(:mod:`~luminal.cli.output`); the library itself never configures logging.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from luminal import __version__
from luminal.cli.arguments import group_argument, path_argument, seconds
from luminal.cli.exits import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)
from luminal.cli.inspecting import check_command, list_command
from luminal.cli.lock import lock_command
from luminal.cli.output import LineFormatter, logging_to_stderr
from luminal.cli.run import run_command
from luminal.discovery import DEFAULT_GROUP
from luminal.trust import LOCK_FILE_NAME

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LineFormatter",
    "UsageError",
    "build_parser",
    "main",
]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``luminal`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    command: Command = args.command
    logs = logging_to_stderr(args.verbose) if args.verbose or command is run_command else None
    try:
        with logs or contextlib.nullcontext():
            code = asyncio.run(command(args))
        # Output to a pipe is buffered: flush it here, where a reader that closed early is
        # answered below, not at interpreter exit (which would print an error and exit 120).
        sys.stdout.flush()
        return code
    except UsageError as error:
        print(f"luminal: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("luminal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped reading (``luminal list --json | head``): exit as a shell tool
        # killed by SIGPIPE does, and point stdout at devnull so that flushing it at exit
        # cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (run with --verbose for the traceback)"
        print(f"luminal: error: {type(error).__name__}: {error}{hint}", file=sys.stderr)
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``command`` to the coroutine that runs it."""
    parser = argparse.ArgumentParser(
        prog="luminal",
        description="Run, inspect, check and lock Luminal photons.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the loader does and show tracebacks"
    )
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_run_parser(subcommands)
    _add_list_parser(subcommands)
    _add_check_parser(subcommands)
    _add_lock_parser(subcommands)
    return parser


def _add_run_parser(subcommands: Any) -> None:
    run_parser = _add_subcommand(
        subcommands,
        "run",
        run_command,
        "run photons and hot-reload them until Ctrl-C",
        "Load and start the photons of each DIR and of the installed entry points, watch the "
        "DIRs and hot-reload what changes, logging each load, start, reload, rollback and "
        "unload as one line on stderr. Ctrl-C (SIGINT) or SIGTERM unloads every photon "
        "gracefully and exits 0. The trust policy is on: photon files that other users can "
        f"write and symlinks leading out of a DIR are refused, and with a lock file (--lock, "
        f"else DIR/{LOCK_FILE_NAME} when it exists) only the pinned, unchanged sources run.",
        recursive_option=False,
    )
    run_parser.add_argument(
        "directories",
        nargs="*",
        type=path_argument,
        metavar="DIR",
        help="photon directory to run and watch",
    )
    run_parser.add_argument(
        "--entry-points",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the photons of installed distributions (default: on)",
    )
    run_parser.add_argument(
        "--watch-installed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="apply pip installs, upgrades, uninstalls and editable saves of installed photons "
        "live (default: on)",
    )
    _add_group_option(run_parser)
    _add_run_limits(run_parser)
    _add_trust_options(run_parser)


def _add_run_limits(run_parser: argparse.ArgumentParser) -> None:
    """``run``'s time limits and its statistics at exit."""
    run_parser.add_argument(
        "--finalize-timeout",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long a photon's finalizer may take before it is force-stopped (default: 5)",
    )
    run_parser.add_argument(
        "--start-timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long an async photon_start may take before the start is cut (default: 30)",
    )
    run_parser.add_argument(
        "--stats",
        action="store_true",
        help="print each photon's hook statistics (calls, errors, timeouts, durations) at exit",
    )


def _add_list_parser(subcommands: Any) -> None:
    list_parser = _add_subcommand(
        subcommands,
        "list",
        list_command,
        "list photons without starting them",
        "Load the photons of each DIR (or photon file) without starting them, print name, "
        "version, author, source and path, then discard them. Without DIR, list the photons "
        "of the installed distributions (entry points).",
    )
    list_parser.add_argument(
        "paths", nargs="*", type=path_argument, metavar="DIR", help="photon directory or file"
    )
    list_parser.add_argument("--json", action="store_true", help="print a JSON array instead")
    _add_group_option(list_parser)


def _add_check_parser(subcommands: Any) -> None:
    check_parser = _add_subcommand(
        subcommands,
        "check",
        check_command,
        "import and validate photons, for CI",
        "Import and validate the photons of each PATH (a file, a package's __init__.py, or a "
        "directory read as the tree 'luminal run' reads) under the trust policy and lock file "
        "that 'luminal run' applies, without starting them (with "
        "--start, each is also created, started and finalized again). Prints one line per "
        "problem: a syntax or import error with file and line, a refused file, a path without "
        "photons, a name used twice, a lifecycle hook that matches no Luminal hook or takes "
        "arguments its spec lacks, an __init__, photon_start or finalizer that raises; and a "
        "warning for a photon without a finalizer.",
    )
    check_parser.add_argument(
        "paths", nargs="+", type=path_argument, metavar="PATH", help="photon file or directory"
    )
    check_parser.add_argument(
        "--start",
        action="store_true",
        help="also create and start each photon, then finalize it again, in a throwaway loader",
    )
    _add_trust_options(check_parser)


def _add_lock_parser(subcommands: Any) -> None:
    lock_parser = _add_subcommand(
        subcommands,
        "lock",
        lock_command,
        "pin the photon sources of a directory to their SHA-512",
        f"Write a lock file (DIR/{LOCK_FILE_NAME} unless --output) that pins every photon "
        "source of DIR to its SHA-512. 'luminal run' then refuses any source that is not "
        "pinned or has changed, until the lock is written again.",
        recursive_option=False,
    )
    lock_parser.add_argument(
        "directory", type=path_argument, metavar="DIR", help="photon directory to pin"
    )
    lock_parser.add_argument(
        "-o",
        "--output",
        type=_path,
        metavar="FILE",
        help=f"where to write (default: DIR/{LOCK_FILE_NAME})",
    )


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
    subcommands: Any,
    name: str,
    command: Command,
    summary: str,
    description: str,
    *,
    recursive_option: bool = True,
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
    if not recursive_option:
        return parser
    parser.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enter sub-directories and load packages' sub-modules (default: on)",
    )
    return parser


def _add_trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock",
        type=_path,
        metavar="FILE",
        help=f"accept only the sources pinned in this lock file (default: DIR/{LOCK_FILE_NAME} "
        "if there is one)",
    )
    parser.add_argument(
        "--trust",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="apply the trust policy (default: on; --no-trust accepts any file)",
    )


def _path(text: str) -> Path:
    return Path(path_argument(text))


def _add_group_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group",
        default=DEFAULT_GROUP,
        type=group_argument,
        help=f"the entry-point group of installed photons (default: {DEFAULT_GROUP})",
    )
