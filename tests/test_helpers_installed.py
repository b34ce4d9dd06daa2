"""Modules next to an installed photon are other distributions, never its helpers."""

from __future__ import annotations

import sys
from pathlib import Path

from luminal import Loader
from luminal.trust import TrustPolicy, write_lock
from tests.distributions import install_distribution

PHOTON_MODULE = {
    "sunny_photon.py": """
        import plainlib
        from luminal import IPhoton

        class Sunny(IPhoton, name="sunny"):
            word = plainlib.WORD

            async def finalize(self):
                pass
    """
}


async def test_installed_library_imported_by_an_installed_photon_stays_installed(
    site_dir: Path,
) -> None:
    install_distribution(site_dir, "plainlib", {}, {"plainlib.py": "WORD = 'locked'\n"})
    install_distribution(site_dir, "sunny", {"sunny": "sunny_photon"}, PHOTON_MODULE)
    lock_file = write_lock(site_dir)
    # Upgraded after locking: a helper would now be refused, a distribution is not judged.
    (site_dir / "plainlib.py").write_text("WORD = 'installed'\n")
    try:
        async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
            [handler] = await loader.load_entry_points()
            await handler.start()
            assert getattr(handler.photon_class, "word") == "installed"  # noqa: B009
            library = sys.modules["plainlib"]
            await loader.unload_photon(handler)
        assert sys.modules.get("plainlib") is library
    finally:
        sys.modules.pop("plainlib", None)
