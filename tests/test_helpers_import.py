"""Helpers, however they are imported, belong to the photon tree that imported them."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from luminal import Handler, Loader, PhotonLoadError, PhotonReloadError
from luminal.finders import is_helper_module
from luminal.testing import EventRecorder, WritePhoton
from tests.watch_support import greetings, wait_for

SYS_PATH_USER = """
    import os, sys
    sys.path.insert(0, os.path.dirname(__file__))
    import sidekick
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return sidekick.WORD + " " + who

        async def finalize(self):
            pass
"""

IMPORTLIB_USER = """
    import importlib
    from luminal import IPhoton, hookimpl

    sidekick = importlib.import_module("sidekick")

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return sidekick.WORD + " " + who

        async def finalize(self):
            pass
"""

NAMESPACE_USER = """
    import os, sys
    sys.path.insert(0, os.path.dirname(__file__))
    import spaced.sidekick
    from luminal import IPhoton, hookimpl

    class Photon(IPhoton, name={name!r}):
        @hookimpl
        def greet(self, who):
            return spaced.sidekick.WORD + " " + who

        async def finalize(self):
            pass
"""

PLAIN_USER = """
    import helpers
    from helpers import WORD
    from luminal import IPhoton

    class Photon(IPhoton, name={name!r}):
        word = WORD
        module_word = helpers.WORD
"""


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """Photons of these tests add their directory to ``sys.path``; take it out again."""
    before = list(sys.path)
    yield
    sys.path[:] = before


def word_of(handler: Handler | list[Handler]) -> str:
    assert isinstance(handler, Handler)
    word = getattr(handler.photon_class, "word")  # noqa: B009
    assert word == getattr(handler.photon_class, "module_word")  # noqa: B009
    return str(word)


@pytest.mark.parametrize("source", [SYS_PATH_USER, IMPORTLIB_USER], ids=["sys.path", "importlib"])
async def test_helper_is_reloaded_and_removed_with_its_photon(
    watching: Loader, write_photon: WritePhoton, source: str
) -> None:
    helper = write_photon("sidekick.py", "WORD = 'old'\n")
    user = write_photon("user.py", source.format(name="user"))
    handler = await watching.load_photon(user)
    assert isinstance(handler, Handler)
    await handler.start()
    assert greetings(watching) == ["old ada"]
    assert sys.modules["sidekick"].__file__ == str(helper)

    helper.write_text("WORD = 'new'\n")
    fresh = await watching.reload_photon(handler)
    assert isinstance(fresh, Handler)
    assert greetings(watching) == ["new ada"]

    await watching.unload_photon(fresh)
    assert "sidekick" not in sys.modules


async def test_helper_edit_under_watching_reloads_the_photon_that_used_the_sys_path_idiom(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    helper = write_photon("sidekick.py", "WORD = 'hi'\n")
    write_photon("user.py", SYS_PATH_USER.format(name="user"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["hi ada"]

    helper.write_text("WORD = 'hello'\n")
    await wait_for(lambda: greetings(watching) == ["hello ada"])
    assert [new.name for _, new in recorder.reloaded] == ["user"]


@pytest.fixture
def _forget_namespace_package() -> Iterator[None]:
    """Python keeps namespace package ``spaced`` in ``sys.modules`` (it is not a helper)."""
    yield
    sys.modules.pop("spaced", None)


@pytest.mark.usefixtures("_forget_namespace_package")
async def test_namespace_package_module_is_a_helper_reloaded_and_removed_with_its_photon(
    watching: Loader, write_photon: WritePhoton
) -> None:
    helper = write_photon("spaced/sidekick.py", "WORD = 'old'\n")
    user = write_photon("user.py", NAMESPACE_USER.format(name="user"))
    handler = await watching.load_photon(user)
    assert isinstance(handler, Handler)
    await handler.start()
    assert greetings(watching) == ["old ada"]
    assert sys.modules["spaced.sidekick"].__file__ == str(helper)
    assert is_helper_module(sys.modules["spaced.sidekick"])
    assert not is_helper_module(sys.modules["spaced"])

    helper.write_text("WORD = 'new'\n")
    fresh = await watching.reload_photon(handler)
    assert isinstance(fresh, Handler)
    assert greetings(watching) == ["new ada"]

    await watching.unload_photon(fresh)
    assert "spaced.sidekick" not in sys.modules


@pytest.mark.usefixtures("_forget_namespace_package")
async def test_namespace_package_module_edit_under_watching_reloads_its_photon(
    watching: Loader, photon_dir: Path, write_photon: WritePhoton, recorder: EventRecorder
) -> None:
    helper = write_photon("spaced/sidekick.py", "WORD = 'hi'\n")
    write_photon("user.py", NAMESPACE_USER.format(name="user"))
    await watching.watch_photons(photon_dir)
    assert greetings(watching) == ["hi ada"]

    helper.write_text("WORD = 'hello'\n")
    await wait_for(lambda: greetings(watching) == ["hello ada"])
    assert [new.name for _, new in recorder.reloaded] == ["user"]


@pytest.mark.usefixtures("_forget_namespace_package")
async def test_package_in_a_namespace_package_leaves_with_its_photon_submodules_and_all(
    tmp_path: Path, loader: Loader
) -> None:
    (tmp_path / "spaced" / "words").mkdir(parents=True)
    (tmp_path / "spaced" / "words" / "__init__.py").write_text("from .base import WORD\n")
    base = tmp_path / "spaced" / "words" / "base.py"
    base.write_text("WORD = 'old'\n")
    user = tmp_path / "user.py"
    user.write_text(
        "import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\n"
        "import spaced.words\nfrom luminal import IPhoton\n\n"
        "class Photon(IPhoton, name='user'):\n    word = module_word = spaced.words.WORD\n"
    )
    assert word_of(await loader.load_photon(user)) == "old"
    await loader.unload_photon("user", force_stop=True)
    assert [name for name in sys.modules if name.startswith("spaced.")] == []

    base.write_text("WORD = 'new'\n")
    assert word_of(await loader.load_photon(user)) == "new"


async def test_two_trees_each_get_their_own_helper_module(tmp_path: Path, loader: Loader) -> None:
    for tree, word in (("first", "one"), ("second", "two")):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "helpers.py").write_text(f"WORD = {word!r}\n")
        (tmp_path / tree / "user.py").write_text(
            PLAIN_USER.replace("\n    ", "\n").format(name=f"user_{tree}")
        )
    first = await loader.load_photon(tmp_path / "first" / "user.py")
    second = await loader.load_photon(tmp_path / "second" / "user.py")
    assert word_of(first) == "one"
    assert word_of(second) == "two"

    (tmp_path / "second" / "helpers.py").write_text("WORD = 'three'\n")
    assert word_of(await loader.reload_photon("user_second")) == "three"
    assert word_of(loader.photons["user_first"]) == "one"


async def test_two_loaders_each_get_their_own_helper_module(tmp_path: Path) -> None:
    words = {}
    async with Loader() as one, Loader() as two:
        for loader, tree, word in ((one, "first", "one"), (two, "second", "two")):
            (tmp_path / tree).mkdir()
            (tmp_path / tree / "helpers.py").write_text(f"WORD = {word!r}\n")
            (tmp_path / tree / "user.py").write_text(
                PLAIN_USER.replace("\n    ", "\n").format(name="user")
            )
            words[tree] = word_of(await loader.load_photon(tmp_path / tree / "user.py"))
    assert words == {"first": "one", "second": "two"}
    assert "helpers" not in sys.modules


async def test_two_loaders_of_one_tree_keep_the_helper_one_of_them_still_uses(
    write_photon: WritePhoton, photon_dir: Path
) -> None:
    # Unloading the first loader's photon took the helper out of sys.modules while the second
    # loader's photon of the same tree still ran with it: the second's next photon of the
    # tree imported another copy, and its photons no longer shared one.
    write_photon("helpers.py", "WORD = object()\n")
    path = write_photon("user.py", PLAIN_USER.format(name="user"))
    async with Loader() as one, Loader() as two:
        await one.load_photon(path)
        kept = await two.load_photon(path)
        shared = sys.modules["helpers"]
        await one.unload_photon("user", force_stop=True)
        assert sys.modules.get("helpers") is shared
        other = await two.load_photon(write_photon("other.py", PLAIN_USER.format(name="other")))
        assert isinstance(kept, Handler)
        assert isinstance(other, Handler)
        assert getattr(other.photon_class, "word") is shared.WORD  # noqa: B009
        assert getattr(kept.photon_class, "word") is shared.WORD  # noqa: B009
        await two.unload_photons(["user", "other"], force_stop=True)
        assert "helpers" not in sys.modules


def test_two_loaders_of_one_tree_in_two_threads_load_and_unload_side_by_side(
    write_photon: WritePhoton, photon_dir: Path
) -> None:
    # Each loader's unload read every loader's registry, and each import the newest name in
    # sys.modules, while the other thread changed them: a load or unload raised RuntimeError
    # (dictionary changed size during iteration).
    write_photon("helpers.py", "WORD = object()\n")
    for index in range(100):
        write_photon(f"user{index}.py", PLAIN_USER.format(name=f"user{index}"))
    deadline, failures = time.monotonic() + 3, list[BaseException]()

    async def churn() -> None:
        async with Loader(code_cache=False) as loader:
            while time.monotonic() < deadline and not failures:
                await loader.load_photons(photon_dir)
                await loader.unload_photons(list(loader.photons), force_stop=True)

    def in_a_thread() -> None:
        try:
            asyncio.run(churn())
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    threads = [threading.Thread(target=in_a_thread) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    assert failures == []


async def test_photons_of_one_tree_share_one_helper_module(
    write_photon: WritePhoton, loader: Loader
) -> None:
    write_photon("helpers.py", "WORD = object()\n")
    first = await loader.load_photon(write_photon("a.py", PLAIN_USER.format(name="a")))
    second = await loader.load_photon(write_photon("b.py", PLAIN_USER.format(name="b")))
    assert isinstance(first, Handler)
    assert isinstance(second, Handler)
    assert getattr(first.photon_class, "word") is getattr(second.photon_class, "word")  # noqa: B009


async def test_installed_module_of_the_same_name_is_never_shadowed(
    write_photon: WritePhoton, loader: Loader
) -> None:
    write_photon("json.py", "raise RuntimeError('the tree must not shadow json')\n")
    user = write_photon(
        "user.py",
        """
        import json
        from luminal import IPhoton

        class Photon(IPhoton, name="user"):
            dumps = json.dumps
        """,
    )
    handler = await loader.load_photon(user)
    assert isinstance(handler, Handler)
    assert getattr(handler.photon_class, "dumps") is sys.modules["json"].dumps  # noqa: B009


async def test_helper_packages_of_two_trees_keep_their_own_modules(
    tmp_path: Path, loader: Loader
) -> None:
    for tree, word in (("first", "one"), ("second", "two")):
        (tmp_path / tree / "helpers").mkdir(parents=True)
        (tmp_path / tree / "helpers" / "__init__.py").write_text("")
        (tmp_path / tree / "helpers" / "words.py").write_text(f"WORD = {word!r}\n")
        (tmp_path / tree / "user.py").write_text(
            "import helpers.words\n"
            "from luminal import IPhoton\n\n"
            f"class Photon(IPhoton, name='user_{tree}'):\n"
            "    word = helpers.words.WORD\n"
            "    module_word = WORD = __import__('helpers.words').words.WORD\n"
        )
    first = await loader.load_photon(tmp_path / "first" / "user.py")
    second = await loader.load_photon(tmp_path / "second" / "user.py")
    assert word_of(first) == "one"
    assert word_of(second) == "two"


async def test_helper_package_leaves_with_its_photon_submodules_and_all(
    tmp_path: Path, loader: Loader
) -> None:
    # A submodule left in sys.modules would be what the package's next import gets, however
    # its file changed meanwhile.
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "__init__.py").write_text("from .base import WORD\n")
    base = tmp_path / "words" / "base.py"
    base.write_text("WORD = 'old'\n")
    user = tmp_path / "user.py"
    user.write_text(
        "import words\nfrom luminal import IPhoton\n\n"
        "class Photon(IPhoton, name='user'):\n    word = module_word = words.WORD\n"
    )
    assert word_of(await loader.load_photon(user)) == "old"
    await loader.unload_photon("user", force_stop=True)
    assert [name for name in sys.modules if name.startswith("words")] == []

    base.write_text("WORD = 'new'\n")
    assert word_of(await loader.load_photon(user)) == "new"


async def test_a_hanging_import_holds_up_no_other_tree(tmp_path: Path) -> None:
    release = tmp_path / "release"
    (tmp_path / "stuck").mkdir()
    (tmp_path / "stuck" / "stuck_helpers.py").write_text("WORD = 'stuck'\n")
    (tmp_path / "stuck" / "stuck.py").write_text(
        "import os, time, stuck_helpers\n"
        f"while not os.path.exists({str(release)!r}):\n"
        "    time.sleep(0.01)\n"
    )
    (tmp_path / "free").mkdir()
    (tmp_path / "free" / "helpers.py").write_text("WORD = 'free'\n")
    (tmp_path / "free" / "user.py").write_text(
        PLAIN_USER.replace("\n    ", "\n").format(name="user")
    )
    async with Loader() as stuck, Loader() as free:
        hanging = asyncio.ensure_future(stuck.load_photons(tmp_path / "stuck"))
        try:
            await wait_for(lambda: "stuck_helpers" in sys.modules)
            handlers = await asyncio.wait_for(free.load_photons(tmp_path / "free"), 10)
            assert [handler.name for handler in handlers] == ["user"]
            assert not hanging.done()
        finally:
            release.touch()
            await hanging


HELPER_USER = """
    import {helper}
    from luminal import IPhoton

    class Photon(IPhoton, name={name!r}):
        async def finalize(self):
            pass
"""


async def test_a_source_that_drops_its_own_module_owns_no_earlier_helper(
    photon_dir: Path, write_photon: WritePhoton, loader: Loader
) -> None:
    """A source imported after another on the same worker thread takes its own module out of
    ``sys.modules``: reloading it must not take the first one's helper with it."""
    write_photon("a.py", HELPER_USER.format(helper="shared_helper", name="a"))
    write_photon("shared_helper.py", "VALUE = 1\n")
    dropper = write_photon(
        "b.py",
        "import sys\nfrom luminal import IPhoton\n\nclass Photon(IPhoton, name='b'):\n"
        "    pass\n\ndel sys.modules[__name__]\n",
    )
    await loader.load_photons(photon_dir)
    helper = sys.modules["shared_helper"]

    await loader.reload_photon(dropper)
    assert await loader.unload_photon(dropper, force_stop=True) is True

    assert sys.modules.get("shared_helper") is helper


async def test_a_helper_leaves_with_a_source_that_moved_its_own_module(
    write_photon: WritePhoton, loader: Loader
) -> None:
    """The source takes its module out of ``sys.modules`` and puts it back after importing its
    helper (keeping no reference to it): the helper is still the source's, removed with it."""
    write_photon("mover_helper.py", "VALUE = 1\n")
    mover = write_photon(
        "mover.py",
        "import importlib, sys\nfrom luminal import IPhoton\n\n"
        "importlib.import_module('mover_helper')\n"
        "sys.modules[__name__] = sys.modules.pop(__name__)\n\n"
        "class Photon(IPhoton, name='mover'):\n    pass\n",
    )
    await loader.load_photon(mover)
    assert "mover_helper" in sys.modules

    assert await loader.unload_photon(mover, force_stop=True) is True

    assert "mover_helper" not in sys.modules


TREE_USER = """
import sys
import time
from luminal import IPhoton

# Wait a moment for the other tree's photon to be importing too, as a slow import would.
deadline = time.monotonic() + 0.5
while not any({other!r} in name for name in list(sys.modules)) and time.monotonic() < deadline:
    time.sleep(0.01)

import helpers

class Photon(IPhoton, name={name!r}):
    tree = helpers.TREE
"""


async def test_two_trees_loaded_at_once_each_get_their_own_helper(
    tmp_path: Path, loader: Loader
) -> None:
    """Neither tree has imported its ``helpers`` before, so nothing is known to clash yet."""
    for tree, other in (("east", "west"), ("west", "east")):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "helpers.py").write_text(f"TREE = {tree!r}\n")
        (tmp_path / tree / f"{tree}_photon.py").write_text(
            TREE_USER.format(other=f"_{other}_photon_", name=tree)
        )

    await asyncio.gather(*(loader.load_photons(tmp_path / tree) for tree in ("east", "west")))

    for tree in ("east", "west"):
        photon_class = loader.photons[tree].photon_class
        assert getattr(photon_class, "tree", None) == tree


WAITS_FOR_A_DONE = """
import sys
import time

deadline = time.monotonic() + 10
while "a_done" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.001)
"""

A_USER = """
import helpers
import a_done
from luminal import IPhoton

class User(IPhoton, name="a_user"):
    tree = helpers.TREE
"""


async def test_a_loader_importing_meanwhile_never_answers_for_another_loaders_tree(
    tmp_path: Path,
) -> None:
    """Loader two's finders come first on ``sys.meta_path`` (installed last) and its batch
    holds tree B open while loader one imports tree A: ``import helpers`` of A's photon was
    answered by loader two's finder, from the only roots it had, with B's ``helpers.py``."""
    for tree in ("a", "b", "c"):
        (tmp_path / tree).mkdir()
    (tmp_path / "a" / "helpers.py").write_text("TREE = 'a'\n")
    (tmp_path / "a" / "a_done.py").write_text("")
    (tmp_path / "a" / "user.py").write_text(A_USER)
    (tmp_path / "b" / "helpers.py").write_text("TREE = 'b'\n")
    (tmp_path / "b" / "sub").mkdir()
    (tmp_path / "b" / "sub" / "slow.py").write_text(WAITS_FOR_A_DONE)
    (tmp_path / "c" / "other.py").write_text(
        "from luminal import IPhoton\n\nclass Other(IPhoton, name='other'):\n    pass\n"
    )
    async with Loader() as one, Loader(suppress_errors=True) as two:
        await one.load_photons(tmp_path / "c")  # loader one's finders go in first
        holding_b = asyncio.ensure_future(two.load_photons(tmp_path / "b", recursive=True))
        await wait_for(lambda: any("_slow_" in name for name in list(sys.modules)))
        user = await one.load_photon(tmp_path / "a" / "user.py")
        await holding_b
        assert isinstance(user, Handler)
        assert getattr(user.photon_class, "tree", None) == "a"


@pytest.mark.usefixtures("_forget_namespace_package")
async def test_an_unloaded_namespace_helper_is_not_what_the_next_tree_imports(
    watching: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The namespace package stays in ``sys.modules`` (it is no helper), but no longer holds
    the helper that left with its photon: ``from spaced import sidekick`` reads that attribute
    before it imports anything, so another tree's photon would run the unloaded copy."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the photons put their directory first
    users = []
    for tree, word in (("first", "one"), ("second", "two")):
        (tmp_path / tree / "spaced").mkdir(parents=True)
        (tmp_path / tree / "spaced" / "sidekick.py").write_text(f"WORD = {word!r}\n")
        user = tmp_path / tree / "user.py"
        user.write_text(
            textwrap.dedent(NAMESPACE_USER.format(name=tree))
            .replace("import spaced.sidekick\n", "from spaced import sidekick\n")
            .replace("spaced.sidekick.WORD", "sidekick.WORD")
        )
        users.append(user)
    first = await watching.load_photon(users[0])
    assert isinstance(first, Handler)
    await first.start()
    assert greetings(watching) == ["one ada"]
    await watching.unload_photon(first)
    assert not hasattr(sys.modules["spaced"], "sidekick")

    second = await watching.load_photon(users[1])
    assert isinstance(second, Handler)
    await second.start()
    assert greetings(watching) == ["two ada"]


@pytest.mark.parametrize("imported", [True, False], ids=["in-sys.modules", "on-disk-only"])
async def test_a_tree_without_the_helper_never_runs_another_tree_s(
    tmp_path: Path, loader: Loader, imported: bool
) -> None:
    # The other tree's helpers.py is in sys.modules (its photon imported it), or only on disk
    # beside a loaded photon: either way it is that tree's, and plain Python would not find it.
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    (tmp_path / "second" / "helpers.py").write_text("WORD = 'two'\n")
    neighbour = PLAIN_USER if imported else "from luminal import IPhoton\nclass P(IPhoton): pass\n"
    (tmp_path / "second" / "user.py").write_text(
        textwrap.dedent(neighbour).format(name="user_second")
    )
    (tmp_path / "first" / "user.py").write_text(
        textwrap.dedent(PLAIN_USER).format(name="user_first")
    )
    await loader.load_photon(tmp_path / "second" / "user.py")
    assert ("helpers" in sys.modules) is imported

    with pytest.raises(PhotonLoadError) as raised:
        await loader.load_photon(tmp_path / "first" / "user.py")
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)
    assert "user_first" not in loader.photons


async def test_a_helper_deleted_from_its_tree_is_not_replaced_by_another_tree_s(
    tmp_path: Path, loader: Loader
) -> None:
    for tree, word in (("first", "one"), ("second", "two")):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "helpers.py").write_text(f"WORD = {word!r}\n")
        (tmp_path / tree / "user.py").write_text(
            textwrap.dedent(PLAIN_USER).format(name=f"user_{tree}")
        )
    await loader.load_photon(tmp_path / "first" / "user.py")
    await loader.load_photon(tmp_path / "second" / "user.py")

    (tmp_path / "first" / "helpers.py").unlink()
    with pytest.raises(PhotonReloadError):
        await loader.reload_photon("user_first")
    assert word_of(loader.photons["user_first"]) == "one"
    assert word_of(loader.photons["user_second"]) == "two"


async def test_a_sub_directory_s_helper_is_not_what_the_tree_s_top_imports(
    tmp_path: Path, loader: Loader
) -> None:
    # The sub-directory's helpers.py shadows the tree's for its own photons only: a photon at
    # the top imports the top's, whichever ran last.
    (tmp_path / "sub").mkdir()
    (tmp_path / "helpers.py").write_text("WORD = 'top'\n")
    (tmp_path / "sub" / "helpers.py").write_text("WORD = 'sub'\n")
    for where, name in ((tmp_path, "top_user"), (tmp_path / "sub", "sub_user")):
        (where / f"{name}.py").write_text(textwrap.dedent(PLAIN_USER).format(name=name))
    top = await loader.load_photon(tmp_path / "top_user.py")
    sub = await loader.load_photon(tmp_path / "sub" / "sub_user.py")
    late = tmp_path / "late_user.py"
    late.write_text(textwrap.dedent(PLAIN_USER).format(name="late_user"))
    assert [word_of(top), word_of(sub)] == ["top", "sub"]

    assert word_of(await loader.load_photon(late)) == "top"
    assert word_of(await loader.reload_photon("sub_user")) == "sub"
    assert word_of(await loader.reload_photon("top_user")) == "top"
