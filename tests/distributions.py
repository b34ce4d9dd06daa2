"""Installing real distributions for tests: ``*.dist-info`` metadata and module files.

What pip leaves in ``site-packages`` is written by hand: ``METADATA``, ``entry_points.txt``,
``INSTALLER`` and a ``RECORD`` with hashes, next to the modules; or, for an editable install,
a ``.pth`` file naming the project's source directory. ``importlib_metadata`` reads them as it
reads any installed distribution.
"""

from __future__ import annotations

import base64
import hashlib
import site
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

from luminal.discovery import DEFAULT_GROUP

__all__ = ["install_distribution", "install_editable", "loaded_files"]


def install_distribution(
    site_dir: Path,
    name: str,
    entry_points: Mapping[str, str],
    files: Mapping[str, str],
    version: str = "1.0",
    group: str = DEFAULT_GROUP,
) -> Path:
    """Install ``name`` into ``site_dir``: ``files`` (relative path → dedented source) and its
    ``*.dist-info``, declaring ``entry_points`` (name → value) in ``group``. Returns the
    ``*.dist-info`` directory."""
    written = [_write(site_dir / relative, source) for relative, source in files.items()]
    return _write_dist_info(site_dir, name, version, entry_points, group, written)


def install_editable(
    site_dir: Path,
    project_src: Path,
    name: str,
    entry_points: Mapping[str, str],
    files: Mapping[str, str],
    version: str = "1.0",
    egg_info: bool = False,
) -> Path:
    """Install ``name`` in editable mode, as hatchling's ``dev-mode-dirs`` does: ``files`` stay in
    ``project_src`` and a ``.pth`` file in ``site_dir`` puts that directory on ``sys.path``;
    ``direct_url.json`` says the install is editable, as pip writes it (PEP 610). With
    ``egg_info``, ``project_src`` also holds the project's ``*.egg-info``, as setuptools leaves
    it in a ``src/`` layout.

    ``site_dir`` is then processed as the interpreter processes ``site-packages`` at start-up,
    so the caller must have made ``sys.path`` a copy it restores (``monkeypatch``).
    """
    for relative, source in files.items():
        _write(project_src / relative, source)
    if egg_info:
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        _write(project_src / f"{_normalized(name)}.egg-info" / "PKG-INFO", metadata)
    pth = _write(site_dir / f"_{_normalized(name)}.pth", f"{project_src}\n")
    direct_url = f'{{"url": "{project_src.parent.as_uri()}", "dir_info": {{"editable": true}}}}'
    dist_info = _write_dist_info(
        site_dir, name, version, entry_points, DEFAULT_GROUP, [pth], direct_url=direct_url
    )
    site.addsitedir(str(site_dir))
    return dist_info


def loaded_files() -> set[Path]:
    """The files of every module in ``sys.modules``, to tell what an operation imported."""
    found: set[Path] = set()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str):
            found.add(Path(filename).resolve())
    return found


def _normalized(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _write_dist_info(
    site_dir: Path,
    name: str,
    version: str,
    entry_points: Mapping[str, str],
    group: str,
    files: list[Path],
    direct_url: str | None = None,
) -> Path:
    dist_info = site_dir / f"{_normalized(name)}-{version}.dist-info"
    lines = [f"[{group}]", *(f"{key} = {value}" for key, value in entry_points.items())]
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata_files = [
        _write(dist_info / "METADATA", metadata),
        _write(dist_info / "entry_points.txt", "\n".join(lines) + "\n"),
        _write(dist_info / "INSTALLER", "luminal-tests\n"),
    ]
    if direct_url is not None:
        metadata_files.append(_write(dist_info / "direct_url.json", direct_url))
    records = [_record(site_dir, path) for path in [*files, *metadata_files]]
    records.append(f"{(dist_info / 'RECORD').relative_to(site_dir).as_posix()},,")
    _write(dist_info / "RECORD", "\n".join(records) + "\n")
    return dist_info


def _record(site_dir: Path, path: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(site_dir).as_posix()},sha256={digest},{len(data)}"
