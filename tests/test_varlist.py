"""Variable-list resolution: names, abbreviations, wildcards, ranges."""

from pathlib import Path

import pytest

from melogit_cli.data.loaders import load
from melogit_cli.design.varlist import resolve_one, resolve_pattern, resolve_varlist
from melogit_cli.errors import StataError

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"


@pytest.fixture(scope="module")
def bangladesh():
    return load(DATA / "bangladesh.dta")


def test_order_of_bundled_file(bangladesh):
    assert bangladesh.varnames == [
        "district", "c_use", "urban", "age", "child1", "child2", "child3", "children",
    ]  # fmt: skip


def test_exact_name_wins_over_longer_names(bangladesh):
    # child1 is also no prefix of anything else; children matches exactly
    assert resolve_pattern("children", bangladesh) == ["children"]
    assert resolve_pattern("child1", bangladesh) == ["child1"]


def test_unique_abbreviation(bangladesh):
    assert resolve_pattern("dist", bangladesh) == ["district"]
    assert resolve_pattern("c_", bangladesh) == ["c_use"]
    assert resolve_pattern("ur", bangladesh) == ["urban"]


def test_ambiguous_abbreviation(bangladesh):
    with pytest.raises(StataError) as exc:
        resolve_pattern("child", bangladesh)
    assert exc.value.message == "child ambiguous abbreviation"
    assert exc.value.rc == 111
    with pytest.raises(StataError) as exc:
        resolve_pattern("c", bangladesh)
    assert exc.value.message == "c ambiguous abbreviation"


def test_unknown_variable(bangladesh):
    with pytest.raises(StataError) as exc:
        resolve_pattern("income", bangladesh)
    assert exc.value.message == "variable income not found"
    assert exc.value.rc == 111


def test_star_wildcard(bangladesh):
    assert resolve_pattern("child*", bangladesh) == ["child1", "child2", "child3", "children"]
    assert resolve_pattern("*an", bangladesh) == ["urban"]
    assert resolve_pattern("*", bangladesh) == bangladesh.varnames


def test_question_wildcard(bangladesh):
    assert resolve_pattern("child?", bangladesh) == ["child1", "child2", "child3"]
    assert resolve_pattern("c?use", bangladesh) == ["c_use"]


def test_tilde_must_match_one(bangladesh):
    assert resolve_pattern("dis~", bangladesh) == ["district"]
    with pytest.raises(StataError) as exc:
        resolve_pattern("ch~", bangladesh)
    assert exc.value.message == "ch~ ambiguous abbreviation"


def test_wildcard_without_match(bangladesh):
    with pytest.raises(StataError) as exc:
        resolve_pattern("zz*", bangladesh)
    assert (exc.value.message, exc.value.rc) == ("variable zz* not found", 111)


def test_range_by_position(bangladesh):
    assert resolve_pattern("child1-child3", bangladesh) == ["child1", "child2", "child3"]
    assert resolve_pattern("urb-child2", bangladesh) == ["urban", "age", "child1", "child2"]
    assert resolve_pattern("age-age", bangladesh) == ["age"]


def test_range_errors(bangladesh):
    with pytest.raises(StataError) as exc:
        resolve_pattern("child3-child1", bangladesh)
    assert (exc.value.message, exc.value.rc) == ("variables out of order", 111)
    with pytest.raises(StataError, match="variable nope not found"):
        resolve_pattern("age-nope", bangladesh)
    with pytest.raises(StataError, match="child ambiguous abbreviation"):
        resolve_pattern("age-child", bangladesh)


def test_all(bangladesh):
    assert resolve_pattern("_all", bangladesh) == bangladesh.varnames


def test_varlist_keeps_order_and_duplicates(bangladesh):
    got = resolve_varlist("age urb child1-child2 age", bangladesh)
    assert got == ["age", "urban", "child1", "child2", "age"]
    assert resolve_varlist(["age", "dist c_use"], bangladesh) == ["age", "district", "c_use"]


def test_resolve_one(bangladesh):
    assert resolve_one("dist", bangladesh) == "district"
    with pytest.raises(StataError) as exc:
        resolve_one("child*", bangladesh)
    assert exc.value.rc == 103


def test_plain_name_list():
    names = ["a", "ab", "b"]
    assert resolve_pattern("a", names) == ["a"]
    assert resolve_pattern("a*", names) == ["a", "ab"]
    with pytest.raises(StataError, match="no variables defined"):
        resolve_pattern("a", [])


def test_level_and_weight_variables_may_be_abbreviated():
    """``|| distric:`` is ``|| district:`` (it was a KeyError, r(9999)); an abbreviation that
    names no variable is Stata's r(111)."""
    from conftest import fitted

    from melogit_cli.api import fit
    from melogit_cli.errors import StataError

    full = fitted("melogit c_use urban || district:", "bangladesh.dta")
    short = fit("melogit c_use urban || distric:", DATA / "bangladesh.dta")
    assert short.ll == full.ll and short.params.equals(full.params)
    assert short.e.macros["ivars"] == "district"
    with pytest.raises(StataError) as err:
        fit("melogit c_use urban || districtx:", DATA / "bangladesh.dta")
    assert (err.value.message, err.value.rc) == ("variable districtx not found", 111)
