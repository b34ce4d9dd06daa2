"""The package facade: ``luminal.__all__`` lists exactly the public names, sorted."""

from __future__ import annotations

import types

import luminal


def test_all_is_sorted() -> None:
    assert luminal.__all__ == sorted(luminal.__all__)


def test_all_equals_the_public_names_of_the_namespace() -> None:
    public = {
        name
        for name, value in vars(luminal).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(luminal.__all__) - {"__version__"} == public


def test_every_name_in_all_exists() -> None:
    for name in luminal.__all__:
        assert hasattr(luminal, name), name


def test_errors_share_one_base() -> None:
    errors = [
        value
        for value in vars(luminal).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert errors
    assert all(issubclass(error, luminal.LuminalError) for error in errors)
    assert issubclass(luminal.PhotonNotFoundError, FileNotFoundError)
    assert issubclass(luminal.DirectoryNotFoundError, FileNotFoundError)
    assert issubclass(luminal.PhotonNotInitializedError, RuntimeError)
    assert issubclass(luminal.FinalizerNotImplementedError, NotImplementedError)
    assert issubclass(luminal.ThreadManagerAlreadyRunningError, RuntimeError)
    assert issubclass(luminal.PhotonLoadError, ImportError)
    assert issubclass(luminal.PhotonNameConflictError, luminal.PhotonLoadError)


def test_version_is_a_string() -> None:
    assert isinstance(luminal.__version__, str)
    assert luminal.__version__
