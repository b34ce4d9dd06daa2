"""Run by every child Python of the suite (``tests.isolation.child_env`` puts this directory
on ``PYTHONPATH``): hide the photon distributions installed in the test process's
environment."""

import os
from pathlib import Path

from tests.isolation import HIDDEN_SITES_VARIABLE, hide_installed_photons

hide_installed_photons(
    {Path(each) for each in os.environ.get(HIDDEN_SITES_VARIABLE, "").split(os.pathsep) if each}
)
