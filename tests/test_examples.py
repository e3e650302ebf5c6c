"""The manual's examples 1-3 on the bundled bangladesh data: layout and consistency."""

from __future__ import annotations

import pytest
from conftest import fitted

EX1 = "melogit c_use i.urban age i.children, nofvlabel || district:"
EX2 = (
    "melogit c_use i.urban age i.children, nofvlabel || district: i.urban, covariance(unstructured)"
)
EX3 = (
    "melogit c_use ibn.urban age i.children, noconstant nofvlabel"
    " || district: ibn.urban, noconstant cov(unstructured)"
)


@pytest.fixture(scope="module")
def ex2():
    return fitted(EX2, "bangladesh.dta")


@pytest.fixture(scope="module")
def ex3():
    return fitted(EX3, "bangladesh.dta")


def test_example1_log_and_layout():
    r = fitted(EX1, "bangladesh.dta")
    log = r.log
    assert log.index("Fitting fixed-effects model:") < log.index("Refining starting values:")
    assert "Grid node 0:  Log likelihood = " in log
    assert log.index("Refining starting values:") < log.index("Fitting full model:")
    text = r.table()
    for line in (
        "Mixed-effects logistic regression               Number of obs     =      1,934",
        "Group variable: district                        Number of groups  =         60",
        "Integration method: mvaghermite                 Integration pts.  =          7",
        "       c_use | Coefficient  Std. err.      z    P>|z|     [95% conf. interval]",
        "    children |",
        "district     |",
    ):
        assert line in text, line
    # iteration 0 of the full model repeats grid node 0
    grid = log.split("Grid node 0:  Log likelihood = ")[1].split()[0]
    full = log.split("Fitting full model:")[1]
    assert f"Iteration 0:  Log likelihood = {grid}" in full


def test_example2_layout(ex2):
    text = ex2.table()
    assert "var(1.urban)|" in text
    assert "   var(_cons)|" in text
    assert "cov(1.urban," in text
    assert "LR test vs. logistic model: chi2(3) = " in text
    assert "Note: LR test is conservative and provided only for reference." in text
    assert ex2.converged


def test_example3_layout(ex3):
    text = ex3.table()
    assert " ( 1)  [c_use]_cons = 0" in text
    assert "(omitted)" in text
    assert "var(0.urban)|" in text and "var(1.urban)|" in text
    assert "Wald chi2(6)" in text


def test_examples_2_and_3_same_loglik(ex2, ex3):
    assert abs(ex2.ll - ex3.ll) < 1e-5


def test_example3_variances_as_derived_in_the_manual(ex2, ex3):
    """Var(u) = s_u^2, Var(u+v) = s_u^2 + s_v^2 + 2 s_uv, Cov(u, u+v) = s_u^2 + s_uv."""
    p2, p3 = ex2.params, ex3.params
    su2 = p2["/:var(_cons[district])"]
    sv2 = p2["/:var(1.urban[district])"]
    suv = p2["/:cov(1.urban[district],_cons[district])"]
    assert abs(p3["/:var(0.urban[district])"] - su2) < 2e-4
    assert abs(p3["/:var(1.urban[district])"] - (su2 + sv2 + 2 * suv)) < 2e-4
    assert abs(p3["/:cov(0.urban[district],1.urban[district])"] - (su2 + suv)) < 2e-4
    # and the fixed effects: beta0 + beta1 for urban areas
    b2 = ex2.params
    assert abs(p3["c_use:1.urban"] - (b2["c_use:_cons"] + b2["c_use:1.urban"])) < 2e-4
