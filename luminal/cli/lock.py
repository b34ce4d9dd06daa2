"""``luminal lock``: pin every photon source of a directory to its SHA-512."""

from __future__ import annotations

import argparse
import asyncio

from luminal.cli.arguments import require_directory
from luminal.cli.exits import EXIT_OK
from luminal.cli.output import plural, relative_path
from luminal.trust import read_lock, write_lock

__all__ = ["lock_command"]


async def lock_command(args: argparse.Namespace) -> int:
    """``luminal lock``: write the lock file of DIR and say how many sources it pins."""
    require_directory(args.directory)
    if args.output is not None:
        require_directory(args.output.parent or ".")
    written = await asyncio.to_thread(write_lock, args.directory, args.output)
    count = len(read_lock(written))
    print(f"wrote {relative_path(written)}: {plural(count, 'photon source')} pinned")
    return EXIT_OK
