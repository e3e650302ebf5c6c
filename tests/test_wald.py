"""test and testparm (Wald tests), r(table), ereturn display and el() after example 1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DATA, fails, fitted, run, session_with

from melogit_cli.errors import StataError
from melogit_cli.special import chi2_tail

EXAMPLE_1 = "melogit c_use i.urban age i.children || district:"


@pytest.fixture(scope="module")
def ex1():
    session, _ = session_with(f"use {DATA / 'bangladesh.dta'}, clear", f"quietly {EXAMPLE_1}")
    return session, session.current


def _col(e, name: str) -> int:
    return e.b.colnames.index(name)


def test_one_coefficient_is_z_squared_of_the_table(ex1):
    session, est = ex1
    table = session.r_matrices["table"]
    j = table.colnames.index("c_use:1.urban")
    z, p = table.data[2, j], table.data[3, j]
    out = run(session, "test 1.urban")
    assert out.splitlines() == [
        "",
        " ( 1)  [c_use]1.urban = 0",
        "",
        f"           chi2(  1) ={z * z:8.2f}",
        "         Prob > chi2 =    0.0000",
    ]
    r = session.r_scalars
    assert r["chi2"] == pytest.approx(z * z, rel=1e-12)
    assert r["p"] == pytest.approx(p, rel=1e-9)
    assert (r["df"], r["drop"]) == (1.0, 0.0)


def test_two_coefficients_equal_the_quadratic_form(ex1):
    session, est = ex1
    e = est.e
    idx = [_col(e, "c_use:1.urban"), _col(e, "c_use:age")]
    b = e.b.data[0, idx]
    v = e.V.data[np.ix_(idx, idx)]
    chi2 = float(b @ np.linalg.inv(v) @ b)
    out = run(session, "test 1.urban age")
    assert " ( 2)  [c_use]age = 0" in out.splitlines()
    assert session.r_scalars["chi2"] == pytest.approx(chi2, rel=1e-10)
    assert session.r_scalars["df"] == 2
    assert session.r_scalars["p"] == pytest.approx(chi2_tail(2, chi2), rel=1e-10)


def test_testparm_equals_test_of_the_levels(ex1):
    session, _ = ex1
    out = run(session, "testparm i.children")
    r1 = dict(session.r_scalars)
    run(session, "test 1.children 2.children 3.children")
    assert r1 == session.r_scalars and r1["df"] == 3
    assert " ( 3)  [c_use]3.children = 0" in out
    out = run(session, "testparm i.children, equal")
    assert out.splitlines()[1:3] == [
        " ( 1)  - [c_use]1.children + [c_use]2.children = 0",
        " ( 2)  - [c_use]1.children + [c_use]3.children = 0",
    ]
    assert session.r_scalars["df"] == 2


@pytest.mark.parametrize(
    ("cmd", "line", "col", "value"),
    [
        ("test _b[1.urban] = 0.5", " ( 1)  [c_use]1.urban = .5", "c_use:1.urban", 0.5),
        ("test [c_use]age", " ( 1)  [c_use]age = 0", "c_use:age", 0.0),
        ("test c_use:age == -0.02", " ( 1)  [c_use]age = -.02", "c_use:age", -0.02),
        ("test [/]var(_cons[district]) = 0.5", " ( 1)  [/]var(_cons[district]) = .5",
         "/:var(_cons[district])", 0.5),
        ("test _b[/var(_cons[district])] = 0.5", " ( 1)  [/]var(_cons[district]) = .5",
         "/:var(_cons[district])", 0.5),
    ],
)
def test_forms_of_one_constraint(ex1, cmd, line, col, value):
    session, est = ex1
    j = _col(est.e, col)
    b, v = est.e.b.data[0, j], est.e.V.data[j, j]
    out = run(session, cmd)
    assert out.splitlines()[1] == line
    assert session.r_scalars["chi2"] == pytest.approx((b - value) ** 2 / v, rel=1e-10)


def test_equality_and_linear_expressions(ex1):
    session, est = ex1
    e = est.e
    w = np.zeros(len(e.b.colnames))
    w[_col(e, "c_use:1.urban")] = 1
    w[_col(e, "c_use:age")] = -1
    d = w @ e.b.data[0]
    out = run(session, "test 1.urban = age")
    assert out.splitlines()[1] == " ( 1)  [c_use]1.urban - [c_use]age = 0"
    assert session.r_scalars["chi2"] == pytest.approx(d * d / (w @ e.V.data @ w), rel=1e-10)
    out = run(session, "test 2*age + 1.urban = -1")
    assert out.splitlines()[1] == " ( 1)  [c_use]1.urban + 2*[c_use]age = -1"
    out = run(session, "test 1.urban = age = 1.children")
    assert session.r_scalars["df"] == 2


def test_accumulate_notest_and_dropped_constraints(ex1):
    session, _ = ex1
    out = run(session, "test 1.urban, notest")
    assert out == "\n ( 1)  [c_use]1.urban = 0\n"
    out = run(session, "test age, accumulate")
    assert out.splitlines()[1:3] == [" ( 1)  [c_use]1.urban = 0", " ( 2)  [c_use]age = 0"]
    two = session.r_scalars["chi2"]
    out = run(session, "test (1.urban) (age) (1.urban)")
    assert out.splitlines()[3:5] == [" ( 3)  [c_use]1.urban = 0", "       Constraint 3 dropped"]
    assert session.r_scalars["chi2"] == pytest.approx(two, rel=1e-12)
    assert (session.r_scalars["drop"], session.r_scalars["dropped_1"]) == (1.0, 3.0)
    out = run(session, "test 0.urban")
    assert out.splitlines() == [
        "", " ( 1)  [c_use]0b.urban = 0", "       Constraint 1 dropped", "",
        "           chi2(  0) =       .", "         Prob > chi2 =         .",
    ]
    assert math.isnan(session.r_scalars["chi2"]) and session.r_scalars["df"] == 0


def test_mtest_table(ex1):
    session, _ = ex1
    out = run(session, "test 1.urban age, mtest(bonferroni)")
    lines = out.splitlines()
    assert lines[4:] == [
        "-------+-------------------------------",
        "       |        chi2     df       p",
        "-------+-------------------------------",
        f"  (1)  |   {session.r_matrices['mtest'].data[0, 0]:9.2f}      1     0.0000 #",
        f"  (2)  |   {session.r_matrices['mtest'].data[1, 0]:9.2f}      1     0.0015 #",
        "-------+-------------------------------",
        f"  all  |   {session.r_scalars['chi2']:9.2f}      2     0.0000",
        "-------+-------------------------------",
        "         # Bonferroni-adjusted p-values",
    ]
    m = session.r_matrices["mtest"].data
    assert m[1, 3] == pytest.approx(2 * m[1, 2])
    assert session.r_macros["mtmethod"] == "bonferroni"


@pytest.mark.parametrize(
    ("cmd", "message", "rc"),
    [
        ("test [c_use]foo", "[c_use]foo not found", 111),
        ("test foo", "foo not found", 111),
        ("test 5.children", "5.children not found", 111),
        ("test _b[age]*_b[1.urban] = 0", "not possible with test", 131),
        ("test age, mtest notest", "options mtest and notest may not be combined", 198),
        ("test age, mtest(fancy)", "invalid mtest(): fancy", 198),
        ("test age, bogus", "option bogus not allowed", 198),
        ("test age =", "invalid syntax", 198),
        ("testparm foo", "no such variables;\nthe specified varlist does not identify any "
         "testable coefficients", 111),
        ("testparm i.urban, equal", "too few variables specified", 102),
        ("testparm", "varlist required", 100),
    ],
)
def test_bad_input(ex1, cmd, message, rc):
    session, _ = ex1
    err = fails(session, cmd)
    assert (err.message, err.rc) == (message, rc)


def test_before_estimation_is_301(tmp_path):
    from melogit_cli.api import run_dofile

    do = tmp_path / "t.do"
    do.write_text(f"use {DATA / 'bangladesh.dta'}, clear\ntest 1.urban\n")
    session, failure = run_dofile(do)
    assert (failure.error.message, failure.error.rc) == ("last estimates not found", 301)
    assert "Traceback" not in session.out.stream.getvalue()
    for cmd in ("testparm i.children", "lincom age", "nlcom exp(_b[age])"):
        err = fails(session, cmd)
        assert (err.message, err.rc) == ("last estimates not found", 301)


def test_rtable_is_posted_after_the_table(ex1):
    session, est = ex1
    run(session, f"quietly {EXAMPLE_1}")  # a fresh fit posts r(table) and r(level)
    session.current = est
    t = session.r_matrices["table"]
    assert t.rownames == ["b", "se", "z", "pvalue", "ll", "ul", "df", "crit", "eform"]
    assert t.colnames == est.e.b.colnames and session.r_scalars["level"] == 95
    assert t.data[0, 0] == 0 and math.isnan(t.data[1, 0])  # base level: se missing
    out = run(session, "display el(r(table),1,2) - _b[1.urban]")
    assert out == "0\n"
    assert run(session, "display rowsof(r(table)) colsof(e(V))") == "99\n"
    assert fails(session, "display el(nomatrix,1,1)").message == "matrix nomatrix not found"
    out = run(session, "ereturn display, level(90)")
    assert out.splitlines()[1] == (
        "       c_use | Coefficient  Std. err.      z    P>|z|     [90% conf. interval]"
    )
    assert session.r_scalars["level"] == 90


def test_api_test_and_testparm():
    r = fitted(EXAMPLE_1, "bangladesh.dta")
    res = r.test("1.urban = age")
    assert res.df == 1 and res.chi2 > 0
    assert repr(res).splitlines()[0] == " ( 1)  [c_use]1.urban - [c_use]age = 0"
    both = r.testparm("i.children")
    assert both.chi2 == pytest.approx(r.test("1.children 2.children 3.children").chi2)
    with pytest.raises(StataError, match="foo not found"):
        r.test("[c_use]foo")
