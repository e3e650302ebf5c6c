"""Factor-variable expansion, collinearity and perfect prediction."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melogit_cli.data.dataset import Dataset
from melogit_cli.data.loaders import load
from melogit_cli.design.factors import (
    collinear_columns,
    expand_re_terms,
    expand_terms,
    recheck_collinearity,
    term_variables,
)
from melogit_cli.design.perfect import (
    OUTCOME_DOES_NOT_VARY,
    check_outcome_varies,
    drop_perfect_predictors,
    fmt_value,
)
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import Factor, Term

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def T(*factors: Factor) -> Term:  # noqa: N802 - reads like the syntax
    return Term(tuple(factors))


def i(name: str, **kw) -> Factor:
    return Factor(name, kind="i", **kw)


def c(name: str) -> Factor:
    return Factor(name, kind="c")


def v(name: str) -> Factor:
    return Factor(name)


def everyone(ds: Dataset) -> np.ndarray:
    return np.ones(ds.nobs, dtype=bool)


@pytest.fixture(scope="module")
def bangladesh():
    return load(DATA / "bangladesh.dta")


@pytest.fixture(scope="module")
def guimmun():
    return load(DATA / "guimmun.dta")


@pytest.fixture
def small():
    """urban x children with the cell urban=1, children=2 empty."""
    urban = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1], dtype=float)
    children = np.array([0, 1, 2, 3, 0, 1, 3, 3, 2, 0, 1, 1], dtype=float)
    age = np.arange(12, dtype=float) - 5.5
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1], dtype=float)
    frame = pd.DataFrame({"y": y, "urban": urban, "children": children, "age": age})
    return Dataset(frame)


# ---------------------------------------------------------------------------
# Main effects
# ---------------------------------------------------------------------------


def test_manual_example_columns(bangladesh):
    ds = bangladesh
    fx = expand_terms([T(i("urban")), T(v("age")), T(i("children"))], ds, everyone(ds))
    assert fx.names == [
        "0b.urban", "1.urban", "age", "0b.children", "1.children", "2.children",
        "3.children", "_cons",
    ]  # fmt: skip
    assert fx.base.tolist() == [True, False, False, True, False, False, False, False]
    assert not fx.omitted.any()
    assert fx.names_est == ["1.urban", "age", "1.children", "2.children", "3.children", "_cons"]
    f = ds.frame.to_pandas()
    assert fx.X.shape == (1934, 8)
    np.testing.assert_array_equal(fx.X[:, 0], 0.0)  # base columns are zero
    np.testing.assert_array_equal(fx.X[:, 1], (f.urban == 1).to_numpy(float))
    np.testing.assert_array_equal(fx.X[:, 2], f.age.to_numpy(float))
    np.testing.assert_array_equal(fx.X[:, 5], (f.children == 2).to_numpy(float))
    np.testing.assert_array_equal(fx.X[:, -1], 1.0)
    assert fx.x_est.shape == (1934, 6)
    assert fx.notes == []
    assert [t.label for t in fx.terms] == ["urban", "age", "children"]
    assert fx.columns[4].variables == ("children",) and fx.columns[4].levels == (1,)
    assert fx.columns[-1].is_cons


def test_ibn_without_constant(bangladesh):
    ds = bangladesh
    fx = expand_terms(
        [T(Factor("urban", base="none")), T(v("age")), T(i("children"))],
        ds,
        everyone(ds),
        constant=False,
    )
    assert fx.names == [
        "0bn.urban", "1.urban", "age", "0b.children", "1.children", "2.children", "3.children",
    ]  # fmt: skip
    assert fx.keep.tolist() == [True, True, True, False, True, True, True]


def test_collinear_dummies_versus_factor(bangladesh):
    ds = bangladesh
    terms = [T(v("child1")), T(v("child2")), T(v("child3")), T(i("children"))]
    fx = expand_terms(terms, ds, everyone(ds))
    assert fx.names == [
        "child1", "child2", "child3", "0b.children", "1o.children", "2o.children",
        "3o.children", "_cons",
    ]  # fmt: skip
    assert fx.reasons[4:7] == ["collinear"] * 3
    assert fx.notes == [
        "note: 1.children omitted because of collinearity.",
        "note: 2.children omitted because of collinearity.",
        "note: 3.children omitted because of collinearity.",
    ]
    assert fx.names_est == ["child1", "child2", "child3", "_cons"]
    # the other way round the hand-made dummies go
    fx = expand_terms([T(i("children")), T(v("child1-child3"))], ds, everyone(ds))
    assert fx.names[4:7] == ["o.child1", "o.child2", "o.child3"]
    assert fx.notes[0] == "note: child1 omitted because of collinearity."


def test_collinear_option_keeps_everything(bangladesh):
    ds = bangladesh
    terms = [T(v("child*")), T(i("children"))]
    fx = expand_terms(terms, ds, everyone(ds), collinear=True)
    assert not fx.omitted.any() and fx.notes == []


def test_wildcard_in_terms(bangladesh):
    ds = bangladesh
    fx = expand_terms([T(i("child?"))], ds, everyone(ds))
    assert fx.names == [
        "0b.child1", "1.child1", "0b.child2", "1.child2", "0b.child3", "1.child3", "_cons",
    ]  # fmt: skip
    assert term_variables([T(v("child1-child3")), T(c("age"))], ds) == [
        "child1", "child2", "child3", "age",
    ]  # fmt: skip


def test_guimmun_labelled_factors(guimmun):
    ds = guimmun
    terms = [T(v("kid2p")), T(v("mom25p")), T(i("ord")), T(i("eth")), T(i("wed")), T(i("hed"))]
    fx = expand_terms(terms, ds, everyone(ds))
    assert fx.names_est == [
        "kid2p", "mom25p", "2.orderc", "3.orderc", "4.orderc", "2.eth", "3.eth",
        "2.wed", "3.wed", "2.hed", "3.hed", "4.hed", "_cons",
    ]  # fmt: skip
    assert [n for n, b in zip(fx.names, fx.base, strict=True) if b] == [
        "1b.orderc", "1b.eth", "1b.wed", "1b.hed",
    ]  # fmt: skip


# ---------------------------------------------------------------------------
# Base levels and level selection
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (2, ["0.children", "1.children", "2b.children", "3.children"]),
        ("first", ["0b.children", "1.children", "2.children", "3.children"]),
        ("last", ["0.children", "1.children", "2.children", "3b.children"]),
        ("freq", ["0.children", "1.children", "2.children", "3b.children"]),  # 743 of 1934
        ("none", ["0bn.children", "1.children", "2.children", "3.children"]),
    ],
)
def test_base_operators(bangladesh, base, expected):
    fx = expand_terms(
        [T(i("children", base=base))], bangladesh, everyone(bangladesh), constant=False
    )
    assert fx.names == expected


def test_levels_come_from_the_sample(bangladesh):
    ds = bangladesh
    rows = ds.frame["children"].to_numpy() > 0
    fx = expand_terms([T(i("children"))], ds, rows)
    assert fx.names == ["1b.children", "2.children", "3.children", "_cons"]
    assert fx.nobs == int(rows.sum())


def test_selected_levels(bangladesh):
    ds = bangladesh
    fx = expand_terms([T(i("children", levels=(3, 1)))], ds, everyone(ds))
    assert fx.names == ["1.children", "3.children", "_cons"]
    fx = expand_terms([T(Factor("children", levels=(2,)))], ds, everyone(ds))
    assert fx.names == ["2.children", "_cons"]
    fx = expand_terms([T(Factor("children", levels=(0,)))], ds, everyone(ds))
    assert fx.names == ["0b.children", "_cons"]
    fx = expand_terms([T(i("children", levels=(1, 7)))], ds, everyone(ds))
    assert fx.names == ["1.children", "7o.children", "_cons"]
    assert fx.empty.tolist() == [False, True, False]
    assert fx.notes == ["note: 7.children identifies no observations in the sample."]


def test_io_omits_levels(bangladesh):
    fx = expand_terms([T(i("children", omit=(2,)))], bangladesh, everyone(bangladesh))
    assert fx.names == ["0b.children", "1.children", "2o.children", "3.children", "_cons"]
    assert fx.reasons[2] == "omit" and fx.notes == []


# ---------------------------------------------------------------------------
# Interactions
# ---------------------------------------------------------------------------


def test_full_factorial_with_empty_cell(small):
    ds = small
    terms = [T(i("urban")), T(i("children")), T(i("urban"), i("children"))]
    fx = expand_terms(terms, ds, everyone(ds))
    assert fx.names == [
        "0b.urban", "1.urban",
        "0b.children", "1.children", "2.children", "3.children",
        "0b.urban#0b.children", "0b.urban#1o.children", "0b.urban#2o.children",
        "0b.urban#3o.children", "1o.urban#0b.children", "1.urban#1.children",
        "1o.urban#2o.children", "1.urban#3.children",
        "_cons",
    ]  # fmt: skip
    j = fx.names.index("1o.urban#2o.children")
    assert fx.empty[j] and fx.omitted[j] and fx.reasons[j] == "empty"
    assert fx.notes == ["note: 1.urban#2.children identifies no observations in the sample."]
    k = fx.names.index("1.urban#3.children")
    f = ds.frame
    np.testing.assert_array_equal(fx.X[:, k], ((f.urban == 1) & (f.children == 3)).to_numpy(float))
    assert fx.terms[2].label == "urban#children"
    assert fx.columns[k].levels == (1, 3)


def test_plain_variables_in_interaction_are_factors(small):
    fx = expand_terms(
        [T(v("urban")), T(v("children")), T(v("urban"), v("children"))], small, everyone(small)
    )
    assert fx.names[:2] == ["urban", "children"]
    assert fx.names[2] == "0b.urban#0b.children"


def test_factor_by_continuous(small):
    ds = small
    fx = expand_terms([T(i("urban")), T(v("age")), T(i("urban"), c("age"))], ds, everyone(ds))
    assert fx.names == ["0b.urban", "1.urban", "age", "0b.urban#co.age", "1.urban#c.age", "_cons"]
    f = ds.frame
    np.testing.assert_array_equal(fx.X[:, 4], (f.urban * f.age).to_numpy(float))
    assert fx.terms[2].label == "urban#c.age"
    # without the main effect of age, one slope per level and no base
    fx = expand_terms([T(i("urban")), T(i("urban"), c("age"))], ds, everyone(ds))
    assert fx.names == ["0b.urban", "1.urban", "0.urban#c.age", "1.urban#c.age", "_cons"]
    assert fx.keep.tolist() == [False, True, True, True, True]


def test_interaction_with_one_lower_term(small):
    # i.children i.urban#i.children: urban keeps its base, children does not
    fx = expand_terms([T(i("children")), T(i("urban"), i("children"))], small, everyone(small))
    assert fx.names[4:] == [
        "0b.urban#0o.children", "0b.urban#1o.children", "0b.urban#2o.children",
        "0b.urban#3o.children", "1.urban#0.children", "1.urban#1.children",
        "1o.urban#2o.children", "1.urban#3.children", "_cons",
    ]  # fmt: skip


def test_pure_interaction_has_one_base_cell(small):
    fx = expand_terms([T(i("urban"), i("children"))], small, everyone(small))
    assert fx.names[0] == "0b.urban#0b.children"
    assert fx.base.sum() == 1
    assert fx.names[1] == "0.urban#1.children"
    fx = expand_terms([T(i("urban"), i("children"))], small, everyone(small), constant=False)
    assert not fx.base.any()


def test_continuous_squared(small):
    fx = expand_terms([T(c("age"), c("age"))], small, everyone(small))
    assert fx.names == ["c.age#c.age", "_cons"]
    np.testing.assert_allclose(fx.X[:, 0], small.frame.age.to_numpy() ** 2)


# ---------------------------------------------------------------------------
# Sample, errors, constant columns
# ---------------------------------------------------------------------------


def test_missing_values_leave_the_sample(small):
    frame = small.frame.copy()
    frame.loc[3, "age"] = np.nan
    ds = Dataset(frame)
    fx = expand_terms([T(v("age")), T(i("children"))], ds, everyone(ds))
    assert fx.nobs == 11 and not fx.rows[3]


def test_constant_and_zero_columns(small):
    frame = small.frame.assign(one=1.0, zero=0.0)
    ds = Dataset(frame)
    fx = expand_terms([T(v("one")), T(v("zero")), T(v("age"))], ds, everyone(ds))
    assert fx.names == ["o.one", "o.zero", "age", "_cons"]
    assert fx.notes == [
        "note: one omitted because of collinearity.",
        "note: zero omitted because of collinearity.",
    ]
    fx = expand_terms([T(v("one")), T(v("zero"))], ds, everyone(ds), constant=False)
    assert fx.names == ["one", "o.zero"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0, 1, -1, 2], "x: factor variables may not contain negative values"),
        ([0, 1, 1.5, 2], "x: factor variables may not contain noninteger values"),
    ],
)
def test_factor_values_must_be_nonnegative_integers(values, message):
    ds = Dataset(pd.DataFrame({"x": np.array(values, dtype=float)}))
    with pytest.raises(StataError) as exc:
        expand_terms([T(i("x"))], ds, everyone(ds))
    assert (exc.value.message, exc.value.rc) == (message, 452)
    # outside the sample the bad value does not matter
    rows = np.array(values) >= 0
    rows &= np.array(values) == np.floor(values)
    assert expand_terms([T(i("x"))], ds, rows).names[0] == "0b.x"


def test_string_variables_refused():
    ds = Dataset(pd.DataFrame({"s": np.array(["a", "b"], dtype=object), "x": [1.0, 2.0]}))
    with pytest.raises(StataError) as exc:
        expand_terms([T(i("s"))], ds, everyone(ds))
    assert exc.value.message == "s: string variables may not be used as factor variables"
    assert exc.value.rc == 109
    with pytest.raises(StataError) as exc:
        expand_terms([T(v("s"))], ds, everyone(ds))
    assert exc.value.message == "string variables not allowed in varlist;\ns is a string variable"
    assert exc.value.rc == 109


def test_collinear_columns_helper():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    x = np.column_stack([a, b, a + 2 * b, np.full(50, 3.0), a])
    flags = collinear_columns(x, np.ones(5, dtype=bool), constant=True)
    assert flags.tolist() == [False, False, True, True, True]
    flags = collinear_columns(x, np.ones(5, dtype=bool), constant=False)
    assert flags.tolist() == [False, False, True, False, True]


# ---------------------------------------------------------------------------
# Random-effects columns
# ---------------------------------------------------------------------------


def test_random_effects_columns(bangladesh):
    ds = bangladesh
    re = expand_re_terms([T(i("urban"))], ds, everyone(ds))
    assert re.names == ["1.urban"]
    np.testing.assert_array_equal(re.Z[:, 0], ds.frame["urban"].to_numpy(float))
    re = expand_re_terms([T(Factor("urban", base="none"))], ds, everyone(ds), constant=False)
    assert re.names == ["0.urban", "1.urban"]
    assert re.stata_names == ["0bn.urban", "1.urban"]
    np.testing.assert_array_equal(re.Z.sum(axis=1), 1.0)
    re = expand_re_terms([T(v("age")), T(i("urban"), c("age"))], ds, everyone(ds))
    assert re.names == ["age", "1.urban#c.age"]
    re = expand_re_terms([T(i("urban"), c("age"))], ds, everyone(ds))
    assert re.names == ["0.urban#c.age", "1.urban#c.age"]


# ---------------------------------------------------------------------------
# Perfect prediction
# ---------------------------------------------------------------------------


def _perfect_frame(n: int = 80, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = np.tile([0.0, 1.0, 2.0, 3.0], n // 4)
    y = (rng.random(n) < 0.5).astype(float)
    y[:4] = [0, 1, 0, 1]
    d = np.zeros(n)
    d[-12:] = 1.0
    y[-12:] = 0.0  # d != 0 -> always a failure
    return pd.DataFrame({"y": y, "x": x, "g": g, "d": d})


def test_dummy_predicts_failure():
    ds = Dataset(_perfect_frame())
    fx = expand_terms([T(v("x")), T(v("d"))], ds, everyone(ds))
    res = drop_perfect_predictors(ds.frame.y.to_numpy(), fx)
    assert res.notes == [
        "note: d != 0 predicts failure perfectly;\n      d omitted and 12 obs not used."
    ]
    assert res.dropped == 12 and res.rows.sum() == 68 and not res.rows[-12:].any()
    assert res.columns.names == ["x", "o.d", "_cons"]
    assert res.columns.reasons[1] == "perfect" and not res.columns.empty[1]
    assert res.columns.X.shape == (68, 3)
    assert res.columns.notes[-1] == res.notes[-1]


def test_factor_level_predicts_success():
    frame = _perfect_frame()
    frame.loc[frame.g == 3, "y"] = 1.0
    ds = Dataset(frame)
    fx = expand_terms([T(i("g")), T(v("x"))], ds, everyone(ds))
    res = drop_perfect_predictors(frame.y.to_numpy()[fx.rows], fx)
    n3 = int((frame.g == 3).sum())
    assert res.notes == [
        f"note: 3.g != 0 predicts success perfectly;\n      3.g omitted and {n3} obs not used."
    ]
    assert res.columns.names == ["0b.g", "1.g", "2.g", "3o.g", "x", "_cons"]
    assert res.columns.empty.tolist() == [False, False, False, True, False, False]


def test_zero_predicts_failure_names_the_other_value():
    frame = _perfect_frame()
    frame["f"] = (np.arange(len(frame)) % 2).astype(float)
    frame.loc[frame.f == 0, "y"] = 0.0
    frame.loc[1, "y"] = 0.0
    ds = Dataset(frame)
    fx = expand_terms([T(v("f"))], ds, everyone(ds))
    res = drop_perfect_predictors(frame.y.to_numpy(), fx)
    assert res.notes[0].startswith("note: f != 1 predicts failure perfectly;\n      f omitted and ")


def test_complete_separation_is_an_error():
    frame = _perfect_frame()
    frame["y"] = frame.d
    ds = Dataset(frame)
    fx = expand_terms([T(v("d"))], ds, everyone(ds))
    with pytest.raises(StataError) as exc:
        drop_perfect_predictors(frame.y.to_numpy(), fx)
    assert (exc.value.message, exc.value.rc) == ("outcome = d > 0 predicts data perfectly", 2000)


def test_outcome_does_not_vary():
    with pytest.raises(StataError) as exc:
        check_outcome_varies(np.zeros(5))
    assert exc.value.rc == 2000 and exc.value.message == OUTCOME_DOES_NOT_VARY
    assert exc.value.message.splitlines()[0] == "outcome does not vary; remember:"
    with pytest.raises(StataError):
        check_outcome_varies(np.array([2.0, 1.0, 5.0]))  # all nonzero: all positive
    check_outcome_varies(np.array([0.0, 3.0]))


def test_no_perfect_prediction_in_bangladesh(bangladesh):
    ds = bangladesh
    fx = expand_terms([T(i("urban")), T(v("age")), T(i("children"))], ds, everyone(ds))
    res = drop_perfect_predictors(ds.frame["c_use"].to_numpy(), fx)
    assert res.notes == [] and res.dropped == 0 and res.rows.all()
    assert res.columns.names == fx.names


def test_recheck_collinearity_after_sample_change(small):
    fx = expand_terms([T(v("age")), T(i("children"))], small, everyone(small))
    assert recheck_collinearity(fx).notes == fx.notes == []


def test_fmt_value():
    assert [fmt_value(x) for x in (0, 1.0, 0.5, -0.25, 1.3132741)] == [
        "0", "1", ".5", "-.25", "1.313274",
    ]  # fmt: skip
