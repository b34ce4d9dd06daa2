"""How the ``luminal`` command shows things: log lines on stderr, paths, load errors, tables.

Log records of the ``luminal`` loggers are written to stderr one line each while a command
runs; the library itself never configures logging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from luminal.errors import (
    LuminalError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonStartError,
    PhotonStopError,
)
from luminal.tree import display_path

__all__ = [
    "LineFormatter",
    "describe_load_error",
    "format_table",
    "logging_to_stderr",
    "plural",
    "relative_path",
]


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


def plural(count: int, noun: str) -> str:
    """``"1 photon"``, ``"2 photons"``."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


def relative_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it lies below it, else as given; as
    text that can always be printed (:func:`~luminal.tree.display_path`)."""
    try:
        return display_path(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return display_path(path)


def describe_load_error(error: PhotonLoadError | PhotonStartError | PhotonStopError) -> str:
    """One line for a photon that failed to load, start or stop: ``file:line: what happened``
    where known (the last line of the photon's own code in the cause's traceback)."""
    if isinstance(error, PhotonNameConflictError):
        return (
            f"{relative_path(error.path or '?')}: photon name {error.photon_name!r} is already "
            f"used by the photon from {relative_path(error.existing_path)}"
        )
    cause = error.__cause__
    source = Path(error.path) if error.path else None
    if isinstance(cause, SyntaxError):
        where = relative_path(cause.filename or error.path or "?")
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
            f"{relative_path(frames[-1].filename)}:{frames[-1].lineno}"
            if frames
            else relative_path(source)
        )
        return f"{where}: {type(cause).__name__}: {cause}"
    return str(error)


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The records of ``luminal list`` as aligned columns under a header."""
    header = ("NAME", "VERSION", "AUTHOR", "REQUIRES", "SOURCE", "PATH")
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
                ", ".join(record.get("requires", [])) or "-",
                source,
                relative_path(record["path"]),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    )
