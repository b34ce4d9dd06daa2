"""The ``requires`` class keyword and the pure dependency logic of :mod:`luminal.dependencies`,
and ``luminal list`` showing requirements."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from luminal import IPhoton, cli
from luminal.dependencies import dependency_order, dependents_of, find_cycle, unmet_requirements
from luminal.testing import WritePhoton
from tests.dependency_support import photon


@dataclass
class Fake:
    name: str
    requires: tuple[Requirement, ...] = ()
    version: str = "1.0"
    started: bool = True


def fake(name: str, *requires: str, version: str = "1.0", started: bool = True) -> Fake:
    return Fake(name, tuple(Requirement(each) for each in requires), version, started)


def names(photons: list[Fake]) -> list[str]:
    return [each.name for each in photons]


def test_requires_is_parsed_at_class_creation() -> None:
    class Api(IPhoton, name="api", requires=["db>=1.2", "cache"]):
        pass

    assert [str(each) for each in Api.photon_requires] == ["db>=1.2", "cache"]
    assert IPhoton.photon_requires == ()


def test_requires_is_inherited_when_not_given() -> None:
    class Api(IPhoton, name="api", requires=["db"]):
        pass

    class Api2(Api, name="api2"):
        pass

    class Standalone(Api, name="standalone", requires=[]):
        pass

    assert [str(each) for each in Api2.photon_requires] == ["db"]
    assert Standalone.photon_requires == ()


@pytest.mark.parametrize(
    ("requires", "error", "named"),
    [
        ("db", TypeError, "sequence"),
        ([3], TypeError, "3"),
        (["db>="], ValueError, "'db>='"),
        (["not a name"], ValueError, "'not a name'"),
        ([""], ValueError, "''"),
        (["db[extra]"], ValueError, "'db[extra]'"),
        (["db; python_version > '3'"], ValueError, "python_version"),
        (["db @ https://example.org/db.whl"], ValueError, "https://example.org"),
        (["api"], ValueError, "itself"),
        (["db", "db<2"], ValueError, "'db<2'"),
    ],
)
def test_a_malformed_requirement_fails_the_class_naming_it(
    requires: Any, error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=re.escape(named)):

        class Api(IPhoton, name="api", requires=requires):
            pass


def test_requirements_given_in_the_class_body_are_parsed_as_the_keyword() -> None:
    """``photon_version`` may be given in the body; ``photon_requires`` there was an
    ``AttributeError`` ('str' object has no attribute 'name') at class creation."""

    class Api(IPhoton, name="api"):
        photon_requires = ("db>=1.2",)  # type: ignore[assignment]

    assert [str(each) for each in Api.photon_requires] == ["db>=1.2"]

    class Cache(IPhoton, name="cache", requires=["db>=1.2"]):
        pass

    class Web(IPhoton, name="web"):
        photon_requires = Cache.photon_requires  # parsed already

    assert Web.photon_requires == Cache.photon_requires
    with pytest.raises(ValueError, match="itself"):

        class Db(IPhoton, name="db"):
            photon_requires = ("db",)  # type: ignore[assignment]


def test_an_inherited_requirement_on_the_new_name_is_refused() -> None:
    class Base(IPhoton, name="base", requires=["db"]):
        pass

    with pytest.raises(ValueError, match="itself"):

        class Db(Base, name="db"):
            pass


def test_names_are_compared_exactly_as_photon_names() -> None:
    api = fake("api", "Db_Main")
    assert unmet_requirements(api, {"db-main": fake("db-main")}) == {"Db_Main": "not loaded"}
    assert unmet_requirements(api, {"Db_Main": fake("Db_Main")}) == {}


def test_dependency_order_moves_providers_just_before_their_dependents() -> None:
    photons = [fake("web", "api"), fake("x"), fake("api", "db"), fake("db"), fake("y")]
    assert names(dependency_order(photons)) == ["db", "api", "web", "x", "y"]


def test_dependency_order_keeps_the_order_given_without_requirements() -> None:
    photons = [fake(name) for name in "zyxabc"]
    assert names(dependency_order(photons)) == list("zyxabc")


def test_dependency_order_ignores_providers_outside_the_list() -> None:
    assert names(dependency_order([fake("b", "outside"), fake("a")])) == ["b", "a"]


def test_dependency_order_returns_every_member_of_a_cycle() -> None:
    photons = [fake("a", "b"), fake("b", "a"), fake("c")]
    assert sorted(names(dependency_order(photons))) == ["a", "b", "c"]


def test_find_cycle_names_the_cycle_a_photon_leads_into() -> None:
    photons = {each.name: each for each in [fake("a", "b"), fake("b", "c"), fake("c", "b")]}
    assert find_cycle("a", photons) == ("b", "c", "b")
    assert find_cycle("c", photons) == ("c", "b", "c")
    assert find_cycle("a", {"a": fake("a", "b"), "b": fake("b")}) is None


def test_a_chain_deeper_than_the_recursion_limit_is_ordered_and_checked() -> None:
    depth = sys.getrecursionlimit() * 3
    chain = [fake(f"p{index}", f"p{index - 1}") for index in range(1, depth)] + [fake("p0")]
    ordered = dependency_order(chain)
    assert names(ordered) == [f"p{index}" for index in range(depth)]
    by_name = {each.name: each for each in chain}
    assert find_cycle(f"p{depth - 1}", by_name) is None
    by_name["p0"] = fake("p0", f"p{depth - 1}")
    cycle = find_cycle(f"p{depth - 1}", by_name)
    assert cycle is not None
    assert len(cycle) == depth + 1
    assert cycle[0] == cycle[-1] == f"p{depth - 1}"
    assert names(dependents_of({"p0"}, chain))[:2] == ["p1", "p2"]


def test_dependents_of_are_transitive_and_in_dependency_order() -> None:
    photons = [fake("web", "api"), fake("api", "db"), fake("db"), fake("other", "cache")]
    assert names(dependents_of({"db"}, photons)) == ["api", "web"]
    assert dependents_of({"web"}, photons) == []


def test_a_stopped_provider_is_not_running() -> None:
    api = fake("api", "db>=1")
    running = {"db": fake("db", started=False)}
    assert unmet_requirements(api, running) == {"db>=1": "not running"}


def test_luminal_list_shows_requirements(
    capsys: pytest.CaptureFixture[str], write_photon: WritePhoton, photon_dir: Path
) -> None:
    write_photon("api.py", photon("api", requires=("db>=1.2", "cache")))
    assert cli.main(["list", "--json", str(photon_dir)]) == cli.EXIT_OK
    records = json.loads(capsys.readouterr().out)
    assert records[0]["requires"] == ["db>=1.2", "cache"]
    assert cli.main(["list", str(photon_dir)]) == cli.EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[3] == "REQUIRES"
    assert "db>=1.2, cache" in table[1]
