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

from melogit_cli.api import fit
from melogit_cli.engine.covariance import CovBlock, LevelCovariance
from melogit_cli.engine.events import Iteration, Message
from melogit_cli.engine.newton import STALLED_ITERATIONS, Settings, maximize
from melogit_cli.engine.twolevel import (
    ADAPT_ITERATIONS,
    ADAPT_NO_PROGRESS,
    ClusterData,
    TwoLevelQuadrature,
)


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
    assert [k for k in r.params if "age2" in k] == []
    assert "/:var(age[district])" in r.params


def test_a_random_slope_collinear_with_the_constant_is_omitted():
    r = fit(
        "melogit c_use i.urban##c.age || district: ib(last).urban urban, cov(un) iterate(3)",
        _bangladesh(20),
    )
    assert "note: urban omitted because of collinearity." in r.notes
    assert "/:var(0.urban[district])" in r.params
    assert not [k for k in r.params if k.startswith("/:var(urban")]


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
    moments = model._posterior_moments
    model._posterior_moments = lambda *a: passes.append(1) or moments(*a)
    state = model.start_state(beta, np.zeros(2))
    _, _, settled = model._iterate_moments(beta, theta, state, ADAPT_ITERATIONS)
    assert not settled
    assert len(passes) < 3 * ADAPT_NO_PROGRESS


# --- few integration points ---

EX1 = "melogit c_use i.urban age i.children || district:, intmethod({m}) intpoints({n})"


def _ex1(method: str, points: int):
    return fit(EX1.format(m=method, n=points), DATA / "bangladesh.dta")


def test_mean_variance_with_two_points_is_placed_by_mode_and_curvature():
    mv, mc = _ex1("mvaghermite", 2), _ex1("mcaghermite", 2)
    assert mv.e.macros["intmethod"] == "mvaghermite"
    assert mv.ll == mc.ll and mv.params == mc.params
