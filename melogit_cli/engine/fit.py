"""Fit a model as Stata does: fixed-effects logit, start values, Newton-Raphson.

The engine is the one registered for the problem's arrays (``registry``); it offers the
``Engine`` protocol (``protocol``): start state, log likelihood and the Newton objective
that differentiates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from melogit_cli.engine.events import EventSink, GridNode, Message, PhaseStart, ignore
from melogit_cli.engine.integration import LAPLACE
from melogit_cli.engine.laplace.objective import LaplaceObjective
from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance
from melogit_cli.engine.optimize.constraints import ConstrainedObjective, LinearConstraints
from melogit_cli.engine.optimize.differences import (
    central_differences,
    secant_update,
    second_differences,
)
from melogit_cli.engine.optimize.logit import LogitObjective
from melogit_cli.engine.optimize.newton import Display, Result, Settings, far_below, maximize
from melogit_cli.engine.protocol import Engine, Objective
from melogit_cli.engine.registry import engine_for
from melogit_cli.engine.start_iv import iv_sigmas
from melogit_cli.errors import StataError

if TYPE_CHECKING:
    from melogit_cli.engine.model.crossed_data import CrossedData
    from melogit_cli.engine.model.nested_data import NestedData
    from melogit_cli.engine.quadrature.twolevel import ClusterData

GRID_VARIANCES = (0.1, 1.0, 10.0)
ADAPTIVE_METHODS = ("mvaghermite", "mcaghermite", "pcaghermite")
# adaptive rules with at most this many points per effect take the re-adapted gradient:
# on example 1 the fixed-node one leaves a scaled gradient of 0.011 (2 points), 6e-4 (3)
# and 1e-5 (4) at its own optimum, 4e-8 with 5 points and 1e-11 with 7 (nrtolerance 1e-5)
FEW_POINTS = 4
READAPTED_TOLERANCE = 1e-12  # adaptation settled for differences (Stata's is 1e-8)


@dataclass
class Problem:
    """What the engine needs: the arrays, the covariance structure, the method.

    Two-level models use ``ClusterData`` and a ``LevelCovariance``; nested models
    ``NestedData`` and a ``NestedCovariance`` (one ``LevelCovariance`` per level).
    """

    data: ClusterData | NestedData | CrossedData
    cov: LevelCovariance | NestedCovariance
    method: str  # mvaghermite, mcaghermite, ghermite, laplace (pc* map onto mc*)
    points: int
    has_constant: bool = True


@dataclass
class StartOptions:
    """``startvalues()``, ``startgrid``, ``from()`` (already mapped to the internal metric)."""

    method: str = "fixedonly"  # zero, constantonly, fixedonly, iv
    grid: tuple[float, ...] | None = None
    x0: np.ndarray | None = None


@dataclass(kw_only=True)
class Fit(Result):
    """The maximum-likelihood fit, in the internal metric (beta, theta): where the
    maximization stopped, in the full parameter space, and what the results need."""

    ll_c: float  # fixed-effects logit log likelihood (comparison model)
    model: Engine
    state: Any  # the engine's state at the estimates
    p: int
    notes: list[str] = field(default_factory=list)
    constraints: LinearConstraints | None = None  # x = T z + a, when constrained

    @property
    def beta(self) -> np.ndarray:
        return self.x[: self.p]

    @property
    def theta(self) -> np.ndarray:
        return self.x[self.p :]


def newton_objective(model: Engine, state: Any) -> Objective:
    """A quadrature engine's Newton objective: the analytic derivatives with the nodes
    held fixed, or for Laplace the exact gradient (the modes move) and its differences."""
    if model.method in LAPLACE:
        return LaplaceObjective(model, state)
    return QuadratureObjective(model, state)


class QuadratureObjective:
    """Adapts the nodes at every new point; derivatives with those nodes held fixed."""

    def __init__(self, model: Engine, state: Any) -> None:
        self.model = model
        self.state = state
        self.p = model.p
        self._at: np.ndarray | None = None
        self._ll = np.nan

    def value(self, x: np.ndarray, floor: float | None = None) -> float:
        beta, theta = x[: self.p], x[self.p :]
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll, state = self.model.loglik(beta, theta, self.state, floor=floor)
        except np.linalg.LinAlgError:
            return -np.inf
        # a trial point left unsettled far below the floor passes its nodes on to nobody
        if np.isfinite(ll) and not far_below(ll, floor):
            self.state = state
            self._at, self._ll = x.copy(), ll
        return ll

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self._at is None or not np.array_equal(x, self._at):
            self.value(x)
        ev = self.model.derivatives(x[: self.p], x[self.p :], self.state)
        return ev.ll, ev.gradient, ev.hessian

    def refined_hessian(self, x: np.ndarray) -> np.ndarray | None:
        """The model's final Hessian at ``x`` where it refines the iterations' one."""
        return self.model.refined_hessian(x)


class ReadaptedGradientObjective(QuadratureObjective):
    """Adaptive quadrature with few points: the gradient of the likelihood as the method
    defines it, the nodes adapted anew at every point.

    With few points the approximation depends on where the nodes sit, and the nodes
    move with the parameters; the fixed-node gradient leaves that out (on example 1
    with two points it points the wrong way for several parameters) and Newton-Raphson
    then backs up forever or settles where only the fixed-node gradient vanishes.  The
    gradient is taken by central differences of the re-adapted log likelihood (the
    adaptation settled tightly, so that differences see no adaptation noise); each
    iteration's fixed-node Hessian is corrected by a secant (BFGS) update along the last
    step where it is negative definite (the fixed-node curvature alone made the steps
    converge only linearly, by a factor 4 per iteration with two points; updates carried
    over all iterations kept stale curvature from far away), and the Hessian of the
    variance matrix is the central difference of that gradient at the maximum.
    """

    GRADIENT_STEP = 1e-4  # relative; truncation error ~1e-8 relative, noise ~1e-6
    HESSIAN_STEP = 1e-4

    def __init__(self, model: Engine, state: Any) -> None:
        super().__init__(model, state)
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _loglik_from(self, z: np.ndarray, state: Any) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.model.loglik(z[: self.p], z[self.p :], state)[0]

    def _gradient(self, x: np.ndarray, state: Any) -> np.ndarray:
        h = self.GRADIENT_STEP * (np.abs(x) + 1.0)
        return central_differences(lambda z: self._loglik_from(z, state), x, h)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll, _, H = super().derivatives(x)
        g = self._gradient(x, self.state)
        if self._previous is not None:
            x_prev, g_prev, H_prev = self._previous
            if np.array_equal(x, x_prev):
                return ll, g, H_prev
            updated = secant_update(H, x - x_prev, g - g_prev)
            H = H if updated is None else updated
        self._previous = (x.copy(), g, H)
        return ll, g, H

    def refined_hessian(self, x: np.ndarray) -> np.ndarray:
        """Central differences of the re-adapted gradient at ``x``."""
        if self._at is None or not np.array_equal(x, self._at):
            self.value(x)
        state = self.state
        h = self.HESSIAN_STEP * (np.abs(x) + 1.0)
        H = central_differences(lambda z: self._gradient(z, state), x, h).T
        return 0.5 * (H + H.T)


class NumericalObjective(QuadratureObjective):
    """``dnumerical``: gradient and Hessian by central differences of the same function
    whose derivatives the default computes, so that both find the same maximum.

    * Quadrature with more than ``FEW_POINTS`` adaptive points (and ``ghermite``): the log
      likelihood with the nodes of the current point held fixed, as the analytic
      derivatives hold them.  Differencing the re-adapted likelihood instead moves the
      nodes inside the differences and maximizes a different function (on guimmun's
      three-level model with 7 points var(mom) came out 2.5% away, at 40 times the time).
    * Laplace (modes found anew), crossed models, and adaptive quadrature with at most
      ``FEW_POINTS`` points: the likelihood with the nodes or modes placed anew at every
      point, which is what the default differentiates there.
    """

    def __init__(self, model: Engine, state: Any) -> None:
        super().__init__(model, state)
        readapt = model.layout == "crossed" or model.method in LAPLACE
        self.readapt = readapt or _few_adaptive_points(model)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll = self.value(x) if self._at is None or not np.array_equal(x, self._at) else self._ll
        state = self.state
        h = 1e-4 * (np.abs(x) + 1e-2)

        def f(z: np.ndarray) -> float:
            if self.readapt:
                return self.model.loglik(z[: self.p], z[self.p :], state)[0]
            # the quadrature engines: the function their derivatives differentiate
            held: Any = self.model
            return held.loglik_nodes_held(z[: self.p], z[self.p :], state, x[self.p :])

        g = central_differences(f, x, h)
        H = second_differences(f, x, h)
        return ll, g, H


def fit(
    problem: Problem,
    settings: Settings,
    start: StartOptions | None = None,
    sink: EventSink = ignore,
    numerical: bool = False,
    noestimate: bool = False,
    constraints: LinearConstraints | None = None,
) -> Fit:
    """Run Stata's three phases and return the fit (``noestimate``: stop at the start
    values, with the log likelihood and its derivatives there; under ``constraints``:
    Newton-Raphson in the reduced space, start values projected onto the constraints)."""
    start = start or StartOptions()
    d = problem.data
    p = d.X.shape[1]

    sink(PhaseStart("Fitting fixed-effects model"))
    # technique() and the display options apply to the full model only, as in Stata
    fe_settings = replace(settings, technique=Settings().technique, display=Display())
    fe = _fit_logit(d, fe_settings, sink)
    if not fe.converged:
        sink(Message("note: the fixed-effects model did not converge"))
    beta0 = fe.x
    if start.method in ("zero", "constantonly"):
        beta0 = np.zeros(p)
        if start.method == "constantonly" and problem.has_constant:
            beta0[-1] = _fit_logit(d, Settings(), constant_only=True).x[0]

    model = make_model(problem)
    sigma0 = iv_sigmas(d, problem.cov, fe.x) if start.method == "iv" else np.eye(problem.cov.dim)
    theta_one = problem.cov.theta_from_sigma(sigma0)
    x0 = np.concatenate([beta0, theta_one]) if start.x0 is None else np.asarray(start.x0, float)
    if constraints is not None:
        x0 = constraints.project(x0)
    state0 = model.start_state(x0[:p], x0[p:])
    objective = _objective(model, state0, numerical)

    sink(PhaseStart("Refining starting values"))
    x0, ll0 = _refine_start(objective, problem.cov, x0, p, start.grid, sink, constraints)
    if not np.isfinite(ll0):
        raise StataError("initial values not feasible", 1400)

    objective_in_use: Objective = objective
    z0 = x0
    if constraints is not None:
        objective_in_use = reduced = ConstrainedObjective(objective, constraints)
        z0 = constraints.to_reduced(x0)
    if noestimate:
        ll, g, H = objective_in_use.derivatives(z0)
        res = Result(z0, ll, g, H, 0, False, [])
    else:
        sink(PhaseStart("Fitting full model"))
        opg = _opg(model, objective, p, constraints)
        res = maximize(objective_in_use, z0, settings, sink, ll0=ll0, opg=opg)
    if constraints is not None:  # the result in the full parameter space
        assert reduced.full_gradient is not None and reduced.full_hessian is not None
        x = constraints.to_full(res.x)
        res = replace(res, x=x, gradient=reduced.full_gradient, hessian=reduced.full_hessian)
    notes = [] if res.converged or noestimate else ["convergence not achieved"]
    return Fit(
        **vars(res),
        ll_c=fe.ll,
        model=model,
        state=objective.state,
        p=p,
        notes=notes,
        constraints=constraints,
    )


def _opg(
    model: Engine, objective: Objective, p: int, constraints: LinearConstraints | None
) -> Callable[[np.ndarray], np.ndarray]:
    """``technique(bhhh)``'s matrix: the weighted cross-product of the clusters' scores at
    the maximizer's point (the objective has just been evaluated there); under
    ``constraints``, at the point of the reduced ``z`` and taken to the reduced space
    (through the metric of the standard deviations and correlations when there is one)."""

    def opg(z: np.ndarray) -> np.ndarray:
        x = z if constraints is None else constraints.to_full(z)
        scores = model.cluster_scores(x[:p], x[p:], objective.state)
        w = model.data.cluster_weight
        S = (scores * w[:, None]).T @ scores
        if constraints is None:
            return S
        D = constraints.jacobian(z)  # each cluster's scores in z are D' times those in x
        return D.T @ S @ D

    return opg


def make_model(problem: Problem) -> Engine:
    """The likelihood of the problem: the engine registered for its arrays."""
    engine = engine_for(problem.data.layout)
    return engine(problem.data, problem.cov, method=problem.method, points=problem.points)


def _objective(model: Engine, state: Any, numerical: bool) -> Objective:
    """The engine's Newton objective, or central differences of its likelihood."""
    few = _few_adaptive_points(model)
    if few:  # differences of the re-adapted likelihood must see no adaptation noise
        model.adapt_tolerance = min(model.adapt_tolerance, READAPTED_TOLERANCE)
    if numerical:
        return NumericalObjective(model, state)
    if few:
        return ReadaptedGradientObjective(model, state)
    return model.objective(state)


def _few_adaptive_points(model: Engine) -> bool:
    """Adaptive quadrature whose approximation moves with its nodes (see FEW_POINTS)."""
    return model.method in ADAPTIVE_METHODS and model.points <= FEW_POINTS


def _fit_logit(
    d: Any, settings: Settings, sink: EventSink = ignore, constant_only: bool = False
) -> Result:
    """The fixed-effects logit of the arrays (``constant_only``: of a constant alone),
    from IRLS's start; arrays on a cluster sum their own objective."""
    kept_elsewhere = getattr(d, "logit_objective", None)
    if kept_elsewhere is not None:
        obj = kept_elsewhere(constant_only=constant_only)
    else:
        X = np.ones((len(d.y), 1)) if constant_only else d.X
        obj = LogitObjective(d.y, d.trials, X, d.offset, d.row_weight())
    return maximize(obj, obj.irls_start(), settings, sink)


def _refine_start(
    objective: Objective,
    cov: LevelCovariance | NestedCovariance,
    x0: np.ndarray,
    p: int,
    grid: tuple[float, ...] | None,
    sink: EventSink,
    constraints: LinearConstraints | None = None,
) -> tuple[np.ndarray, float]:
    """Grid node 0 is the start itself; ``startgrid`` adds the variance grid (each node
    projected onto the constraints when there are any)."""
    candidates = [x0]
    if grid is not None:
        values = grid or GRID_VARIANCES
        n_var = sum(1 for a, b in cov.reported() if a == b)
        for combo in product(values, repeat=n_var):
            x = x0.copy()
            variances = iter(combo)  # on the reported variances, covariances zero
            reported = [next(variances) if a == b else 0.0 for a, b in cov.reported()]
            x[p:] = cov.theta_from_sigma(cov.sigma_from_reported(reported))
            candidates.append(x if constraints is None else constraints.project(x))
    best_x, best_ll, best_k = x0, -np.inf, 0
    for k, x in enumerate(candidates):
        ll = objective.value(x)
        sink(GridNode(k, ll))
        if ll > best_ll:
            best_x, best_ll, best_k = x, ll, k
    if best_k != len(candidates) - 1:  # the objective holds the last point's nodes
        objective.value(best_x)
    return best_x, best_ll
