"""Sphinx configuration: the user guide and the API reference generated from the docstrings."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from luminal import __version__

project = "Luminal"
author = "The Luminal developers"
copyright = "The Luminal developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Hot-reloadable plugins on pluggy", "fixed_sidebar": True}
