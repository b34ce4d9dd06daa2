"""The trust policy judges every byte that runs: helpers, package modules and the lock file."""

from __future__ import annotations

import asyncio
import os
import py_compile
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from luminal import DirectoryLoadError, Loader, PhotonLoadError, PhotonTrustError
from luminal.testing import WritePhoton
from luminal.trust import TrustPolicy, read_lock, write_lock

NOBODY = 65534

USER = """
    import helpers
    from luminal import IPhoton

    class User(IPhoton, name="user"):
        word = helpers.WORD
"""


def marking_helper(marker: Path, word: str = "hi") -> str:
    """A helper that leaves ``marker`` behind if any of its code runs."""
    return f"open({str(marker)!r}, 'w').close()\nWORD = {word!r}\n"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "helper-ran"


async def load_refused(loader: Loader, path: Path) -> PhotonTrustError:
    with pytest.raises(PhotonTrustError) as caught:
        await loader.load_photon(path)
    return caught.value


async def test_world_writable_helper_is_refused_before_it_runs(
    write_photon: WritePhoton, marker: Path
) -> None:
    helper = write_photon("helpers.py", marking_helper(marker))
    helper.chmod(0o666)
    user = write_photon("user.py", USER)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, user)
        assert error.rule == "writable"
        assert str(helper) in str(error)
        assert dict(loader.photons) == {}
    assert not marker.exists()
    assert "helpers" not in sys.modules


async def test_writable_helper_fails_its_user_under_load_photons_and_others_load(
    write_photon: WritePhoton, photon_dir: Path, marker: Path
) -> None:
    write_photon("helpers.py", marking_helper(marker)).chmod(0o666)
    write_photon("user.py", USER)
    write_photon("plain.py", "from luminal import IPhoton\nclass Plain(IPhoton): pass\n")
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir)
        assert list(loader.photons) == ["Plain"]
    failures = {Path(error.path or ""): error for error in caught.value.errors}
    assert isinstance(failures[photon_dir / "user.py"], PhotonTrustError)
    assert "helpers.py" in str(failures[photon_dir / "user.py"])
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
async def test_helper_owned_by_another_user_is_refused(
    write_photon: WritePhoton, marker: Path
) -> None:
    helper = write_photon("helpers.py", marking_helper(marker))
    os.chown(helper, NOBODY, NOBODY)
    user = write_photon("user.py", USER)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, user)
    assert error.rule == "writable"
    assert "belongs to another user" in str(error)
    assert not marker.exists()


async def test_helper_symlinked_out_of_the_photon_directory_is_refused(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(marking_helper(marker))
    (photon_dir / "helpers.py").symlink_to(outside)
    user = write_photon("user.py", USER)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, user)
    assert error.rule == "symlink"
    assert "helpers.py" in str(error)
    assert not marker.exists()


async def test_helper_edited_after_locking_is_refused_before_it_runs(
    photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    helper = write_photon("helpers.py", marking_helper(marker))
    user = write_photon("user.py", USER)
    lock_file = write_lock(photon_dir)
    helper.write_text(marking_helper(marker, "tampered"))
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, user)
    assert error.rule == "lock"
    assert str(helper) in str(error)
    assert not marker.exists()


async def test_helper_added_after_locking_is_not_pinned(
    photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    user = write_photon("user.py", USER)
    lock_file = write_lock(photon_dir)
    write_photon("helpers.py", marking_helper(marker))
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, user)
    assert error.rule == "lock"
    assert "not pinned" in str(error)
    assert not marker.exists()


async def test_pinned_helper_loads(photon_dir: Path, write_photon: WritePhoton) -> None:
    write_photon("helpers.py", "WORD = 'pinned'\n")
    user = write_photon("user.py", USER)
    lock_file = write_lock(photon_dir)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        handler = await loader.load_photon(user)
        assert not isinstance(handler, list)
        assert getattr(handler.photon_class, "word") == "pinned"  # noqa: B009


async def test_helper_found_through_sys_path_is_judged_too(
    write_photon: WritePhoton, marker: Path
) -> None:
    helper = write_photon("sidekick.py", marking_helper(marker))
    helper.chmod(0o666)
    user = write_photon(
        "user.py",
        """
        import os, sys
        sys.path.insert(0, os.path.dirname(__file__))
        import sidekick
        from luminal import IPhoton

        class User(IPhoton, name="user"):
            pass
        """,
    )
    try:
        async with Loader(trust=TrustPolicy()) as loader:
            error = await load_refused(loader, user)
    finally:
        sys.path[:] = [entry for entry in sys.path if entry != str(user.parent)]
    assert error.rule == "writable"
    assert "sidekick.py" in str(error)
    assert not marker.exists()


NAMESPACE_USER = """
    import os, sys
    sys.path.insert(0, os.path.dirname(__file__))
    import spaced.sidekick
    from luminal import IPhoton

    class User(IPhoton, name="user"):
        word = spaced.sidekick.WORD
"""


@pytest.fixture
def namespace_user(write_photon: WritePhoton) -> Iterator[Path]:
    """A photon importing ``sidekick`` of namespace package ``spaced`` (a directory without
    ``__init__.py``) through the ``sys.path`` idiom; Python keeps the namespace package."""
    user = write_photon("user.py", NAMESPACE_USER)
    yield user
    sys.path[:] = [entry for entry in sys.path if entry != str(user.parent)]
    sys.modules.pop("spaced", None)


async def test_writable_module_of_a_namespace_package_is_refused_before_it_runs(
    write_photon: WritePhoton, namespace_user: Path, marker: Path
) -> None:
    helper = write_photon("spaced/sidekick.py", marking_helper(marker))
    helper.chmod(0o666)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, namespace_user)
    assert error.rule == "writable"
    assert str(helper) in str(error)
    assert not marker.exists()
    assert "spaced.sidekick" not in sys.modules


async def test_namespace_package_module_added_after_locking_is_not_pinned(
    photon_dir: Path, write_photon: WritePhoton, namespace_user: Path, marker: Path
) -> None:
    (photon_dir / "spaced").mkdir()
    lock_file = write_lock(photon_dir)
    write_photon("spaced/sidekick.py", marking_helper(marker))
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, namespace_user)
    assert error.rule == "lock"
    assert "not pinned" in str(error)
    assert not marker.exists()


def user_importing_through_a_link(
    tmp_path: Path, write_photon: WritePhoton, photon_dir: Path, module: str
) -> Path:
    """A symlink to the photon directory, and a ``user.py`` there that puts the link first on
    ``sys.path`` and imports ``module``; the link."""
    link = tmp_path / "link"
    link.symlink_to(photon_dir, target_is_directory=True)
    write_photon(
        "user.py",
        f"""
        import sys
        sys.path.insert(0, {str(link)!r})
        import {module}
        from luminal import IPhoton

        class User(IPhoton, name="user"):
            pass
        """,
    )
    return link


async def refused_with_link_on_path(
    path: Path, link: Path, package: str | None = None
) -> PhotonTrustError:
    """Load ``path`` under a trust policy; then take ``link`` off ``sys.path`` and whatever
    ran of ``package``, if given, out of ``sys.modules``."""
    try:
        async with Loader(trust=TrustPolicy()) as loader:
            return await load_refused(loader, path)
    finally:
        sys.path[:] = [entry for entry in sys.path if entry != str(link)]
        for name in [name for name in sys.modules if package and name.partition(".")[0] == package]:
            del sys.modules[name]


async def test_helper_found_through_sys_path_spelled_with_a_symlink_is_judged_too(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    write_photon("sidekick.py", marking_helper(marker)).chmod(0o666)
    link = user_importing_through_a_link(tmp_path, write_photon, photon_dir, "sidekick")
    error = await refused_with_link_on_path(link / "user.py", link)
    assert error.rule == "writable"
    assert "sidekick.py" in str(error)
    assert not marker.exists()
    assert "sidekick" not in sys.modules


async def test_namespace_helper_linked_out_of_the_tree_is_refused_through_a_symlinked_sys_path(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    # The directory part of L/sub/evil.py was resolved as a whole, through both links, to the
    # outside directory: no tree held it, and Python's own finder ran it, unjudged.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(marking_helper(marker))
    (outside / "evil.py").chmod(0o666)
    (photon_dir / "sub").symlink_to(outside, target_is_directory=True)
    link = user_importing_through_a_link(tmp_path, write_photon, photon_dir, "sub.evil")
    error = await refused_with_link_on_path(photon_dir / "user.py", link, "sub")
    assert error.rule == "symlink"
    assert not marker.exists()


async def test_module_symlinked_out_of_a_package_is_refused(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    write_photon("pack/__init__.py", "from luminal import IPhoton\nclass Pack(IPhoton): pass\n")
    outside = tmp_path / "evil.py"
    outside.write_text(marking_helper(marker))
    (photon_dir / "pack" / "evil.py").symlink_to(outside)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, photon_dir / "pack" / "__init__.py")
    assert error.rule == "symlink"
    assert "evil.py" in str(error)
    assert not marker.exists()


async def test_sub_package_symlinked_out_of_a_package_is_refused(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    write_photon(
        "pack/__init__.py",
        "from luminal import IPhoton\nfrom .sub import WORD\nclass Pack(IPhoton): pass\n",
    )
    outside = tmp_path / "sub"
    outside.mkdir()
    (outside / "__init__.py").write_text(marking_helper(marker))
    (photon_dir / "pack" / "sub").symlink_to(outside, target_is_directory=True)
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, photon_dir / "pack" / "__init__.py")
    assert error.rule == "symlink"
    assert not marker.exists()


async def test_sub_package_symlinked_inside_the_directory_is_hashed_and_pinned(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon(
        "pack/__init__.py",
        "from luminal import IPhoton\nfrom .sub.words import WORD\nclass Pack(IPhoton): pass\n",
    )
    real = write_photon("shared/words.py", "WORD = 'one'\n")
    (photon_dir / "pack" / "sub").symlink_to(real.parent, target_is_directory=True)
    lock_file = write_lock(photon_dir)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        await loader.load_photons(photon_dir, recursive=True)
        assert list(loader.photons) == ["Pack"]
    real.write_text("WORD = 'two'\n")
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir, recursive=True)
    refused = {error.path: error for error in caught.value.errors}
    error = refused[str(photon_dir / "pack")]
    assert isinstance(error, PhotonTrustError)
    assert error.rule == "lock"


async def test_package_module_created_after_loading_is_refused_not_read(
    photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    write_photon(
        "pack/__init__.py",
        """
        import importlib
        from luminal import IPhoton

        class Pack(IPhoton):
            def late(self):
                return importlib.import_module(__name__ + ".late")
        """,
    )
    async with Loader(trust=TrustPolicy()) as loader:
        handler = await loader.load_photon(photon_dir / "pack" / "__init__.py")
        assert not isinstance(handler, list)
        write_photon("pack/late.py", marking_helper(marker))
        await handler.start()
        with pytest.raises(ModuleNotFoundError, match="not part of package"):
            handler.instance.late()
        await loader.unload_photon(handler)
    assert not marker.exists()


async def test_world_writable_lock_file_is_refused_and_says_why(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = write_lock(photon_dir)
    lock_file.chmod(0o666)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, path)
    assert "lock file" in str(error)
    assert "can be written by other users" in str(error)
    assert "pins anything" in str(error)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
async def test_lock_file_owned_by_another_user_is_refused(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = write_lock(photon_dir)
    os.chown(lock_file, NOBODY, NOBODY)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, path)
    assert "lock file" in str(error)
    assert "belongs to another user" in str(error)


async def test_lock_file_in_a_directory_others_can_write_is_refused(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    lock_file = write_lock(photon_dir, shared / "luminal.lock")
    shared.chmod(0o777)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await load_refused(loader, path)
    assert "lock file" in str(error)
    assert str(shared) in str(error)


@pytest.mark.parametrize("spelling", [str, Path])
async def test_lock_file_may_be_a_str_or_a_path(
    photon_dir: Path, write_photon: WritePhoton, spelling: type
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = write_lock(photon_dir)
    async with Loader(trust=TrustPolicy(lock_file=spelling(lock_file))) as loader:
        handler = await loader.load_photon(path)
        assert not isinstance(handler, list)
        assert handler.name == "Pinned"


@pytest.mark.parametrize("bogus", [42, b"luminal.lock", ["luminal.lock"]])
def test_lock_file_of_another_type_is_a_type_error(bogus: object) -> None:
    with pytest.raises(TypeError, match="lock_file"):
        TrustPolicy(lock_file=bogus)  # type: ignore[arg-type]


def test_loader_refuses_a_trust_policy_of_another_type() -> None:
    with pytest.raises(TypeError, match="TrustPolicy"):
        Loader(trust="strict")  # type: ignore[arg-type]


async def test_lock_pins_exactly_what_recursive_loading_loads(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    photon = "from luminal import IPhoton\nclass P{n}(IPhoton): pass\n"
    write_photon("one.py", photon.format(n=1))
    write_photon("pack/__init__.py", photon.format(n=2))
    write_photon("nested/two.py", photon.format(n=3))
    write_photon("dist_project/pyproject.toml", "[project]\nname = 'x'\n")
    write_photon("dist_project/src/inside/__init__.py", photon.format(n=4))
    for output in ("build/lib", "dist", "x.egg-info", ".venv", "node_modules", ".tox", "env"):
        write_photon(f"{output}/stale.py", photon.format(n=5))
    write_photon("env/pyvenv.cfg", "home = /usr\n")
    pins = read_lock(write_lock(photon_dir))
    async with Loader() as loader:
        await loader.load_photons(photon_dir, recursive=True)
        loaded = {Path(handler.filepath) for handler in loader.photons.values()}
    assert loaded == {photon_dir / "one.py", photon_dir / "pack", photon_dir / "nested" / "two.py"}
    assert set(pins) == loaded


async def test_refused_helper_never_reaches_a_later_photon_of_another_loader(
    write_photon: WritePhoton, marker: Path
) -> None:
    write_photon("helpers.py", marking_helper(marker)).chmod(0o666)
    user = write_photon("user.py", USER)
    async with Loader(trust=TrustPolicy()) as strict:
        await load_refused(strict, user)
    assert not marker.exists()
    with pytest.raises(PhotonLoadError):
        async with Loader(trust=TrustPolicy()) as again:
            await again.load_photon(user)
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
async def test_lock_file_that_is_a_fifo_is_refused_without_blocking(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = photon_dir / "luminal.lock"
    os.mkfifo(lock_file)
    with pytest.raises(ValueError, match="not a regular file"):
        read_lock(lock_file)
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        error = await asyncio.wait_for(load_refused(loader, path), 10)
    assert "cannot read lock file" in str(error)


def compile_to(marker: Path, target: Path) -> Path:
    """Write a sourceless ``.pyc`` at ``target`` whose code leaves ``marker`` behind."""
    source = target.with_name("_source_of_" + target.stem + ".py")
    source.write_text(marking_helper(marker))
    py_compile.compile(str(source), cfile=str(target), doraise=True)
    source.unlink()
    return target


async def test_sourceless_bytecode_reached_through_sys_path_is_refused(
    write_photon: WritePhoton, photon_dir: Path, marker: Path
) -> None:
    (photon_dir / "lib").mkdir()
    bytecode = compile_to(marker, photon_dir / "lib" / "compiled_helper.pyc")
    user = write_photon(
        "user.py",
        """
        import os, sys
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
        import compiled_helper
        from luminal import IPhoton

        class User(IPhoton, name="user"):
            pass
        """,
    )
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, user)
    assert error.rule == "compiled"
    assert str(bytecode) in str(error)
    assert not marker.exists()


async def test_sourceless_bytecode_in_a_photon_package_is_refused(
    write_photon: WritePhoton, photon_dir: Path, marker: Path
) -> None:
    package = write_photon(
        "pkg/__init__.py",
        """
        from . import compiled_module
        from luminal import IPhoton

        class Packaged(IPhoton, name="packaged"):
            pass
        """,
    ).parent
    compile_to(marker, package / "compiled_module.pyc")
    async with Loader(trust=TrustPolicy()) as loader:
        error = await load_refused(loader, package / "__init__.py")
    assert error.rule == "compiled"
    assert not marker.exists()


async def test_compiled_code_loads_when_the_policy_allows_it(
    write_photon: WritePhoton, photon_dir: Path, marker: Path
) -> None:
    package = write_photon(
        "pkg/__init__.py",
        "from . import compiled_module\nfrom luminal import IPhoton\n"
        "class Packaged(IPhoton, name='packaged'):\n    pass\n",
    ).parent
    compile_to(marker, package / "compiled_module.pyc")
    async with Loader(trust=TrustPolicy(refuse_compiled=False)) as loader:
        await loader.load_photon(package / "__init__.py")
        assert list(loader.photons) == ["packaged"]
    assert marker.exists()


async def test_lock_file_named_through_a_symlink_others_can_replace_is_refused(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    """The lock itself lies in a private directory; the symlink naming it does not, so anyone
    may point it at a lock of their own between two loads."""
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = write_lock(photon_dir)
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "luminal.lock"
    link.symlink_to(lock_file)
    shared.chmod(0o777)
    async with Loader(trust=TrustPolicy(lock_file=link)) as loader:
        error = await load_refused(loader, path)
    assert "lock file" in str(error)
    assert f"{shared} can be written by other users" in str(error)


async def test_lock_file_named_through_a_symlink_in_a_private_directory_pins(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", "from luminal import IPhoton\nclass Pinned(IPhoton): pass\n")
    lock_file = write_lock(photon_dir)
    link = tmp_path / "lock-link"
    link.symlink_to(lock_file)
    async with Loader(trust=TrustPolicy(lock_file=link)) as loader:
        handler = await loader.load_photon(path)
        assert not isinstance(handler, list)
        assert handler.name == "Pinned"


async def test_a_helper_symlinked_within_the_tree_from_a_sub_directory_is_accepted(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    """The directories of photons inside a tree are roots too: a helper found in ``sub/`` is
    judged against the tree loaded, so its symlink to ``lib/`` (inside the tree) is no link
    out of it."""
    write_photon("lib/impl.py", "WORD = 'linked'\n")
    write_photon("sub/user.py", USER)
    (photon_dir / "sub" / "helpers.py").symlink_to("../lib/impl.py")
    async with Loader(trust=TrustPolicy(), suppress_errors=True) as loader:
        await loader.load_photons(photon_dir, recursive=True)
        assert loader.photons["user"].instance is None
        assert sys.modules[loader.photons["user"].module_name].User.word == "linked"


async def test_a_namespace_helper_below_a_writable_directory_of_the_tree_is_refused(
    photon_dir: Path, write_photon: WritePhoton, marker: Path
) -> None:
    """Its own directory is a root of the load as well (it holds a source); the helper is
    judged from the tree loaded down, whichever root the lookup meets first."""
    write_photon(
        "user.py",
        """
        import os, sys
        sys.path.insert(0, os.path.dirname(__file__))
        from nsdir.deep.er import mod
        from luminal import IPhoton

        class User(IPhoton, name="user"):
            word = mod.WORD
        """,
    )
    write_photon("nsdir/deep/er/mod.py", marking_helper(marker))
    (photon_dir / "nsdir" / "deep").chmod(0o777)
    async with Loader(trust=TrustPolicy(), suppress_errors=True) as loader:
        await loader.load_photons(photon_dir, recursive=True)
        assert "user" not in loader.photons
    assert not marker.exists()
