"""Real wheels for the installed-photon watch tests: built by hatchling, installed by pip.

:func:`build_wheel` writes a hatchling project and builds its wheel in this process (offline);
:class:`Environment` is a fresh venv without pip whose ``site-packages`` the test puts on
``sys.path``, and which this interpreter's pip installs into and uninstalls from
(``pip --python``), exactly as a user's ``pip install -U`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Mapping
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

from luminal.discovery import DEFAULT_GROUP

__all__ = ["Environment", "build_wheel", "photon_module"]


def photon_module(name: str, version: str, word: str = "acme") -> str:
    """A photon module greeting with its version, read from the top-level ``acme_util``."""
    return (
        textwrap.dedent(
            f"""
        import acme_util
        from luminal import IPhoton, hookimpl

        class Photon(IPhoton, name={name!r}):
            @hookimpl
            def greet(self, who):
                return f"{word} {{acme_util.VERSION}} {{who}}"

            async def finalize(self):
                pass
        """
        )
        + f"\nBUILT = {version!r}\n"
    )


def build_wheel(
    where: Path,
    name: str,
    version: str,
    entry_points: Mapping[str, str],
    files: Mapping[str, str | bytes],
    editable: bool = False,
) -> Path:
    """Build the wheel of project ``name`` ``version`` holding ``files`` (relative path →
    content) and declaring ``entry_points`` in the photon group; return the wheel's path.

    ``editable`` builds what ``pip install -e`` installs instead: a wheel whose ``.pth`` file
    names the project directory, where ``files`` stay (hatchling's ``dev-mode-dirs``)."""
    project = where / f"{name}-{version}"
    tops = sorted({relative.split("/", 1)[0] for relative in files})
    declared = "\n".join(f'{key} = "{value}"' for key, value in entry_points.items())
    includes = ", ".join(f'"{top}"' for top in tops)
    (project).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{name}"
            version = "{version}"

            [project.entry-points."{DEFAULT_GROUP}"]
            {{declared}}

            [tool.hatch.build]
            dev-mode-dirs = ["."]

            [tool.hatch.build.targets.wheel]
            only-include = [{includes}]
            """
        ).replace("{declared}", declared)
    )
    for relative, content in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    kind = "editable" if editable else "standard"
    [wheel] = WheelBuilder(str(project)).build(directory=str(where / "dist"), versions=[kind])
    return Path(wheel)


class Environment:
    """A venv to install wheels into; :attr:`site_packages` is what the test puts on
    ``sys.path``."""

    def __init__(self, root: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
        )
        scripts = "Scripts" if os.name == "nt" else "bin"
        self.python = root / scripts / ("python.exe" if os.name == "nt" else "python")
        variables = {"base": str(root), "platbase": str(root)}
        self.site_packages = Path(sysconfig.get_path("purelib", vars=variables)).resolve()

    def pip(self, *arguments: str) -> None:
        """Run this interpreter's pip on the venv, offline; fail with pip's output."""
        command = [sys.executable, "-m", "pip", "--python", str(self.python), *arguments]
        command += ["--no-input", "--disable-pip-version-check", "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(arguments)} failed:\n{done.stderr}"

    def install(self, wheel: Path) -> None:
        """``pip install -U``: upgrade or downgrade to ``wheel``, or install it."""
        self.pip("install", "--no-deps", "--no-index", "--upgrade", "--force-reinstall", str(wheel))

    def uninstall(self, name: str) -> None:
        self.pip("uninstall", "--yes", name)
