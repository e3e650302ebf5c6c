"""Fits that cannot converge end in bounded time, as Stata's maximizer does.

A flat region (a variance heading to a boundary, a singular random-effects covariance)
ends after a run of iterations without progress with ``convergence not achieved``;
collinear random-effects columns are omitted up front with Stata's note.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from conftest import DATA

from melogit_cli.api import as_dataset, fit, parse, run
from melogit_cli.engine.events import Iteration, Message
from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance
from melogit_cli.engine.optimize.newton import STALLED_ITERATIONS, Settings, maximize
from melogit_cli.engine.quadrature.twolevel import ClusterData, TwoLevelQuadrature
from melogit_cli.engine.shared import adaptation
from melogit_cli.engine.shared.adaptation import NO_PROGRESS as ADAPT_NO_PROGRESS
from melogit_cli.engine.shared.adaptation import PASSES as ADAPT_ITERATIONS


def _bangladesh(max_district: int) -> pd.DataFrame:
    df = pd.read_csv(DATA / "bangladesh.csv")
    return df[df.district <= max_district].reset_index(drop=True)


class FlatRidge:
    """``-(x0 + x1)^2 / 2``: a ridge along ``x0 = -x1`` whose Hessian is singular (not
    concave), with a gradient that pushes the iterate along it without changing the
    value, as a variance heading to zero does."""

    def value(self, x: np.ndarray, floor: float | None = None) -> float:
        del floor
        return -0.5 * float((x[0] + x[1]) ** 2)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        s = x[0] + x[1]
        # a small push along the ridge that the value does not see
        g = np.array([-s + 1e-9, -s - 1e-9])
        return self.value(x), g, -np.ones((2, 2))

    def refined_hessian(self, x: np.ndarray) -> None:
        del x


def test_a_flat_not_concave_run_ends_with_convergence_not_achieved():
    events: list = []
    res = maximize(FlatRidge(), np.array([0.5, -0.5]), Settings(), events.append)
    iterations = [e for e in events if isinstance(e, Iteration)]
    assert not res.converged
    assert res.iterations == STALLED_ITERATIONS
    assert all(e.not_concave for e in iterations)
    assert [e.text for e in events if isinstance(e, Message)] == ["convergence not achieved"]


def test_collinear_random_slopes_are_omitted_with_statas_note():
    df = _bangladesh(20)
    df["age2"] = 2 * df.age
    r = fit("melogit c_use urban age || district: age age2, cov(un) iterate(3)", df)
    assert "note: age2 omitted because of collinearity." in r.notes
    assert [k for k in r.params.index if "age2" in k] == []
    assert "/:var(age[district])" in r.params.index


def test_a_random_slope_collinear_with_the_constant_is_omitted():
    r = fit(
        "melogit c_use i.urban##c.age || district: ib(last).urban urban, cov(un) iterate(3)",
        _bangladesh(20),
    )
    assert "note: urban omitted because of collinearity." in r.notes
    assert "/:var(0.urban[district])" in r.params.index
    assert not [k for k in r.params.index if k.startswith("/:var(urban")]


def test_a_variance_heading_to_zero_stops_on_the_flat_region():
    # one district: the intercept variance goes to 0 along a flat, not concave ridge
    df = _bangladesh(1)
    start = time.perf_counter()
    r = fit("melogit c_use urban age || district:, vce(robust)", df)
    assert time.perf_counter() - start < 5.0
    assert not r.converged
    assert r.e.scalars["converged"] == 0.0
    assert r.e.scalars["ic"] < 50


def test_adaptation_that_does_not_settle_gives_up_early():
    # the outcome as a random slope with a huge variance: the posterior of each district
    # is far sharper than 7 points resolve and the mean-variance passes wander (before,
    # all 1,001 passes of adaptopts(iterate()) were run at every such point)
    df = _bangladesh(10).sort_values("district", kind="stable")
    n = len(df)
    X = np.column_stack([df.urban, df.age, np.ones(n)])
    Z = np.column_stack([df.c_use, np.ones(n)])
    _, first = np.unique(df.district.to_numpy(), return_index=True)
    starts = np.append(np.sort(first), n)
    data = ClusterData(
        df.c_use.to_numpy(float),
        np.ones(n),
        X,
        np.zeros(n),
        np.ones(n),
        Z,
        starts,
        np.ones(len(starts) - 1),
    )
    model = TwoLevelQuadrature(
        data, LevelCovariance((CovBlock("independent", 2),)), "mvaghermite", 7
    )
    beta, theta = np.array([1.0, 0.0, -9.0]), np.array([5.1, 2.87])
    passes = []

    def one_pass(st):
        passes.append(1)
        return model._posterior_moments(beta, theta, st)

    state = model.start_state(beta, np.zeros(2))
    _, _, settled = adaptation.iterate(
        one_pass,
        state,
        ADAPT_ITERATIONS,
        tolerance=model.adapt_tolerance,
        sound=lambda st: model._sound(theta, st),
    )
    assert not settled
    assert len(passes) < 3 * ADAPT_NO_PROGRESS


# --- few integration points: the maximum of the likelihood as the method defines it ---

EX1 = "melogit c_use i.urban age i.children || district:, intmethod({m}) intpoints({n})"

# lme4 1.1.31 (R 4.2.2): glmer(c_use ~ urban + age + children + (1 | district), family =
# binomial, nAGQ = k) on fixtures/data/bangladesh.csv with factor(urban), factor(children),
# refitted from the default fit with glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
# optCtrl = list(rhoend = 1e-12)) (an nlminb polish on devFunOnly did not lower the
# deviance); loglik = logLik(fit), se from vcov(fit, use.hessian = TRUE).  glmer's nAGQ is
# adaptive Gauss-Hermite quadrature placed by mode and curvature, as mcaghermite.
GLMER = {
    2: {
        "ll": -1206.7691907454,
        "var": 0.2131928166,
        "b": [0.7328202439, -0.0265961423, 1.1092333815, 1.3764380531, 1.3453416470, -1.6897809733],
        "se": [0.11943822, 0.00788624, 0.15799604, 0.17478481, 0.17958522, 0.14756617],
    },
    3: {
        "ll": -1206.6831266980,
        "var": 0.2151438472,
        "b": [0.7324472852, -0.0265991677, 1.1093281467, 1.3765230829, 1.3455746294, -1.6900346587],
        "se": [0.11947306, 0.00788687, 0.15800986, 0.17479620, 0.17960040, 0.14769766],
    },
}
EX1_COEFS = ["1.urban", "age", "1.children", "2.children", "3.children", "_cons"]


def _ex1(method: str, points: int):
    return fit(EX1.format(m=method, n=points), DATA / "bangladesh.dta")


def _same_maximum(r, ref: dict) -> None:
    """The log likelihood to 1e-6; estimates within 1e-3 standard errors of glmer's (the
    log likelihood changes by 5e-7 over such a distance: both optimizers stop within
    it), standard errors to 1e-4 (glmer's come from its finite-difference Hessian)."""
    assert abs(r.ll - ref["ll"]) < 1e-6
    for name, b, se in zip(EX1_COEFS, ref["b"], ref["se"], strict=True):
        assert abs(r.params[f"c_use:{name}"] - b) < 1e-3 * se, name
        assert abs(r.bse[f"c_use:{name}"] / se - 1) < 1e-4, name
    assert abs(r.params["/:var(_cons[district])"] - ref["var"]) < 1e-3 * 0.073


def test_mode_curvature_with_three_points_is_glmers_nagq3():
    r = _ex1("mcaghermite", 3)
    assert r.converged and r.e.scalars["ic"] <= 10
    _same_maximum(r, GLMER[3])
    assert f"{r.ll:.8g}" == f"{GLMER[3]['ll']:.8g}" == "-1206.6831"  # as %10.0g prints


def test_mode_curvature_with_two_points_is_glmers_nagq2():
    r = _ex1("mcaghermite", 2)
    assert r.converged and r.e.scalars["ic"] <= 10
    _same_maximum(r, GLMER[2])
    assert f"{r.ll:.8g}" == f"{GLMER[2]['ll']:.8g}" == "-1206.7692"


def test_mean_variance_with_two_points_is_placed_by_mode_and_curvature():
    mv, mc = _ex1("mvaghermite", 2), _ex1("mcaghermite", 2)
    assert mv.e.macros["intmethod"] == "mvaghermite"
    assert mv.ll == mc.ll and mv.params.equals(mc.params)


def _settled_loglik(model, x: np.ndarray, p: int) -> float:
    """Mean-variance adaptation from the prior to a change of 1e-13, written out here."""
    beta, theta = x[:p], x[p:]
    state = model.mode_curvature_state(beta, theta, model.prior_state(theta))
    old = None
    for _ in range(2000):
        ll, state_next = model._posterior_moments(beta, theta, state)
        if old is not None and abs(ll - old) < 1e-13 * abs(ll):
            return ll
        old, state = ll, state_next
    raise AssertionError("adaptation did not settle")


def test_mean_variance_with_three_points_stops_where_the_readapted_gradient_vanishes():
    est = run(parse(EX1.format(m="mvaghermite", n=3)), as_dataset(DATA / "bangladesh.dta"))
    f = est.fit
    assert f.converged and f.iterations <= 10
    h = 1e-4 * (np.abs(f.x) + 1)
    g = np.array(
        [
            (
                _settled_loglik(f.model, f.x + h[i] * np.eye(len(f.x))[i], f.p)
                - _settled_loglik(f.model, f.x - h[i] * np.eye(len(f.x))[i], f.p)
            )
            / (2 * h[i])
            for i in range(len(f.x))
        ]
    )
    # Stata's criterion g'(-H)^-1 g < nrtolerance(1e-5) by the re-adapted gradient; the
    # fixed-node optimum left 4e-4 (a gradient of 0.12)
    assert float(g @ np.linalg.solve(-f.hessian, g)) < 1e-5
    se = np.sqrt(np.diag(np.linalg.inv(-f.hessian)))
    assert np.abs(g * se).max() < 1e-3


def test_three_random_effects_with_three_points_converge():
    r = fit(
        "melogit c_use urban age || district: urban age, intmethod(mcaghermite) intpoints(3)",
        _bangladesh(30),
    )
    assert r.converged and r.e.scalars["ic"] <= 15
    # above the point where the fixed-node gradient vanishes (-639.438674)
    assert r.ll > -639.4386


def test_nested_levels_with_few_points_converge():
    # school > klass: with the fixed-node gradient mcaghermite intpoints(2) backed up 10
    # times and stopped at -2310.1367, mvaghermite intpoints(3) at -2308.7736 unconverged
    from test_nested import four_level

    df = four_level(40)
    mc2 = fit("melogit y x || school: || klass:, intmethod(mcaghermite) intpoints(2)", df)
    mv3 = fit("melogit y x || school: || klass:, intmethod(mvaghermite) intpoints(3)", df)
    assert mc2.converged and mc2.e.scalars["ic"] <= 12
    assert mv3.converged and mv3.e.scalars["ic"] <= 12
    assert mc2.ll > -2309.577 and mv3.ll > -2308.772
