"""Random ``git checkout`` between branches under ``watch_photons`` ends in step with the disk.

Each seed builds a repository of branches holding photon files, photon packages, sub-directories
and a helper that is a module in some branches and a package with a submodule in others; after
each switch, what runs (name, path, the helper value it holds) must be what the disk says.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from luminal import Loader
from luminal.tree import select_sources
from tests.watch_support import wait_for

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def luminal_loader_kwargs() -> dict[str, Any]:
    """A loader that logs what it does: a failing seed shows why."""
    return {"logging": True}


NAMES = [f"P{index}" for index in range(6)]
PLACES = ["", "sub/", "sub/deep/", "other/"]
SWITCHES = 5


def photon(name: str, uses_helper: bool, offset: int) -> str:
    value = f"helpers.VALUE + {offset}" if uses_helper else str(offset)
    return (
        ("import helpers\n" if uses_helper else "")
        + "from luminal import IPhoton\n\n"
        + f"class {name}(IPhoton):\n    VALUE = {value}\n\n"
        + "    async def finalize(self):\n        pass\n"
    )


def random_branch(rng: random.Random) -> dict[str, str]:
    """A tree: relative path → content."""
    value = rng.randint(1000, 9999)
    if rng.random() < 0.5:
        files = {"helpers.py": f"VALUE = {value}\n"}
    else:
        files = {"helpers/__init__.py": "from .core import VALUE\n"}
        files["helpers/core.py"] = f"VALUE = {value}\n"
    places = rng.sample([(place, stem) for place in PLACES for stem in "abc"], 4)
    for name, (place, stem) in zip(rng.sample(NAMES, 4), places, strict=True):
        text = photon(name, rng.random() < 0.7, rng.randint(1, 99))
        files[f"{place}{stem}/__init__.py" if rng.random() < 0.3 else f"{place}{stem}.py"] = text
    return files


def git(repo: Path, *arguments: str) -> None:
    subprocess.run(["git", "-C", str(repo), *arguments], check=True, capture_output=True)


def make_repository(repo: Path, rng: random.Random) -> list[str]:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "b0")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    branches = [f"b{index}" for index in range(3)]
    for index, branch in enumerate(branches):
        if index:
            git(repo, "checkout", "-q", "-b", branch)
            git(repo, "rm", "-q", "-r", ".")
        for relative, text in random_branch(rng).items():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            (repo / relative).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", branch)
    git(repo, "checkout", "-q", "b0")
    return branches


def on_disk(repo: Path) -> dict[str, tuple[str, int]]:
    """What should run, from the files: photon name → (path relative to the tree, VALUE)."""
    helper = next(path for path in (repo / "helpers.py", repo / "helpers/core.py") if path.exists())
    helper_value = int(helper.read_text().split("=")[1])
    expected = {}
    for source in select_sources(repo, recursive=True).sources:
        text = (source / "__init__.py" if source.is_dir() else source).read_text()
        found = re.search(r"class (\w+)\(IPhoton\):\n    VALUE = (.*)\n", text)
        if found is None:
            continue  # the helper
        offset = int(found[2].rpartition(" ")[2])
        value = offset + helper_value if "helpers.VALUE" in found[2] else offset
        expected[found[1]] = (source.relative_to(repo).as_posix(), value)
    return expected


def running(loader: Loader, repo: Path) -> dict[str, tuple[str, int]]:
    return {
        name: (
            Path(handler.filepath).relative_to(repo).as_posix(),
            getattr(handler.photon_class, "VALUE"),  # noqa: B009
        )
        for name, handler in loader.photons.items()
        if handler.started
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 15, 16, 64])
async def test_random_branch_switches_end_in_step_with_the_disk(
    tmp_path: Path, luminal_loader: Loader, seed: int
) -> None:
    rng = random.Random(seed)
    repo = tmp_path.resolve() / "repo"
    branches = make_repository(repo, rng)
    await luminal_loader.watch_photons(repo, debounce=0.01)
    watch = luminal_loader._watch
    assert watch is not None
    assert running(luminal_loader, repo) == on_disk(repo)

    for _ in range(SWITCHES):
        git(repo, "checkout", "-q", rng.choice(branches))
        expected = on_disk(repo)
        try:
            await wait_for(
                lambda expected=expected: (  # type: ignore[misc]
                    not (watch.pending or watch.vanishing or watch.dirty)
                    and running(luminal_loader, repo) == expected
                )
            )
        except AssertionError:
            assert running(luminal_loader, repo) == expected  # shows how they differ
            raise
