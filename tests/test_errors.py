"""Luminal's errors cross processes: each pickles with its type, message, attributes and cause."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import luminal.errors
from luminal import Handler, Loader
from luminal.discovery import PhotonEntryPoint
from luminal.errors import (
    DirectoryLoadError,
    DirectoryNotFoundError,
    EntryPointGroupLoadError,
    EntryPointLoadError,
    FinalizerNotImplementedError,
    InstalledUpdateError,
    LoaderClosedError,
    LuminalError,
    PhotonBaseExceptionError,
    PhotonDependencyError,
    PhotonExitError,
    PhotonHookError,
    PhotonHookTimeoutError,
    PhotonLoadError,
    PhotonNameConflictError,
    PhotonNotFoundError,
    PhotonNotInitializedError,
    PhotonQuarantinedError,
    PhotonReentryError,
    PhotonReloadError,
    PhotonStartError,
    PhotonStopError,
    PhotonTrustError,
    ThreadManagerAlreadyRunningError,
)
from luminal.testing import WritePhoton

GOOD = """
from luminal import IPhoton

class Good(IPhoton, name="good"):
    async def finalize(self):
        pass
"""
ENTRY = PhotonEntryPoint("hello", "luminal_hello:Hello", "luminal.photons", "hello-dist", "1.0")
HOOK_ERROR = PhotonHookError("answer of photon 'a' raised ValueError: no", "a", "answer")
LOAD_ERROR = PhotonLoadError("syntax error in photon /p/a.py", "/p/a.py")

SAMPLES: dict[str, Callable[[], LuminalError]] = {
    "LuminalError": lambda: LuminalError("something failed"),
    "PhotonNotFoundError": lambda: PhotonNotFoundError("no loaded photon 'a'", "a"),
    "DirectoryNotFoundError": lambda: DirectoryNotFoundError("no directory", Path("/p")),
    "PhotonNotInitializedError": lambda: PhotonNotInitializedError("never started", "a"),
    "FinalizerNotImplementedError": lambda: FinalizerNotImplementedError("no finalize", "a"),
    "ThreadManagerAlreadyRunningError": lambda: ThreadManagerAlreadyRunningError("watching"),
    "PhotonReentryError": lambda: PhotonReentryError("would wait for itself"),
    "LoaderClosedError": lambda: LoaderClosedError("the loader is closed"),
    "PhotonExitError": lambda: PhotonExitError(3),
    "PhotonBaseExceptionError": lambda: PhotonBaseExceptionError(GeneratorExit()),
    "PhotonLoadError": lambda: PhotonLoadError("cannot import", "/p/a.py"),
    "PhotonNameConflictError": lambda: PhotonNameConflictError("a", "/p/a.py", "/q/a.py"),
    "PhotonTrustError": lambda: PhotonTrustError("refusing /p/a.py", "/p/a.py", "lock"),
    "EntryPointLoadError": lambda: EntryPointLoadError("failed", ENTRY, "/site/luminal_hello"),
    "DirectoryLoadError": lambda: DirectoryLoadError("/p", [LOAD_ERROR], []),
    "EntryPointGroupLoadError": lambda: EntryPointGroupLoadError(
        "luminal.photons", [EntryPointLoadError("failed", ENTRY)], []
    ),
    "PhotonStartError": lambda: PhotonStartError("photon_start raised", "a", "/p/a.py"),
    "PhotonDependencyError": lambda: PhotonDependencyError(
        "cannot start", "a", "/p/a.py", {"db>=1.2": "not loaded"}, ("a", "b", "a")
    ),
    "PhotonStopError": lambda: PhotonStopError("left running", "a", "/p/a.py"),
    "PhotonReloadError": lambda: PhotonReloadError("reload failed", ["/p/a.py", "/p/b.py"]),
    "InstalledUpdateError": lambda: InstalledUpdateError("cannot apply", "hello-dist", "1", "2"),
    "PhotonHookError": lambda: PhotonHookError("answer raised", "a", "answer"),
    "PhotonHookTimeoutError": lambda: PhotonHookTimeoutError("answer timed out", "a", "answer"),
    "PhotonQuarantinedError": lambda: PhotonQuarantinedError("quarantined", HOOK_ERROR, 3),
}


def described(value: object) -> object:
    """What a host can read of ``value``, with errors (compared by identity) spelt out."""
    if isinstance(value, BaseException):
        attributes = {name: described(item) for name, item in vars(value).items()}
        if isinstance(value, ImportError):
            attributes["path"] = value.path
        return (type(value), value.args, str(value), attributes, described(value.__cause__))
    if isinstance(value, (list, tuple)):
        return [described(item) for item in value]
    return value


def round_trip(error: BaseException) -> BaseException:
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, BaseException)
    return copy


@pytest.mark.parametrize("name", luminal.errors.__all__)
def test_every_error_pickles_with_its_message_attributes_and_cause(name: str) -> None:
    error = SAMPLES[name]()  # a new error needs a sample here, and must pickle
    cause = ValueError("the underlying failure")
    error.__cause__ = cause
    copy = round_trip(error)
    assert type(copy) is type(error)
    assert described(copy) == described(error)
    assert isinstance(copy.__cause__, ValueError)
    assert copy.__suppress_context__


RAISE_IN_CHILD = """
import pickle, sys
from luminal.errors import PhotonReloadError, PhotonStartError

start = PhotonStartError("photon_start raised", "a", "/p/a.py")
start.__cause__ = ValueError("port taken")
error = PhotonReloadError("reload of /p/a.py failed, nothing changed", ["/p/a.py"])
error.__cause__ = start
sys.stdout.buffer.write(pickle.dumps(error))
"""


def test_an_error_pickled_in_another_process_unpickles_here() -> None:
    child = subprocess.run([sys.executable, "-c", RAISE_IN_CHILD], capture_output=True, check=True)
    error = pickle.loads(child.stdout)
    assert isinstance(error, PhotonReloadError)
    assert (str(error), error.paths) == ("reload of /p/a.py failed, nothing changed", ["/p/a.py"])
    start = error.__cause__
    assert isinstance(start, PhotonStartError)
    assert (start.photon_name, start.path) == ("a", "/p/a.py")
    assert isinstance(start.__cause__, ValueError)


def test_a_cause_that_cannot_be_pickled_is_left_out() -> None:
    class LocalError(Exception):
        pass

    error = PhotonHookError("answer raised LocalError", "a", "answer")
    error.__cause__ = LocalError("mine")
    copy = round_trip(error)
    assert isinstance(copy, PhotonHookError)
    assert (copy.photon_name, copy.hook_name, str(copy)) == ("a", "answer", str(error))
    assert copy.cause is None


@pytest.fixture
def photon_module() -> Iterator[types.ModuleType]:
    """A module standing for a photon's: in ``sys.modules`` only until the test drops it."""
    module = types.ModuleType("photon_failures_for_test")
    exec("class PhotonFailure(Exception):\n    pass\n", module.__dict__)
    sys.modules[module.__name__] = module
    yield module
    sys.modules.pop(module.__name__, None)


def test_a_cause_whose_class_is_gone_is_left_out_where_it_is_unpickled(
    photon_module: types.ModuleType,
) -> None:
    error = PhotonHookError("answer raised PhotonFailure", "a", "answer")
    error.__cause__ = photon_module.PhotonFailure("broken")
    data = pickle.dumps(error)
    del sys.modules[photon_module.__name__]  # as in another process, or after the unload
    copy = pickle.loads(data)
    assert isinstance(copy, PhotonHookError)
    assert str(copy) == str(error)
    assert copy.cause is None


def test_threads_left_running_stay_in_their_process() -> None:
    error = PhotonStopError("thread 'worker' left running", "a", "/p/a.py", [threading.Thread()])
    copy = round_trip(error)
    assert isinstance(copy, PhotonStopError)
    assert (str(copy), copy.photon_name, copy.path, copy.threads) == (
        str(error),
        "a",
        "/p/a.py",
        [],
    )


async def test_a_directory_load_error_pickles_without_its_handlers(
    loader: Loader, write_photon: WritePhoton
) -> None:
    write_photon("a_good.py", GOOD)
    broken = write_photon("b_broken.py", "def broken(:\n")
    with pytest.raises(DirectoryLoadError) as caught:
        await loader.load_photons(broken.parent)
    assert [type(handler) for handler in caught.value.handlers] == [Handler]
    copy = round_trip(caught.value)
    assert isinstance(copy, DirectoryLoadError)
    assert (str(copy), copy.path, copy.handlers) == (str(caught.value), str(broken.parent), [])
    [load_error] = copy.errors
    assert isinstance(load_error, PhotonLoadError)
    assert load_error.path == str(broken)
    assert isinstance(load_error.__cause__, SyntaxError)


async def test_a_not_found_error_naming_a_handler_pickles_without_it(
    loader: Loader, write_photon: WritePhoton
) -> None:
    handler = await loader.load_photon(write_photon("good.py", GOOD))
    assert isinstance(handler, Handler)
    await loader.unload_photon(handler, force_stop=True)
    with pytest.raises(PhotonNotFoundError) as caught:
        await loader.unload_photon(handler)
    copy = round_trip(caught.value)
    assert isinstance(copy, PhotonNotFoundError)
    assert (type(copy), str(copy), copy.photon) == (PhotonNotFoundError, str(caught.value), None)
