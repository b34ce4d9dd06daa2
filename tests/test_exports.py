"""The package facade: ``luminal.__all__`` lists exactly the public names, sorted, and
``import luminal`` imports what a call needs only when it needs it."""

from __future__ import annotations

import subprocess
import sys
import types

import luminal


def test_all_is_sorted() -> None:
    assert luminal.__all__ == sorted(luminal.__all__)


def test_all_equals_the_public_names_of_the_namespace() -> None:
    # dir() lists __all__ itself: the names are read where they are defined, the eager ones in
    # the module's namespace and the lazy ones in its table of names imported when asked for.
    namespace = vars(luminal)
    eager = {
        name
        for name, value in namespace.items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    lazy = set(namespace["_LAZY_NAMES"])
    assert set(luminal.__all__) - {"__version__"} == eager | lazy
    assert all(getattr(luminal, name) is not None for name in lazy)


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(luminal, "Lodaer")


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


def test_importing_luminal_leaves_the_loader_until_it_is_asked_for() -> None:
    imported = _modules_after("import luminal")
    assert {"luminal", "luminal.errors", "luminal.hookspecs"} <= imported
    assert "luminal.managers.loader" not in imported
    assert "luminal.photon" not in imported


def test_a_public_name_brings_its_module_when_asked_for() -> None:
    imported = _modules_after("from luminal import Loader, IPhoton")
    assert {"luminal.managers.loader", "luminal.photon"} <= imported


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from luminal import *", namespace)
    assert set(luminal.__all__) <= set(namespace)


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


def test_a_sub_module_is_an_attribute_of_the_package_when_asked_for() -> None:
    # Before ``import luminal`` was lazy it imported them all, so ``luminal.trust.write_lock``
    # and ``luminal.codecache.MAX_BYTES`` (both documented) worked after ``import luminal``.
    code = (
        "import luminal\n"
        "print(luminal.trust.write_lock.__name__, luminal.codecache.MAX_BYTES > 0)\n"
        "print(luminal.managers.registry.__name__, luminal.managers.Handler.__name__)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.split() == [
        "write_lock",
        "True",
        "luminal.managers.registry",
        "Handler",
    ]


_ALL_AT_ONCE = """
import threading, luminal
names = [n for n, m in vars(luminal)["_LAZY_NAMES"].items()]
barrier = threading.Barrier(len(names))
failed = []
def ask(name):
    barrier.wait(timeout=30)
    try:
        getattr(luminal, name)
    except BaseException as error:
        failed.append(f"{name}: {error!r}")
threads = [threading.Thread(target=ask, args=(name,)) for name in names]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=60)
print(failed)
"""


def test_threads_asking_for_public_names_at_once_all_get_them() -> None:
    # Each thread imports its name's module; with an import cycle among them (luminal.managers
    # imported its handler) about one run in six failed with _DeadlockError or ImportError.
    for _ in range(12):
        completed = subprocess.run(
            [sys.executable, "-c", _ALL_AT_ONCE], capture_output=True, text=True, check=True
        )
        assert completed.stdout.strip() == "[]"
