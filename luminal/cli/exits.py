"""The exit codes of the ``luminal`` command, and the error that ends it with bad usage."""

from __future__ import annotations

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
]

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
"""The epilog of ``luminal --help`` and of each subcommand's help."""


class UsageError(Exception):
    """Bad command-line input found after parsing; ``main`` prints it and exits 2."""
