"""The trust policy: writable files, symlinks out of the photon directory, and lock pinning."""

from __future__ import annotations

import grp
import os
import pickle
import pwd
from pathlib import Path

import pytest

from luminal import DirectoryLoadError, Handler, Loader, PhotonReloadError, PhotonTrustError
from luminal.testing import EventRecorder, WritePhoton
from luminal.trust import LOCK_FILE_NAME, TrustPolicy, read_lock, write_lock

PHOTON = """
    from luminal import IPhoton

    class {name}(IPhoton):
        pass
"""


async def test_default_loader_has_no_trust_policy() -> None:
    assert Loader().trust is None


async def test_world_writable_file_is_refused_naming_file_and_rule(
    write_photon: WritePhoton,
) -> None:
    path = write_photon("open.py", PHOTON.format(name="Open"))
    path.chmod(0o666)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError) as caught:
            await loader.load_photon(path)
    assert caught.value.rule == "writable"
    assert str(path) in str(caught.value)
    assert "writable" in str(caught.value)


async def test_photon_directory_writable_by_a_group_with_other_members_is_refused(
    photon_dir: Path, write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_photon("fine.py", PHOTON.format(name="Fine"))
    photon_dir.chmod(0o775)
    owner = pwd.getpwuid(os.geteuid()).pw_name
    shared = grp.struct_group((owner, "x", photon_dir.stat().st_gid, [owner, "mallory"]))
    monkeypatch.setattr(grp, "getgrgid", lambda gid: shared)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError, match="trust rule 'writable'"):
            await loader.load_photon(path)
        assert dict(loader.photons) == {}


async def test_writable_photon_directory_refuses_the_sources_of_its_sub_directories(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("nested/deeper/inner.py", PHOTON.format(name="Inner"))
    photon_dir.chmod(0o777)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir, recursive=True)
        [error] = caught.value.errors
        assert isinstance(error, PhotonTrustError)
        assert error.rule == "writable"
        assert f"{photon_dir} can be written by other users" in str(error)
        assert dict(loader.photons) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to any group")
async def test_photon_writable_by_another_group_is_refused(write_photon: WritePhoton) -> None:
    path = write_photon("fine.py", PHOTON.format(name="Fine"))
    path.chmod(0o664)
    os.chown(path, -1, 4242)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError, match="can be written by other users"):
            await loader.load_photon(path)


def own_group_is_private() -> bool:
    owner = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(os.getegid())
    return group.gr_name == owner.pw_name and set(group.gr_mem) <= {owner.pw_name}


@pytest.mark.skipif(not own_group_is_private(), reason="this user has no user private group")
async def test_checkout_made_with_umask_002_in_a_user_private_group_is_accepted(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("fine.py", PHOTON.format(name="Fine"))
    path.chmod(0o664)
    photon_dir.chmod(0o775)
    async with Loader(trust=TrustPolicy()) as loader:
        handler = await loader.load_photon(path)
        assert not isinstance(handler, list)
        assert handler.name == "Fine"


async def test_writable_file_loads_when_the_rule_is_off(write_photon: WritePhoton) -> None:
    path = write_photon("open.py", PHOTON.format(name="Open"))
    path.chmod(0o666)
    async with Loader(trust=TrustPolicy(refuse_writable=False)) as loader:
        handler = await loader.load_photon(path)
        assert not isinstance(handler, list)
        assert handler.name == "Open"


async def test_symlink_out_of_photon_directory_is_refused_others_load(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "intruder.py").write_text(
        "from luminal import IPhoton\nclass Intruder(IPhoton): pass\n"
    )
    (photon_dir / "intruder.py").symlink_to(outside / "intruder.py")
    write_photon("good.py", PHOTON.format(name="Good"))
    recorder = EventRecorder()
    async with Loader(trust=TrustPolicy(), suppress_errors=True) as loader:
        loader.plugin_manager.register(recorder)
        handlers = await loader.load_photons(photon_dir)
        assert [handler.name for handler in handlers] == ["Good"]
    errors = [error for _, error in recorder.errors]
    assert len(errors) == 1
    assert isinstance(errors[0], PhotonTrustError)
    assert errors[0].rule == "symlink"
    assert "intruder.py" in str(errors[0])


async def test_symlinked_photon_directory_itself_is_accepted(
    tmp_path: Path, photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("good.py", PHOTON.format(name="Good"))
    link = tmp_path / "link"
    link.symlink_to(photon_dir, target_is_directory=True)
    async with Loader(trust=TrustPolicy()) as loader:
        handlers = await loader.load_photons(link)
        assert [handler.name for handler in handlers] == ["Good"]


async def test_lock_pins_sources_and_refuses_changed_file(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("pinned.py", PHOTON.format(name="Pinned"))
    lock_file = write_lock(photon_dir)
    assert lock_file == photon_dir / LOCK_FILE_NAME
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        handler = await loader.load_photon(path)
        assert not isinstance(handler, list)
        await handler.start()
        path.write_text(path.read_text() + "\n# tampered\n")
        with pytest.raises(PhotonReloadError) as caught:
            await loader.reload_photon(handler)
        assert isinstance(caught.value.__cause__, PhotonTrustError)
        assert caught.value.__cause__.rule == "lock"
        assert loader.photons["Pinned"] is handler
        assert handler.started

        write_lock(photon_dir)
        fresh = await loader.reload_photon(handler)
        assert not isinstance(fresh, list)
        assert fresh.started


async def test_a_pickled_policy_keeps_its_settings_and_reads_the_lock_itself(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    pinned = write_photon("pinned.py", PHOTON.format(name="Pinned"))
    policy = TrustPolicy(refuse_escaping_symlinks=False, lock_file=write_lock(photon_dir))
    async with Loader(trust=policy) as loader:
        await loader.load_photon(pinned)  # the policy has read the lock's pins
    newcomer = write_photon("newcomer.py", PHOTON.format(name="Newcomer"))
    copy = pickle.loads(pickle.dumps(policy))
    assert isinstance(copy, TrustPolicy)
    assert repr(copy) == repr(policy)
    async with Loader(trust=copy) as loader:
        await loader.load_photon(pinned)
        with pytest.raises(PhotonTrustError, match="not pinned"):
            await loader.load_photon(newcomer)
        write_lock(photon_dir)  # the copy follows the lock file as it changes
        handler = await loader.load_photon(newcomer)
        assert isinstance(handler, Handler)
        assert handler.name == "Newcomer"


async def test_lock_refuses_unpinned_source(photon_dir: Path, write_photon: WritePhoton) -> None:
    write_photon("pinned.py", PHOTON.format(name="Pinned"))
    lock_file = write_lock(photon_dir)
    newcomer = write_photon("newcomer.py", PHOTON.format(name="Newcomer"))
    async with Loader(trust=TrustPolicy(lock_file=lock_file)) as loader:
        with pytest.raises(PhotonTrustError, match="not pinned") as caught:
            await loader.load_photon(newcomer)
        assert caught.value.rule == "lock"
        assert str(newcomer) in str(caught.value)


def test_lock_file_covers_files_and_packages_with_relative_keys(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    write_photon("one.py", PHOTON.format(name="One"))
    write_photon("pack/__init__.py", PHOTON.format(name="Pack"))
    write_photon("pack/inner.py", "VALUE = 1\n")
    write_photon("nested/two.py", PHOTON.format(name="Two"))
    lock_file = write_lock(photon_dir)
    pins = read_lock(lock_file)
    assert set(pins) == {
        photon_dir / "one.py",
        photon_dir / "pack",
        photon_dir / "nested" / "two.py",
    }
    assert all(len(digest) == 128 for digest in pins.values())


def test_malformed_lock_file_is_refused_clearly(photon_dir: Path) -> None:
    bogus = photon_dir / LOCK_FILE_NAME
    bogus.write_text("{not json")
    with pytest.raises(ValueError, match="not a Luminal lock file"):
        read_lock(bogus)
    policy = TrustPolicy(lock_file=bogus)
    with pytest.raises(PhotonTrustError, match="cannot read lock file"):
        policy.check_checksum(photon_dir / "x.py", "0" * 128)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a file owned by another user")
async def test_file_owned_by_another_user_is_refused(write_photon: WritePhoton) -> None:
    path = write_photon("foreign.py", PHOTON.format(name="Foreign"))
    os.chown(path, 12345, 12345)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError, match="another user"):
            await loader.load_photon(path)


async def test_a_refusal_is_raised_as_it_is_never_as_its_own_cause(
    write_photon: WritePhoton,
) -> None:
    path = write_photon("open.py", PHOTON.format(name="Open"))
    path.chmod(0o666)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError) as caught:
            await loader.load_photon(path)
    assert caught.value.__cause__ is not caught.value


async def test_a_package_directory_others_can_write_is_refused_though_it_holds_no_file(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    """Whoever may write ``pkg/a`` may swap ``pkg/a/b`` (and what it holds) for their own."""
    write_photon("pkg/__init__.py", "from pkg.a.b.inner import Inner\n")
    write_photon("pkg/a/b/__init__.py", "")
    write_photon("pkg/a/b/inner.py", PHOTON.format(name="Inner"))
    (photon_dir / "pkg" / "a").chmod(0o777)
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(DirectoryLoadError) as caught:
            await loader.load_photons(photon_dir)
        [error] = caught.value.errors
        assert isinstance(error, PhotonTrustError)
        assert error.rule == "writable"
        assert f"{photon_dir / 'pkg' / 'a'} can be written by other users" in str(error)
        assert dict(loader.photons) == {}


def _set_access_acl(path: Path, entries: list[tuple[int, int, int]]) -> None:
    """Give ``path`` a POSIX access ACL: ``(tag, permissions, id)`` entries, as the kernel
    stores them (what ``setfacl`` writes)."""
    import struct

    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", data)
    except (AttributeError, OSError) as error:
        pytest.skip(f"no POSIX ACLs here: {error}")


_ANY = 0xFFFFFFFF  # the id field of the owner, owning group, mask and other entries
_OWNER, _USER, _OWNING_GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20


def _acl(user_permissions: int, mask: int) -> list[tuple[int, int, int]]:
    """An ACL granting user 12345 ``user_permissions`` under ``mask``; the owner gets the same,
    the owning group and others read only."""
    return [
        (_OWNER, user_permissions, _ANY),
        (_USER, user_permissions, 12345),
        (_OWNING_GROUP, 0o4, _ANY),
        (_MASK, mask, _ANY),
        (_OTHER, 0o4, _ANY),
    ]


@pytest.mark.parametrize("grant", ["file", "directory"])
async def test_a_source_another_user_may_write_through_an_acl_is_refused(
    photon_dir: Path, write_photon: WritePhoton, grant: str
) -> None:
    """Mode bits alone look safe (``rw-rw-r--``: the group bits show the ACL's mask); the ACL
    lets user 12345 write."""
    path = write_photon("shared.py", PHOTON.format(name="Shared"))
    target = path if grant == "file" else photon_dir
    write = 0o7 if grant == "directory" else 0o6
    _set_access_acl(target, _acl(write, mask=write))
    async with Loader(trust=TrustPolicy()) as loader:
        with pytest.raises(PhotonTrustError) as caught:
            await loader.load_photon(path)
    assert caught.value.rule == "writable"
    assert f"{target} can be written by user 12345 through its access control list" in str(
        caught.value
    )


async def test_an_acl_whose_mask_withholds_write_is_accepted(
    photon_dir: Path, write_photon: WritePhoton
) -> None:
    path = write_photon("masked.py", PHOTON.format(name="Masked"))
    _set_access_acl(path, _acl(0o6, mask=0o4))
    async with Loader(trust=TrustPolicy()) as loader:
        handler = await loader.load_photon(path)
        assert isinstance(handler, Handler)
        assert handler.name == "Masked"


@pytest.mark.parametrize("owning_group", [0o4, 0o6], ids=["reads", "writes"])
async def test_with_an_acl_the_owning_group_entry_says_whether_the_group_writes(
    write_photon: WritePhoton, monkeypatch: pytest.MonkeyPatch, owning_group: int
) -> None:
    """The mode's group bits show the mask (``rw``): whether the owning group, shared with
    others here, may write is the owning group's own entry."""
    path = write_photon("masked.py", PHOTON.format(name="Masked"))
    owner = pwd.getpwuid(os.geteuid()).pw_name
    shared = grp.struct_group((owner, "x", path.stat().st_gid, [owner, "mallory"]))
    monkeypatch.setattr(grp, "getgrgid", lambda gid: shared)
    _set_access_acl(
        path,
        [
            (_OWNER, 0o6, _ANY),
            (_USER, 0o4, 12345),
            (_OWNING_GROUP, owning_group, _ANY),
            (_MASK, 0o6, _ANY),
            (_OTHER, 0o4, _ANY),
        ],
    )
    async with Loader(trust=TrustPolicy()) as loader:
        if owning_group & 0o2:
            with pytest.raises(PhotonTrustError, match="through its access control list"):
                await loader.load_photon(path)
        else:
            handler = await loader.load_photon(path)
            assert isinstance(handler, Handler)
