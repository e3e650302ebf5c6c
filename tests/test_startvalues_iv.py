"""startvalues(iv): variances from the moment equations of the generalized residuals."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance
from melogit_cli.engine.start_iv import Term, _bases, moment_sigmas

EX1 = "melogit c_use i.urban age i.children || district:"


def _brute_force(terms: list[Term], r: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """The same weighted least squares, one row per ordered pair i != k."""
    bases = [_bases(t.cov) for t in terms]
    rows, ys, weights = [], [], []
    for i, k in itertools.permutations(range(len(r)), 2):
        x = []
        for t, basis in zip(terms, bases, strict=True):
            shared = t.group[i] == t.group[k]
            x += [shared * w[i] * w[k] * t.Z[i] @ B @ t.Z[k] for B in basis]
        if any(x):
            rows.append(x)
            ys.append(r[i] * r[k])
            weights.append(w[i] * w[k])
    # weights 1/(w_i w_k): rows and outcomes divided by sqrt(w_i w_k)
    scale = np.sqrt(np.array(weights))
    phi = np.linalg.lstsq(np.array(rows) / scale[:, None], np.array(ys) / scale, rcond=None)[0]
    out, j = [], 0
    for basis in bases:
        out.append(sum(f * B for f, B in zip(phi[j : j + len(basis)], basis, strict=True)))
        j += len(basis)
    return out


@pytest.mark.parametrize("layout", ["nested", "crossed"])
def test_group_sums_equal_the_pairwise_least_squares(layout) -> None:
    rng = np.random.default_rng(3)
    n = 40
    top = np.sort(rng.integers(0, 5, n))
    x = rng.normal(size=n)
    if layout == "nested":
        other = top * 3 + rng.integers(0, 3, n)  # units within the top groups
        second = LevelCovariance((CovBlock("identity", 1),))
        Z2 = np.ones((n, 1))
    else:
        other = rng.integers(0, 4, n)  # crossed with the top groups
        second = LevelCovariance((CovBlock("exchangeable", 2),))
        Z2 = np.column_stack([np.ones(n), rng.normal(size=n)])
    terms = [
        Term(
            top,
            np.column_stack([x, np.ones(n)]),
            LevelCovariance((CovBlock("unstructured", 2),)),
        ),
        Term(np.unique(other, return_inverse=True)[1], Z2, second),
    ]
    r = rng.normal(size=n)
    w = rng.uniform(0.1, 0.25, n)
    for got, want in zip(moment_sigmas(terms, r, w), _brute_force(terms, r, w), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def _log_and_fit(options: str):
    res = fit(f"{EX1}, {options}", DATA / "bangladesh.dta", log=True)
    return res.log, res


def _grid_node_0(log: str) -> float:
    return float(re.search(r"Grid node 0:  Log likelihood = +(-?[\d.]+)", log).group(1))


def test_iv_start_reaches_the_default_optimum_from_another_start() -> None:
    default_log, default = _log_and_fit("")
    iv_log, iv = _log_and_fit("startvalues(iv)")
    # the same maximum
    assert abs(iv.e.scalars["ll"] - default.e.scalars["ll"]) < 1e-6
    np.testing.assert_allclose(iv.params.to_numpy(), default.params.to_numpy(), rtol=1e-5)
    # from another start: a variance from the residuals instead of 1, closer to the optimum
    assert _grid_node_0(default_log) == -1219.1137
    assert _grid_node_0(iv_log) == -1207.7981
    assert "Iteration 0:  Log likelihood = -1207.7981" in iv_log
    # the log has Stata's three phases, in order, as with the default start
    phases = ["Fitting fixed-effects model:", "Refining starting values:", "Fitting full model:"]
    places = [iv_log.index(p) for p in phases]
    assert places == sorted(places)


def test_iv_start_of_a_random_intercept_is_the_closed_form_moment() -> None:
    """One random intercept: sigma2 = sum_g [(sum r)^2 - sum r^2] / sum_g [(sum w)^2 - sum w^2]
    at the fixed-effects logit, here fitted by Newton-Raphson in the test."""
    df = pd.read_stata(DATA / "bangladesh.dta", convert_categoricals=False)
    X = np.column_stack(
        [df["urban"] == 1, df["age"]]
        + [df["children"] == k for k in (1, 2, 3)]
        + [np.ones(len(df))]
    ).astype(float)
    y = df["c_use"].to_numpy(float)
    b = np.zeros(X.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-X @ b))
        b += np.linalg.solve((X * (p * (1 - p))[:, None]).T @ X, X.T @ (y - p))
    p = 1 / (1 + np.exp(-X @ b))
    r, w = y - p, p * (1 - p)
    g = df["district"].to_numpy()
    num = den = 0.0
    for d in np.unique(g):
        rd, wd = r[g == d], w[g == d]
        num += rd.sum() ** 2 - (rd**2).sum()
        den += wd.sum() ** 2 - (wd**2).sum()
    res = fit(f"{EX1}, startvalues(iv) noestimate", DATA / "bangladesh.dta")
    default = fit(f"{EX1}, noestimate", DATA / "bangladesh.dta")
    # the coefficients are the fixed-effects model's, as with the default start
    np.testing.assert_array_equal(res.params.to_numpy()[:-1], default.params.to_numpy()[:-1])
    assert default.params.iloc[-1] == 1.0
    assert res.params.iloc[-1] == pytest.approx(num / den, rel=1e-8)
