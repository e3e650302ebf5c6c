"""Numerical robustness of the fit: one robust cluster, few integration points, extreme
values, and maximizations that cannot move."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.render import render_results

EX1 = "melogit c_use i.urban age i.children || district:"


def _fit_quietly(command: str, data: object, **kw):
    """Fit, asserting that no Python warning is emitted along the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fit(command, data, **kw)
    assert [str(w.message) for w in caught] == []
    return r


@pytest.fixture(scope="module")
def bangladesh() -> pd.DataFrame:
    return pd.read_stata(DATA / "bangladesh.dta", convert_categoricals=False)


# ------------------------------------------------------------------ one robust cluster
@pytest.mark.parametrize(
    "command, clusters",
    [
        ("melogit c_use urban age if district == 1 || district:, vce(robust) iterate(3)",
         "district"),
        ("melogit c_use urban age if district <= 3 || district:, vce(cluster one) iterate(3)",
         "one"),
    ],
)
def test_one_robust_cluster_leaves_the_variance_missing(bangladesh, command, clusters):
    """The sandwich's factor G/(G-1) is undefined for one cluster: standard errors, z,
    P, confidence intervals and the Wald test are missing, not 1e-15 and 1e14."""
    df = bangladesh.assign(one=1.0)
    r = _fit_quietly(command, df)
    assert np.all(np.isnan(r.e.V.data))
    assert all(math.isnan(se) for se in r.bse.values())
    assert math.isnan(r.e.scalars["chi2"]) and math.isnan(r.e.scalars["p"])
    assert r.e.scalars["rank"] == 0.0
    text = render_results(r.e, r.options)
    assert f"(Std. err. adjusted for 1 clusters in {clusters})" in text
    assert "=          ." in text.split("Wald chi2(")[1].splitlines()[0]
    assert "Prob > chi2       =          ." in text
    urban = next(line for line in text.splitlines() if line.strip().startswith("urban |"))
    assert urban.split("|")[1].split()[1:] == [".", ".", ".", ".", "."]


# ------------------------------------------------------------------ few integration points
@pytest.mark.parametrize(
    "options, method",
    [
        ("intpoints(1)", "mvaghermite"),
        ("intmethod(mcaghermite) intpoints(1)", "mcaghermite"),
        ("intmethod(pcaghermite) intp(1)", "pcaghermite"),
    ],
)
def test_one_point_adaptive_quadrature_is_the_laplace_fit(options, method):
    """One-point mode-curvature quadrature is the Laplacian approximation (and a
    one-point mean-variance rule, which cannot estimate a posterior variance, is taken
    as it): same log likelihood and estimates as intmethod(laplace), and the header
    keeps the method and points asked for.  Before, the default method stayed at
    ll -22577 and mcaghermite at the start values, -1219.50, for 300 iterations."""
    lap = _fit_quietly(f"{EX1}, intmethod(laplace)", DATA / "bangladesh.dta")
    one = _fit_quietly(f"{EX1}, {options}", DATA / "bangladesh.dta")
    assert one.converged and one.ll == pytest.approx(-1206.8078, abs=5e-5)
    assert one.ll == pytest.approx(lap.ll, abs=1e-7)
    for name, value in lap.params.items():
        assert one.params[name] == pytest.approx(value, rel=1e-6, abs=1e-8), name
        assert one.bse[name] == pytest.approx(lap.bse[name], rel=1e-5), name
    assert one.e.macros["n_quad"] == "1"
    assert one.e.macros["intmethod"] == method
