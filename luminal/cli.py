"""The ``luminal`` command: run, list, check and lock photons from a shell or a CI job.

Each subcommand is a coroutine taking the parsed arguments and returning an exit code; ``main``
parses, runs it on a fresh event loop and turns every failure into one line on stderr (the
traceback only with ``--verbose``). Log records of the ``luminal`` loggers are written to stderr
one line each while a command runs; the library itself never configures logging.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import io
import json
import logging
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from luminal import __version__, hookspecs
from luminal.discovery import DEFAULT_GROUP
from luminal.errors import (
    DirectoryLoadError,
    EntryPointGroupLoadError,
    LuminalError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonStartError,
    PhotonStopError,
)
from luminal.hookspecs import hookimpl
from luminal.managers.handler import Handler
from luminal.managers.loader import Loader
from luminal.photon import IPhoton
from luminal.runner import serve
from luminal.sources import canonical_path
from luminal.trust import LOCK_FILE_NAME, TrustPolicy, read_lock, write_lock

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

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}    success; for run: stopped by Ctrl-C (SIGINT) or SIGTERM after unloading
       every photon
  {EXIT_FAILURE}    a photon failed to import or validate (one line each on stderr), or an
       unexpected error
  {EXIT_USAGE}    bad usage: an unknown option, a PATH that is missing or not Python, DIRs
       that overlap, or a lock file that cannot be used
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C; for run: a second Ctrl-C while unloading)
  {EXIT_BROKEN_PIPE}  the reader of stdout closed it early (as '| head' does); nothing is printed"""

LIFECYCLE_PREFIXES = ("photon_", "luminal_")

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


class UsageError(Exception):
    """Bad command-line input found after parsing; ``main`` prints it and exits 2."""


class LineFormatter(logging.Formatter):
    """One line per log record: the time, the level for warnings and errors, the message.

    With ``verbose``, the logger's name and any traceback are shown too.
    """

    def __init__(self, verbose: bool = False) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else None,
            datefmt="%H:%M:%S",
        )
        self._verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self._verbose:
            return super().format(record)
        message = " ".join(line.strip() for line in record.getMessage().splitlines())
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.formatTime(record, self.datefmt)} {level}{message}"


@contextlib.contextmanager
def logging_to_stderr(verbose: bool) -> Iterator[None]:
    """Write the ``luminal`` loggers' INFO and higher records to stderr while the block runs."""
    luminal_logger = logging.getLogger("luminal")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(verbose))
    level = luminal_logger.level
    luminal_logger.addHandler(handler)
    luminal_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        luminal_logger.removeHandler(handler)
        luminal_logger.setLevel(level)


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


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def describe_load_error(error: PhotonLoadError | PhotonStartError | PhotonStopError) -> str:
    """One line for a photon that failed to load, start or stop: ``file:line: what happened``
    where known (the last line of the photon's own code in the cause's traceback)."""
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


def new_loader(args: argparse.Namespace, trust: TrustPolicy | None = None) -> Loader:
    return Loader(logging=args.verbose, finalize_timeout=5.0, stop_timeout=2.0, trust=trust)


async def collect_entry_points(loader: Loader, group: str) -> Collected:
    """Load (never start) the photons of the installed entry points of ``group``."""
    collected = Collected()
    try:
        collected.handlers = await loader.load_entry_points(group)
    except EntryPointGroupLoadError as error:
        collected.handlers = list(error.handlers)
        collected.problems.extend(str(each) for each in error.errors)
    return collected


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
    if args.json:
        print(json.dumps(records, indent=2))
    elif records:
        print(format_table(records))
    else:
        print("no photons found")
    return collected.exit_code


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
        f"{display_path(handler.filepath)}: photon {handler.name!r} implements no finalize(); "
        "unloading it force-stops what it started"
    )


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
        for handler in handlers:
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
    policy = trust_policy(args, [_tree_of(Path(each)) for each in args.paths])
    async with new_loader(args, policy) as loader:
        with contextlib.redirect_stdout(sys.stderr):
            collected = await collect(loader, args.paths, args.recursive)
        for handler in collected.handlers:
            collected.problems.extend(unknown_lifecycle_hooks(handler, loader.plugin_manager))
            warning = missing_finalizer(handler)
            if warning is not None:
                collected.warnings.append(warning)
            if handler.photon_class is None:
                continue
            try:
                handler.check_hookimpls(handler.photon_class)
            except pluggy.PluginValidationError as error:
                collected.problems.append(f"{display_path(handler.filepath)}: {error}")
        if args.start and not collected.problems and not collected.usage_problems:
            with contextlib.redirect_stdout(sys.stderr):
                collected.problems.extend(await start_and_unload(loader, collected.handlers))
    collected.report()
    if collected.exit_code == EXIT_OK:
        count = len(collected.handlers)
        started = " (started and finalized)" if args.start else ""
        print(f"ok: {count} photon{'s' if count != 1 else ''} checked{started}")
    else:
        broken = len(collected.problems) + len(collected.usage_problems)
        print(f"luminal: {broken} problem{'s' if broken != 1 else ''} found", file=sys.stderr)
    return collected.exit_code


def trust_policy(args: argparse.Namespace, directories: Sequence[Path]) -> TrustPolicy | None:
    """The trust policy of ``luminal run`` and ``check``: on unless ``--no-trust``; pinned to
    ``--lock`` or, without it, to the one ``luminal.lock`` found in ``directories``.

    :raises UsageError: if the lock file is missing or unreadable, or several DIRs hold one.
    """
    if not args.trust:
        if args.lock is not None:
            raise UsageError("--lock and --no-trust contradict each other")
        return None
    lock_file: Path | None = args.lock
    if lock_file is None:
        candidates = dict.fromkeys(canonical_path(each) / LOCK_FILE_NAME for each in directories)
        found = [each for each in candidates if each.is_file()]
        if len(found) > 1:
            raise UsageError(
                f"several lock files ({', '.join(map(str, found))}); one lock pins every photon "
                "of a run, so choose it with --lock FILE"
            )
        lock_file = found[0] if found else None
    if lock_file is not None:
        try:
            read_lock(lock_file)
        except (OSError, ValueError) as error:
            raise UsageError(
                f"cannot use lock file {lock_file}: {error}; write it with 'luminal lock DIR'"
            ) from error
    return TrustPolicy(lock_file=lock_file)


def require_directory(raw: str | os.PathLike[str]) -> None:
    """:raises UsageError: unless ``raw`` is an existing directory, saying which it is not."""
    path = Path(raw)
    if path.is_dir():
        return
    if path.is_file():
        raise UsageError(f"{os.fspath(raw)}: is a file, not a directory")
    if path.exists() or path.is_symlink():
        raise UsageError(f"{os.fspath(raw)}: not a directory")
    raise UsageError(f"{os.fspath(raw)}: no such directory")


def check_directories(raw_directories: Sequence[str]) -> list[Path]:
    """The DIRs of ``luminal run``, each an existing directory, none inside another.

    :raises UsageError: otherwise.
    """
    directories: list[Path] = []
    for raw in raw_directories:
        require_directory(raw)
        directory = canonical_path(raw)
        for other in directories:
            if directory.is_relative_to(other) or other.is_relative_to(directory):
                raise UsageError(f"{raw}: overlaps {display_path(other)}; give each tree once")
        directories.append(directory)
    return directories


async def run_command(args: argparse.Namespace) -> int:
    """``luminal run``: serve the photons of the DIRs and entry points until a signal."""
    directories = check_directories(args.directories)
    policy = trust_policy(args, directories)
    if policy is None:
        logger.warning("trust policy off (--no-trust): every photon file is run")
    else:
        lock = f"; pinned to {display_path(policy.lock_file)}" if policy.lock_file else ""
        logger.info(
            "trust policy: refusing files other users can write and symlinks out of the photon "
            "directory%s",
            lock,
        )
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # what photons print shows up at once
    loader = Loader(
        logging=True,
        suppress_errors=True,
        finalize_timeout=args.finalize_timeout,
        stop_timeout=2.0,
        trust=policy,
    )
    await serve(
        loader, directories, entry_point_group=None if not args.entry_points else args.group
    )
    return EXIT_OK


async def lock_command(args: argparse.Namespace) -> int:
    """``luminal lock``: pin every photon source of DIR to its SHA-512 in a lock file."""
    require_directory(args.directory)
    written = await asyncio.to_thread(write_lock, args.directory, args.output)
    count = len(read_lock(written))
    print(f"wrote {display_path(written)}: {count} photon source{'s' if count != 1 else ''} pinned")
    return EXIT_OK


def _tree_of(path: Path) -> Path:
    """The photon directory a PATH of ``check`` lies in: itself, or a file's or package's
    parent (where ``luminal lock`` of that directory writes its lock)."""
    if path.is_dir() and not (path / "__init__.py").is_file():
        return path
    return path.parent


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
        "directories", nargs="*", metavar="DIR", help="photon directory to run and watch"
    )
    run_parser.add_argument(
        "--entry-points",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the photons of installed distributions (default: on)",
    )
    _add_group_option(run_parser)
    run_parser.add_argument(
        "--finalize-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long a photon's finalizer may take before it is force-stopped (default: 5)",
    )
    _add_trust_options(run_parser)

    list_parser = _add_subcommand(
        subcommands,
        "list",
        list_command,
        "list photons without starting them",
        "Load the photons of each DIR (or photon file) without starting them, print name, "
        "version, author, source and path, then discard them. Without DIR, list the photons "
        "of the installed distributions (entry points).",
    )
    list_parser.add_argument("paths", nargs="*", metavar="DIR", help="photon directory or file")
    list_parser.add_argument("--json", action="store_true", help="print a JSON array instead")
    _add_group_option(list_parser)

    check_parser = _add_subcommand(
        subcommands,
        "check",
        check_command,
        "import and validate photons, for CI",
        "Import and validate the photons of each PATH (file, package or directory) under the "
        "trust policy and lock file that 'luminal run' applies, without starting them (with "
        "--start, each is also created, started and finalized again). Prints one line per "
        "problem: a syntax or import error with file and line, a refused file, a path without "
        "photons, a name used twice, a lifecycle hook that matches no Luminal hook or takes "
        "arguments its spec lacks, an __init__, photon_start or finalizer that raises; and a "
        "warning for a photon without a finalizer.",
    )
    check_parser.add_argument("paths", nargs="+", metavar="PATH", help="photon file or directory")
    check_parser.add_argument(
        "--start",
        action="store_true",
        help="also create and start each photon, then finalize it again, in a throwaway loader",
    )
    _add_trust_options(check_parser)

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
    lock_parser.add_argument("directory", metavar="DIR", help="photon directory to pin")
    lock_parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help=f"where to write (default: DIR/{LOCK_FILE_NAME})",
    )
    return parser


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return seconds


def _add_trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock",
        type=Path,
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


def _add_group_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group",
        default=DEFAULT_GROUP,
        help=f"the entry-point group of installed photons (default: {DEFAULT_GROUP})",
    )


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
            return asyncio.run(command(args))
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
