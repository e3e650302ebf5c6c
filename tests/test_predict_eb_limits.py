"""predict's iterate(#) and tolerance(#) bound the empirical Bayes computations: the mode
searches and the mean-variance adaptation, for two-level, nested and crossed models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, fails, fitted, session_with
from scipy.special import expit

EX1 = "melogit c_use i.urban age i.children || district:"
NESTED = "melogit c_use urban age || district: || urban:"
CROSSED = "melogit c_use urban || _all:R.district || urban:"


@pytest.fixture(scope="module")
def ex1():
    session, _ = session_with(
        f"use {DATA / 'bangladesh.dta'}",
        f"quietly {EX1}",
        "predict double xb, xb",
        "predict double mode0, reffects ebmodes",
        "predict double mode1, reffects ebmodes iterate(1)",
        "predict double mean0, reffects",
        "predict double mean1, reffects iterate(1)",
        "predict double meanL, reffects tolerance(1e-2)",
        "predict double mean300, reffects iterate(300)",
        "predict double mu0, mu",
        "predict double mu1, mu iterate(1)",
    )
    return session


def _one_newton_step(f, sd: float) -> tuple[pd.Series, pd.Series]:
    """Each district's v after one Newton step from zero, and the information there."""
    mu0 = expit(f.xb)
    grad = (f.c_use - mu0).groupby(f.district).sum() * sd
    info0 = 1 + sd**2 * (mu0 * (1 - mu0)).groupby(f.district).sum()
    v1 = grad / info0
    mu1 = expit(f.xb + sd * f.district.map(v1))
    info1 = 1 + sd**2 * (mu1 * (1 - mu1)).groupby(f.district).sum()
    return v1, info1


def test_iterate_1_gives_one_newton_step_for_the_modes(ex1):
    f = ex1.ds.frame
    e = ex1.current.e
    sd = float(e.b.data[0, e.b.colnames.index("/:var(_cons[district])")]) ** 0.5
    v1, _ = _one_newton_step(f, sd)
    got = f.groupby("district").mode1.first()
    assert np.max(np.abs(got - sd * v1)) < 1e-12
    assert np.max(np.abs(f.mode1 - f.mode0)) > 1e-3


def test_iterate_1_gives_one_adaptation_pass_from_one_newton_step(ex1):
    f = ex1.ds.frame
    e = ex1.current.e
    sd = float(e.b.data[0, e.b.colnames.index("/:var(_cons[district])")]) ** 0.5
    v1, info1 = _one_newton_step(f, sd)
    x, w = np.polynomial.hermite_e.hermegauss(7)  # the fit's 7 points
    want = {}
    for d, rows in f.groupby("district"):
        v = v1[d] + x / np.sqrt(info1[d])
        eta = rows.xb.to_numpy()[:, None] + sd * v[None, :]
        ll = (rows.c_use.to_numpy()[:, None] * eta - np.logaddexp(0.0, eta)).sum(axis=0)
        log_int = ll - v**2 / 2 + x**2 / 2 + np.log(w)
        p = np.exp(log_int - log_int.max())
        want[d] = sd * (p @ v) / p.sum()
    got = f.groupby("district").mean1.first()
    assert np.max(np.abs(got - pd.Series(want))) < 1e-10
    assert 0 < np.max(np.abs(f.mean1 - f.mean0))
    assert np.max(np.abs(f.mu1 - f.mu0)) > 0


def test_loose_tolerance_moves_the_means_slightly_and_the_default_not_at_all(ex1):
    f = ex1.ds.frame
    assert 0 < np.max(np.abs(f.meanL - f.mean0)) < 1e-6
    # iterate(300) (Stata's default) stops where the computation converges anyway
    assert (f.mean300 == f.mean0).all()


def _largest_change(a, b) -> list[float]:
    if isinstance(a, dict):
        return [float(np.max(np.abs(a[k].to_numpy() - b[k].to_numpy()))) for k in a]
    return [float(np.max(np.abs(a.to_numpy() - b.to_numpy())))]


@pytest.mark.parametrize("command", [NESTED, CROSSED])
@pytest.mark.parametrize("conditional", ["ebmodes", "ebmeans"])
def test_nested_and_crossed_honour_iterate_and_tolerance(command, conditional):
    r = fitted(command, "bangladesh.dta")
    base = r.random_effects(conditional=conditional)
    one = _largest_change(r.random_effects(conditional=conditional, iterate=1), base)
    loose = _largest_change(r.random_effects(conditional=conditional, tolerance=1e-2), base)
    same = _largest_change(r.random_effects(conditional=conditional, iterate=300), base)
    assert max(one) > 1e-8
    assert 0 < max(loose) < 1e-4
    assert same == [0.0] * len(same)
    assert max(one) > max(loose)


def test_nested_modes_after_one_step_are_far_from_converged():
    r = fitted(NESTED, "bangladesh.dta")
    base = r.random_effects(conditional="ebmodes")["district>urban"]
    one = r.random_effects(conditional="ebmodes", iterate=1)["district>urban"]
    assert np.max(np.abs(one["_cons"] - base["_cons"])) > 1e-2


def test_api_random_effects_match_predict_with_the_same_limits(ex1):
    f = ex1.ds.frame
    r = fitted(EX1, "bangladesh.dta")
    one = r.random_effects(conditional="ebmodes", iterate=1, se=False)["_cons"]
    assert np.max(np.abs(one - f.groupby("district").mode1.first())) < 1e-14


def test_api_predict_takes_the_same_limits(ex1):
    r = fitted(EX1, "bangladesh.dta")
    mu1 = r.predict(which="mu", iterate=1)
    np.testing.assert_array_equal(mu1.to_numpy(), ex1.ds.frame.mu1.to_numpy())
    loose = r.predict(which="mu", tolerance=1e-2)
    assert np.max(np.abs(loose.to_numpy() - ex1.ds.frame.mu0.to_numpy())) < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterate": -1}, "iterate() must be a nonnegative integer"),
        ({"iterate": 1.5}, "iterate() must be a nonnegative integer"),
        ({"tolerance": 0}, "tolerance() invalid"),
        ({"tolerance": "x"}, "tolerance() invalid"),
    ],
)
def test_api_random_effects_rejects_bad_limits(kwargs, message):
    from melogit_cli.errors import StataError

    r = fitted(EX1, "bangladesh.dta")
    with pytest.raises(StataError) as err:
        r.random_effects(**kwargs)
    assert (err.value.message, err.value.rc) == (message, 198)


def test_predict_iterate_negative_is_refused(ex1):
    err = fails(ex1, "predict double bad, reffects iterate(-1)")
    assert (err.message, err.rc) == ("iterate() must be a nonnegative integer", 198)
