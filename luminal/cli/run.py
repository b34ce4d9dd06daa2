"""``luminal run``: serve the photons of directories and installed distributions until a
signal, hot-reloading what changes."""

from __future__ import annotations

import argparse
import io
import logging
import sys

from luminal.cli.arguments import check_directories, package_tree_warning, trust_policy
from luminal.cli.exits import EXIT_OK
from luminal.cli.output import relative_path
from luminal.cli.stats import HookStatsCollector, format_stats
from luminal.managers.loader import Loader
from luminal.runner import serve

__all__ = ["run_command"]

logger = logging.getLogger("luminal.cli")  # the command's own log lines, under one name


async def run_command(args: argparse.Namespace) -> int:
    """``luminal run``: serve the photons of the DIRs and entry points until a signal."""
    directories = check_directories(args.directories)
    for directory in directories:
        warning = package_tree_warning(directory)
        if warning is not None:
            logger.warning("%s", warning)
    policy = trust_policy(args, directories)
    if policy is None:
        logger.warning("trust policy off (--no-trust): every photon file is run")
    else:
        lock = f"; pinned to {relative_path(policy.lock_file)}" if policy.lock_file else ""
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
        start_timeout=args.start_timeout,
        stop_timeout=2.0,
        trust=policy,
    )
    collector = HookStatsCollector()
    if args.stats:
        loader.plugin_manager.register(collector, name="luminal-run-stats")
    await serve(
        loader,
        directories,
        entry_point_group=None if not args.entry_points else args.group,
        watch_installed=args.watch_installed,
    )
    if args.stats:
        print(format_stats(collector.totals), flush=True)
    return EXIT_OK
