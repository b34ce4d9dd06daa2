"""``luminal lock``: pin every photon source of a directory to its SHA-512."""

from __future__ import annotations

import argparse
import asyncio
import stat

from luminal.cli.arguments import require_directory
from luminal.cli.exits import EXIT_OK, UsageError
from luminal.cli.output import plural, relative_path
from luminal.reading import canonical_path
from luminal.tree import not_a_source_reason
from luminal.trust import lock_target, read_lock, write_lock

__all__ = ["lock_command"]


async def lock_command(args: argparse.Namespace) -> int:
    """``luminal lock``: write the lock file of DIR and say how many sources it pins."""
    require_directory(args.directory)
    if args.output is not None:
        require_directory(args.output.parent or ".")
    target = lock_target(args.directory, args.output)
    # A lock file is read as a source is: one that no run could read is not written.
    unreadable = not_a_source_reason(canonical_path(target.parent) / target.name, stat.S_IFREG)
    if unreadable is not None:
        raise UsageError(f"{relative_path(target)}: no lock file can be read there: {unreadable}")
    written = await asyncio.to_thread(write_lock, args.directory, args.output)
    count = len(read_lock(written))
    print(f"wrote {relative_path(written)}: {plural(count, 'photon source')} pinned")
    return EXIT_OK
