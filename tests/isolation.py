"""Keeping the suite apart from the photon distributions installed where it runs.

A user's environment may hold any distribution of the ``luminal.photons`` group (a photon
package, ``plugins_example/hello_dist``): the suite must neither load them nor count them. The
test process and every child Python it starts (through :func:`child_env`) hide the
distributions that declare the group and lie in a directory the test process imported from when
it started (its ``sys.path`` then); distributions the tests install themselves, in temporary
directories or new venvs, stay visible.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import importlib_metadata

__all__ = [
    "HIDDEN_SITES_VARIABLE",
    "PHOTON_GROUP",
    "REPO_ROOT",
    "child_env",
    "environment_site_dirs",
    "hide_installed_photons",
    "is_installed_photon",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ISOLATED_SITE = Path(__file__).resolve().parent / "isolated_site"
"""Holds the ``sitecustomize`` that hides installed photons in child Pythons."""
PHOTON_GROUP = "luminal.photons"
"""``luminal.discovery.DEFAULT_GROUP``, spelled out: a child's ``sitecustomize`` must not import
``luminal`` before pytest can rewrite it."""
HIDDEN_SITES_VARIABLE = "LUMINAL_TESTS_HIDDEN_SITE_DIRS"
"""Tells a child Python the site directories (of the test process) whose photons it hides."""


def environment_site_dirs() -> set[Path]:
    """The directories the interpreter found its packages in when the suite started: its
    ``sys.path`` then (site-packages, ``.pth`` additions) and its site directories."""
    return set(_STARTUP_DIRS)


def _resolved(paths: Iterable[str]) -> frozenset[Path]:
    return frozenset(Path(each).resolve() for each in paths if each and os.path.isdir(each))


_STARTUP_DIRS = _resolved(
    [
        *sys.path,
        *site.getsitepackages(),
        site.getusersitepackages(),
        *(sysconfig.get_path(scheme) for scheme in ("purelib", "platlib")),
    ]
)


def is_installed_photon(dist: Any, site_dirs: set[Path]) -> bool:
    """Whether ``dist`` lies in one of ``site_dirs`` and declares photons."""
    try:
        location = Path(str(dist.locate_file(""))).resolve()
    except (NotImplementedError, OSError):
        return False
    if location not in site_dirs:
        return False
    text = dist.read_text("entry_points.txt") or ""
    return f"[{PHOTON_GROUP}]" in text


def hide_installed_photons(site_dirs: set[Path]) -> Callable[[], None]:
    """Make ``importlib_metadata`` (what Luminal's discovery asks) skip the photon
    distributions of ``site_dirs``; return the function that undoes it."""
    original = importlib_metadata.distributions

    def distributions(**kwargs: Any) -> Iterator[Any]:
        return (dist for dist in original(**kwargs) if not is_installed_photon(dist, site_dirs))

    importlib_metadata.distributions = distributions

    def restore() -> None:
        importlib_metadata.distributions = original

    return restore


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child Python that imports this tree's ``luminal`` and sees no
    installed photon distribution; ``PYTHONPATH`` in ``extra`` comes first."""
    paths = [*extra.pop("PYTHONPATH", "").split(os.pathsep), str(ISOLATED_SITE), str(REPO_ROOT)]
    hidden = os.pathsep.join(sorted(map(str, environment_site_dirs())))
    return {
        **os.environ,
        **extra,
        "PYTHONPATH": os.pathsep.join(path for path in paths if path),
        HIDDEN_SITES_VARIABLE: hidden,
    }
