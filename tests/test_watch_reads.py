"""A saved file is read and hashed once per change: the bytes that decided on the reload are
the bytes imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from luminal import Loader
from luminal.reading import read_source
from luminal.testing import WritePhoton
from tests.watch_support import greeter, greetings, wait_for


@pytest.fixture
def import_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The sources that an import read from disk from now on."""
    reads: list[Path] = []

    def counting(path: Path, mode: int | None = None) -> dict[Path, bytes]:
        reads.append(path)
        return read_source(path, mode)

    # Where an import reads its source: luminal.sources' own name for it.
    monkeypatch.setattr("luminal.sources.read_source", counting)
    return reads


async def test_saved_file_is_imported_from_the_bytes_read_to_decide(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, import_reads: list[Path]
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await watching.watch_photons(photon_dir)
    import_reads.clear()
    path.write_text(greeter("howdy"))
    await wait_for(lambda: greetings(watching) == ["howdy ada"])
    assert import_reads == []


async def test_host_reload_still_reads_the_file(
    loader: Loader, write_photon: WritePhoton, import_reads: list[Path]
) -> None:
    path = write_photon("greeter.py", greeter("hello"))
    await loader.load_photon(path)
    path.write_text(greeter("howdy"))
    await loader.reload_photon(path)
    assert import_reads == [path, path]
