"""``logging`` and ``suppress_errors``: what the loader says, and when it raises."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from luminal import DirectoryLoadError, Handler, Loader, PhotonLoadError, PhotonReloadError
from luminal.testing import EventRecorder

TIDY = """
from luminal import IPhoton

class Tidy(IPhoton, name="tidy"):
    async def finalize(self):
        pass
"""

BARE = "from luminal import IPhoton\nclass Bare(IPhoton, name='bare'):\n    pass\n"


async def lifecycle(loader: Loader, photon_dir: Path) -> None:
    """Load, start, reload (well and badly), fail a load, and unload with and without
    finalizer."""
    tidy = photon_dir / "tidy.py"
    tidy.write_text(TIDY)
    (photon_dir / "bare.py").write_text(BARE)
    handler = await loader.load_photon(tidy)
    assert isinstance(handler, Handler)
    await handler.start()
    await loader.reload_photon("tidy")
    tidy.write_text("def broken(:\n")
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("tidy")
    broken = photon_dir / "broken.py"
    broken.write_text("raise RuntimeError('nope')\n")
    if not loader.suppress_errors:
        with pytest.raises(PhotonLoadError):
            await loader.load_photon(broken)
    bare = await loader.load_photon(photon_dir / "bare.py")
    assert isinstance(bare, Handler)
    await bare.start()
    await loader.unload_photon("bare")
    await loader.unload_photon("tidy")


def luminal_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.split(".")[0] == "luminal"]


async def test_logging_true_logs_through_the_luminal_loggers(
    photon_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="luminal"):
        async with Loader(logging=True) as loader:
            await lifecycle(loader, photon_dir)
    records = luminal_records(caplog)
    assert records
    assert all(record.name.startswith("luminal.") for record in records)
    messages = [record.getMessage() for record in records]
    assert any(message.startswith("loaded photon tidy from") for message in messages)
    assert any(message.startswith("started photon tidy from") for message in messages)
    assert any(message.startswith("reloaded photon tidy from") for message in messages)
    assert any(message.startswith("unloaded photon tidy from") for message in messages)
    errors = [record for record in records if record.levelno == logging.ERROR]
    assert any("broken" in record.getMessage() for record in errors)
    assert any(isinstance(record.exc_info, tuple) for record in errors)
    warnings = [record for record in records if record.levelno == logging.WARNING]
    assert any("bare" in record.getMessage() for record in warnings)


async def test_logging_false_logs_nothing(
    photon_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with Loader(logging=False) as loader:
            await lifecycle(loader, photon_dir)
    assert luminal_records(caplog) == []


async def test_the_luminal_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("luminal").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


async def test_suppress_errors_reports_instead_of_raising(
    photon_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (photon_dir / "good.py").write_text(TIDY)
    (photon_dir / "bad.py").write_text("raise RuntimeError('nope')\n")
    with caplog.at_level(logging.DEBUG, logger="luminal"):
        async with Loader(logging=True, suppress_errors=True) as loader:
            observer = EventRecorder()
            loader.plugin_manager.register(observer)
            handlers = await loader.load_photons(photon_dir)
            assert [handler.name for handler in handlers] == ["tidy"]
            assert await loader.load_photon(photon_dir / "bad.py") == []
            assert len(observer.errors) == 2
    assert any("nope" in record.getMessage() for record in luminal_records(caplog))


async def test_without_suppress_errors_a_directory_raises_after_loading_the_rest(
    photon_dir: Path,
) -> None:
    (photon_dir / "good.py").write_text(TIDY)
    (photon_dir / "bad.py").write_text("raise RuntimeError('nope')\n")
    async with Loader() as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir)
        assert [handler.name for handler in caught.value.handlers] == ["tidy"]
        assert list(loader.photons) == ["tidy"]
        assert caught.value.path == str(photon_dir.resolve())


async def test_suppress_errors_does_not_hide_a_failed_reload(photon_dir: Path) -> None:
    path = photon_dir / "tidy.py"
    path.write_text(TIDY)
    async with Loader(suppress_errors=True) as loader:
        handler = await loader.load_photon(path)
        assert isinstance(handler, Handler)
        path.write_text("def broken(:\n")
        with pytest.raises(PhotonReloadError):
            await loader.reload_photon(handler)
        assert loader.photons["tidy"] is handler
