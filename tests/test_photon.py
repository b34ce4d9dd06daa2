"""``IPhoton``: metadata from class keywords, its defaults, and the base finalizer."""

from __future__ import annotations

import sys

import pytest

from luminal import FinalizerNotImplementedError, IPhoton, Loader
from luminal.testing import EventRecorder, WritePhoton


class Greeter(
    IPhoton,
    name="greeter",
    author="Ada",
    version="1.2.0",
    description="Greets people.",
    tags=["demo", "greeting"],
):
    """The docstring, overridden by the description keyword."""


class Plain(IPhoton):
    """Does nothing at all.

    A second paragraph.
    """


class Undocumented(IPhoton):
    pass


class Child(Greeter):
    """A greeter's child."""


def test_keywords_are_read_back_on_the_class() -> None:
    assert Greeter.photon_name == "greeter"
    assert Greeter.photon_author == "Ada"
    assert Greeter.photon_version == "1.2.0"
    assert Greeter.photon_description == "Greets people."
    assert Greeter.photon_tags == ["demo", "greeting"]


def test_keywords_are_read_back_on_an_instance() -> None:
    greeter = Greeter()
    assert greeter.photon_name == "greeter"
    assert greeter.photon_author == "Ada"
    assert greeter.photon_version == "1.2.0"
    assert greeter.photon_description == "Greets people."
    assert greeter.photon_tags == ["demo", "greeting"]


def test_defaults_without_keywords() -> None:
    for photon in (Plain, Plain()):
        assert photon.photon_name == "Plain"
        assert photon.photon_author == "Unknown"
        assert photon.photon_version == "0.0.0"
        assert photon.photon_description == "Does nothing at all.\n\nA second paragraph."
        assert photon.photon_tags == ["luminal", "photon"]


def test_description_is_empty_without_a_docstring() -> None:
    assert Undocumented.photon_description == ""


def test_subclass_gets_its_own_name_and_docstring_but_inherits_the_rest() -> None:
    assert Child.photon_name == "Child"
    assert Child.photon_description == "A greeter's child."
    assert Child.photon_author == "Ada"
    assert Child.photon_version == "1.2.0"
    assert Child.photon_tags == ["demo", "greeting"]


def test_tags_are_copied_not_shared() -> None:
    tags = ["a"]

    class Tagged(IPhoton, tags=tags):
        pass

    tags.append("b")
    assert Tagged.photon_tags == ["a"]
    assert Plain.photon_tags is not IPhoton.photon_tags


@pytest.mark.parametrize(
    "keywords",
    [{"name": 1}, {"author": b"x"}, {"version": 1.0}, {"tags": "solo"}, {"tags": [1, 2]}],
)
def test_wrong_keyword_types_raise_type_error(keywords: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        type("Bad", (IPhoton,), {}, **keywords)


@pytest.mark.parametrize("name", ["", "nul\0name"])
def test_a_name_no_reference_could_name_is_a_value_error(name: str) -> None:
    """``reload_photon``, ``unload_photon`` and ``loader.photons`` refuse an empty name or one
    with a NUL byte, so a photon cannot be given one."""
    with pytest.raises(ValueError, match="names nothing"):
        type("Unnamed", (IPhoton,), {}, name=name)


async def test_base_finalize_raises_finalizer_not_implemented() -> None:
    with pytest.raises(FinalizerNotImplementedError) as caught:
        await Plain().finalize()
    assert caught.value.photon_name == "Plain"
    assert isinstance(caught.value, NotImplementedError)


async def test_a_plain_def_finalize_is_honoured(
    loader: Loader, observer: EventRecorder, write_photon: WritePhoton
) -> None:
    path = write_photon(
        "sync_finalizer.py",
        """
        from luminal import IPhoton

        finalized = []

        class SyncFinalizer(IPhoton):
            def finalize(self):
                finalized.append(True)
        """,
    )
    handler = await loader.load_photon(path)
    assert not isinstance(handler, list)
    await handler.start()
    finalized = sys.modules[handler.module_name].finalized
    assert await loader.unload_photon(handler) is True
    assert finalized == [True]
    assert observer.errors == []
