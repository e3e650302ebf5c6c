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
    assert all(math.isnan(se) for se in r.bse.to_numpy())
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


# ------------------------------------------------------------------ extreme values
@pytest.fixture(scope="module")
def extreme_csv(bangladesh, tmp_path_factory) -> str:
    """Five districts with a covariate, an offset and a weight near 1e300."""
    df = bangladesh[bangladesh.district <= 5].copy()
    alternate = np.arange(len(df)) % 2 == 1
    df["big"] = df.age * 1e298
    df["o"] = np.where(alternate, 1e300, 0.0)
    df["w"] = np.where(alternate, 1e300, 1.0)
    path = tmp_path_factory.mktemp("extreme") / "extreme.csv"
    df[["c_use", "urban", "age", "district", "big", "o", "w"]].to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    "command",
    [
        "melogit c_use urban big || district:",
        "melogit c_use urban age, offset(o) || district:",
        "melogit c_use urban age [pw=w] || district:",
    ],
)
def test_extreme_values_give_stata_error_and_print_nothing_else(extreme_csv, command):
    """Covariates, offsets and weights near 1e300 overflow the likelihood's information:
    Stata's r(1400), with neither numpy's RuntimeWarnings nor LAPACK's own
    '** On entry to DLASCL' line (printed from C) on the screen, and no r(9999)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONWARNINGS": "always"}
    out = subprocess.run(
        [sys.executable, "-m", "melogit_cli.cli", "--data", extreme_csv, command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert text.rstrip().endswith("initial values not feasible\nr(1400);")
    for unwanted in ("Warning", "DLASCL", "On entry", "r(9999)", "Traceback"):
        assert unwanted not in text
