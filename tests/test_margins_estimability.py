"""margins after a model with an empty interaction cell: a margin whose prediction puts
weight on the empty cell's coefficient is not estimable (Stata's ``(not estimable)``, 0 in
r(b)/r(V), 8 in r(error), missing statistics in r(table)) unless ``noestimcheck``; the others
are the predictive margins computed directly here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, fails, run, session_with

from melogit_cli.api import fit
from melogit_cli.errors import StataError
from melogit_cli.postest.marginsplot import plot_data

MODEL = "melogit c_use i.urban##i.children age || district:"
SETUP = ("webuse bangladesh", "keep if district <= 12", "drop if urban == 1 & children == 3")
EMPTY_CELL = 7  # urban#children = 1#3, the last of the 8 cells


def _data() -> pd.DataFrame:
    df = pd.read_stata(DATA / "bangladesh.dta", convert_categoricals=False)
    df = df[df["district"] <= 12]
    return df[~((df["urban"] == 1) & (df["children"] == 3))].reset_index(drop=True)


DF = _data()


@pytest.fixture(scope="module")
def res():
    return fit(MODEL, DF)


@pytest.fixture(scope="module")
def session():
    s, _ = session_with(*SETUP, f"quietly {MODEL}")
    return s


def _coef(res, name: str) -> float:
    return float(res.e.b.data[0][res.e.b.colnames.index(name)])


def direct_margin(res, urban: int | None = None, children: int | None = None,
                  frame: pd.DataFrame = DF) -> float:
    """The sample average of E_u[invlogit(xb + u)], u ~ N(0, var(_cons[district])), with
    urban/children set as given, by a 60-point Gauss-Hermite rule; the empty cell's
    coefficient is e(b)'s (0)."""
    u = frame["urban"].to_numpy(int) if urban is None else np.full(len(frame), urban)
    c = frame["children"].to_numpy(int) if children is None else np.full(len(frame), children)
    xb = _coef(res, "c_use:_cons") + _coef(res, "c_use:age") * frame["age"].to_numpy(float)
    for i in range(len(frame)):
        if u[i]:
            xb[i] += _coef(res, "c_use:1.urban")
        if c[i]:
            xb[i] += _coef(res, f"c_use:{c[i]}.children")
        if u[i] and c[i]:
            o = "o" if c[i] == 3 else ""
            xb[i] += _coef(res, f"c_use:1{o}.urban#{c[i]}{o}.children")
    sd = np.sqrt(_coef(res, "/:var(_cons[district])"))
    x, w = np.polynomial.hermite_e.hermegauss(60)
    p = 1 / (1 + np.exp(-(xb[:, None] + sd * x[None, :])))
    return float((p @ w).mean() / w.sum())


def test_cells_are_direct_margins_and_the_empty_one_is_not_estimable(res) -> None:
    m = res.margins_result("urban#children")
    assert m.not_estimable == frozenset({EMPTY_CELL})
    for k, (u, c) in enumerate((u, c) for u in (0, 1) for c in (0, 1, 2, 3)):
        if k != EMPTY_CELL:
            assert m.b[k] == pytest.approx(direct_margin(res, u, c), abs=1e-9)
    assert m.b[EMPTY_CELL] == 0.0
    assert not m.V[EMPTY_CELL].any() and not m.V[:, EMPTY_CELL].any()
    assert list(m.error) == [0.0] * 7 + [8.0]
    col = m.table()[:, EMPTY_CELL]
    assert col[0] == 0.0 and np.isnan(col[1:6]).all()
    frame = res.margins("urban#children")
    assert frame.iloc[EMPTY_CELL].isna().all() and not frame.iloc[:7].isna().any().any()


def test_noestimcheck_reports_the_manipulable_value(res) -> None:
    m = res.margins_result("urban#children", noestimcheck=True)
    assert m.not_estimable == frozenset()
    assert m.b[EMPTY_CELL] == pytest.approx(direct_margin(res, 1, 3), abs=1e-9)
    assert m.V[EMPTY_CELL, EMPTY_CELL] > 0


def test_a_margin_averaging_over_the_empty_cell_is_not_estimable(res) -> None:
    m = res.margins_result("urban")
    assert m.not_estimable == frozenset({1})
    assert m.b[0] == pytest.approx(direct_margin(res, urban=0), abs=1e-9)
    kids = res.margins_result("children")
    assert kids.not_estimable == frozenset({3})
    for c in (0, 1, 2):
        assert kids.b[c] == pytest.approx(direct_margin(res, children=c), abs=1e-9)
    # the overall margin keeps every observation as observed: none is in the empty cell
    assert res.margins_result().not_estimable == frozenset()
    assert res.margins_result().b[0] == pytest.approx(direct_margin(res), abs=1e-9)


def test_effects_through_the_empty_cell_are_not_estimable(res) -> None:
    m = res.margins_result(dydx="urban children")
    assert [r.wrt for r in m.rows] == ["1.urban", "1.children", "2.children", "3.children"]
    assert m.not_estimable == frozenset({0, 3})
    expected = direct_margin(res, children=1) - direct_margin(res, children=0)
    assert m.b[1] == pytest.approx(expected, abs=1e-9)


def test_do_file_prints_not_estimable_and_stores_what_stata_stores(res, session) -> None:
    text = run(session, "margins urban#children")
    assert "urban#3 or more children  |  (not estimable)\n" in text
    assert "urban#2 children  |   .6439993   .1141948" in text
    b = np.asarray(session.r_matrices["b"].data, float).reshape(-1)
    assert b == pytest.approx(res.margins_result("urban#children").b, abs=1e-12)
    assert b[EMPTY_CELL] == 0.0
    assert list(np.asarray(session.r_matrices["error"].data).reshape(-1)) == [0] * 7 + [8]
    V = np.asarray(session.r_matrices["V"].data, float)
    assert not V[EMPTY_CELL].any()
    table = np.asarray(session.r_matrices["table"].data, float)
    assert table[0, EMPTY_CELL] == 0.0 and np.isnan(table[1:6, EMPTY_CELL]).all()
    text = run(session, "margins urban")
    assert "      urban  |  (not estimable)\n" in text
    assert "(not estimable)" not in run(session, "margins urban#children, noestimcheck")


def test_post_carries_the_error_flags(session) -> None:
    est = session.current
    try:
        run(session, "quietly margins urban, post")
        e = session.current.e
        assert list(np.asarray(e.matrices["error"].data).reshape(-1)) == [0, 8]
        assert np.asarray(e.b.data, float).reshape(-1)[1] == 0.0
    finally:
        session.current = est


def test_marginsplot_leaves_a_gap(res) -> None:
    data = plot_data(res.margins_result("urban#children"))
    ys = [y for s in data.series for y in s.y]
    assert sum(np.isnan(ys)) == 1 and len(ys) == 8


def test_emptycells_is_accepted_as_documented_and_checked(res, session) -> None:
    # Stata: emptycells() matters only with asbalanced; without it nothing changes
    plain = run(session, "margins urban")
    assert run(session, "margins urban, emptycells(reweight)") == plain
    assert session.r_macros["emptycells"] == "reweight"
    assert run(session, "margins urban, emptycells(strict)") == plain
    err = fails(session, "margins urban, emptycells(balanced)")
    assert (err.message, err.rc) == ("option emptycells() invalid", 198)
    with pytest.raises(StataError) as info:
        res.margins_result("urban", emptycells="balanced")
    assert (info.value.message, info.value.rc) == ("option emptycells() invalid", 198)
    assert res.margins_result("urban", emptycells="reweight").not_estimable == {1}


def test_set_emptycells_drop_has_no_empty_column_so_every_cell_is_estimable() -> None:
    s, _ = session_with(*SETUP, "set emptycells drop", f"quietly {MODEL}")
    run(s, "margins urban#children")
    assert list(np.asarray(s.r_matrices["error"].data).reshape(-1)) == [0] * 8
