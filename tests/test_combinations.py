"""lincom and nlcom after example 1: the table rows, the delta method, layouts, errors."""

from __future__ import annotations

import math

import pytest
from conftest import DATA, fails, fitted, run, session_with

from melogit_cli.interp.session import Session
from melogit_cli.results.rtable import coef_table

EXAMPLE_1 = "melogit c_use i.urban age i.children || district:"


@pytest.fixture(scope="module")
def ex1():
    session, _ = session_with(f"use {DATA / 'bangladesh.dta'}, clear", f"quietly {EXAMPLE_1}")
    return session, session.current


@pytest.fixture
def s(ex1):
    session, est = ex1
    session.current = est  # nlcom, post replaces the active results
    return session


def _row(table, name: str) -> list[float]:
    return list(table.data[:6, table.colnames.index(name)])


def _r(session: Session) -> list[float]:
    r = session.r_scalars
    return [r["estimate"], r["se"], r["z"], r["p"], r["lb"], r["ub"]]


def test_lincom_reproduces_the_table_row(s):
    row = _row(coef_table(s.current.e), "c_use:1.urban")
    out = run(s, "lincom 1.urban")
    assert _r(s) == pytest.approx(row, rel=1e-12)
    assert out.splitlines() == [
        "",
        " ( 1)  [c_use]1.urban = 0",
        "",
        "-" * 78,
        "       c_use | Coefficient  Std. err.      z    P>|z|     [95% conf. interval]",
        "-------------+" + "-" * 64,
        "         (1) |   .7324134   .1194816     6.13   0.000     .4982338    .9665931",
        "-" * 78,
    ]


def test_lincom_or_reproduces_the_odds_ratio_row(s):
    row = _row(coef_table(s.current.e, eform=True), "c_use:1.urban")
    out = run(s, "lincom 1.urban, or")
    assert _r(s) == pytest.approx(row, rel=1e-12)
    assert out.splitlines()[4].startswith("       c_use | Odds ratio   Std. err.")
    out = run(s, "lincom 1.urban, eform level(90)")
    assert out.splitlines()[4] == (
        "       c_use |     exp(b)   Std. err.      z    P>|z|     [90% conf. interval]"
    )
    assert s.r_scalars["level"] == 90


def test_lincom_of_a_sum_and_a_constant(s):
    e = s.current.e
    i, j = e.b.colnames.index("c_use:1.urban"), e.b.colnames.index("c_use:age")
    b, v = e.b.data[0], e.V.data
    out = run(s, "lincom 1.urban + 2*age - 1")
    assert out.splitlines()[1] == " ( 1)  [c_use]1.urban + 2*[c_use]age = 1"
    assert s.r_scalars["estimate"] == pytest.approx(b[i] + 2 * b[j] - 1, rel=1e-12)
    se = math.sqrt(v[i, i] + 4 * v[j, j] + 4 * v[i, j])
    assert s.r_scalars["se"] == pytest.approx(se, rel=1e-12)


def test_nlcom_exp_has_the_delta_method_se(s):
    e = s.current.e
    j = e.b.colnames.index("c_use:1.urban")
    b, se = e.b.data[0, j], math.sqrt(e.V.data[j, j])
    out = run(s, "nlcom exp(_b[1.urban])")
    assert out.splitlines()[:2] == ["", "       _nl_1:  exp(_b[1.urban])"]
    assert out.splitlines()[6].startswith("       _nl_1 |   2.080095    .248533")
    assert s.r_matrices["b"].data[0, 0] == pytest.approx(math.exp(b), rel=1e-14)
    assert math.sqrt(s.r_matrices["V"].data[0, 0]) == pytest.approx(math.exp(b) * se, rel=1e-9)


def test_nlcom_named_expressions_and_post(s):
    e = s.current.e
    i, j = e.b.colnames.index("c_use:1.urban"), e.b.colnames.index("c_use:age")
    bi, bj = e.b.data[0, i], e.b.data[0, j]
    vi, vj, cij = e.V.data[i, i], e.V.data[j, j], e.V.data[i, j]
    out = run(s, "nlcom (ratio: _b[1.urban]/_b[age]) (sd: sqrt(_b[/var(_cons[district])])), post")
    assert out.splitlines()[1:3] == ["       ratio:  _b[1.urban]/_b[age]",
                                     "          sd:  sqrt(_b[/var(_cons[district])])"]
    g = [1 / bj, -bi / bj**2]
    var = g[0] ** 2 * vi + g[1] ** 2 * vj + 2 * g[0] * g[1] * cij
    assert s.current.e.V.data[0, 0] == pytest.approx(var, rel=1e-8)
    assert s.current.e.macros["cmd"] == "nlcom"
    out = run(s, "test ratio = 0")
    assert out.splitlines()[1] == " ( 1)  ratio = 0"
    assert s.r_scalars["chi2"] == pytest.approx((bi / bj) ** 2 / var, rel=1e-8)


def test_nlcom_functions_and_powers(s):
    e = s.current.e
    c = e.b.colnames.index("c_use:_cons")
    b0, v0 = e.b.data[0, c], e.V.data[c, c]
    run(s, "nlcom (p: invlogit(_b[_cons])) (l: ln(_b[/var(_cons[district])])) (q: _b[_cons]^2)")
    p = 1 / (1 + math.exp(-b0))
    se = s.r_matrices["V"].data
    assert math.sqrt(se[0, 0]) == pytest.approx(p * (1 - p) * math.sqrt(v0), rel=1e-8)
    assert math.sqrt(se[2, 2]) == pytest.approx(2 * abs(b0) * math.sqrt(v0), rel=1e-8)


@pytest.mark.parametrize(
    ("cmd", "message", "rc"),
    [
        ("lincom [c_use]foo", "[c_use]foo not found", 111),
        ("lincom 1.urban = 0", '"=" not allowed in expression', 198),
        ("lincom age + 1, or", "additive constant term not allowed with or option", 198),
        ("lincom age, or eform", "only one display option can be specified", 198),
        ("lincom age, level(5)", "level() must be between 10 and 99.99 inclusive", 198),
        ("lincom _b[age]*_b[1.urban]", "not possible with test", 131),
        ("nlcom exp(_b[1.urban]", "too few ')' or ']'", 132),
        ("nlcom exp(_b[1.urban]) +", "invalid syntax", 198),
        ("nlcom _b[foo]", "[foo] not found", 111),
        ("nlcom ln(_b[age])", "expression (ln(_b[age])) evaluates to missing", 498),
        ("nlcom 2*age", "expression (2*age) contains reference to X rather than _b[X]", 198),
        ("nlcom (a b: _b[age])", "invalid name: a b", 198),
        ("nlcom _b[age] = 1", '"=" not allowed in expression', 198),
        ("nlcom foo(_b[age])", "unknown function foo()", 133),
    ],
)
def test_bad_input(s, cmd, message, rc):
    err = fails(s, cmd)
    assert (err.message, err.rc) == (message, rc)


def test_api_lincom_and_nlcom():
    r = fitted(EXAMPLE_1, "bangladesh.dta")
    row = _row(coef_table(r.e, eform=True), "c_use:1.urban")
    df = r.lincom("1.urban", eform=True)
    assert list(df.columns) == ["estimate", "se", "z", "p", "ll", "ul"]
    assert list(df.iloc[0]) == pytest.approx(row, rel=1e-12)
    nl = r.nlcom("(or: exp(_b[1.urban])) (age2: _b[age]^2)")
    assert list(nl.index) == ["or", "age2"]
    assert nl.loc["or", "se"] == pytest.approx(row[1], rel=1e-9)
