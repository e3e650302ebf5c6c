"""Newton-Raphson maximization with Stata ``ml``'s log and convergence rules.

Convergence is declared when the scaled gradient ``g' (-H)^-1 g`` is below
``nrtolerance`` and either the largest relative change of the parameters is below
``tolerance`` or the relative change of the log likelihood is below ``ltolerance``
(relative changes as Stata's ``reldif``: ``|a - b| / (|b| + 1)``), never on an
iteration whose Hessian is not negative definite.

A flat region ends the maximization as Stata's ``optimize()`` does with a limit on
not-concave iterations: after ``STALLED_ITERATIONS`` consecutive iterations that are
not concave or backed up and change the log likelihood by no more than
``ltolerance``, the last point is reported with ``convergence not achieved``
(a variance heading to zero or to infinity, a singular random-effects covariance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from melogit_cli.engine.events import EventSink, Iteration, Message, ignore
from melogit_cli.errors import StataError

MAX_STEP_HALVINGS = 40
FAR_BELOW = 0.01  # relative shortfall of a trial point that is not worth settling
# Consecutive iterations that are not concave or backed up and leave the log likelihood
# within ltolerance after which the maximizer stops on a flat region (Stata optimize()'s
# count of not-concave iterations with an unchanged value, ``k_notconcave``).
STALLED_ITERATIONS = 10


def far_below(value: float, floor: float | None) -> bool:
    """True when ``value`` falls short of the line search's ``floor`` by more than 1%."""
    return floor is not None and value < floor - FAR_BELOW * (abs(floor) + 1.0)


class Objective(Protocol):
    """A log likelihood that can be evaluated, then differentiated at the same point.

    An objective whose iteration Hessian is approximate (differences of a gradient, or a
    secant update) returns a better one from ``refined_hessian(x)`` (the others return
    None); the Hessian returned with the result, from which the variance matrix comes,
    is then taken from it at the final point, and convergence is confirmed with it.

    ``value`` is given a ``floor`` in the line search: the value a trial point must reach.
    An objective that refines its value iteratively (adaptive quadrature) may stop
    refining a point whose value is still far below it (``far_below``).
    """

    def value(self, x: np.ndarray, floor: float | None = None) -> float: ...

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]: ...

    def refined_hessian(self, x: np.ndarray) -> np.ndarray | None: ...


@dataclass
class Settings:
    """The maximize options that steer Newton-Raphson."""

    iterate: int = 300
    tolerance: float = 1e-6
    ltolerance: float = 1e-7
    nrtolerance: float = 1e-5
    nonrtolerance: bool = False
    difficult: bool = False


@dataclass
class Result:
    """Where the maximization stopped."""

    x: np.ndarray
    ll: float
    gradient: np.ndarray
    hessian: np.ndarray
    iterations: int
    converged: bool
    ilog: list[float] = field(default_factory=list)


def reldif(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """Stata's (m)reldif: the largest ``|a - b| / (|b| + 1)``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1.0)))


def ascent_direction(g: np.ndarray, H: np.ndarray, difficult: bool) -> tuple[np.ndarray, bool]:
    """Newton direction, or a modified one where ``H`` is not negative definite.

    Returns ``(direction, not_concave)``.  In a nonconcave region the eigenvalues of
    ``-H`` that are not clearly positive are replaced by their absolute values (by a
    positive floor under ``difficult``), which keeps the step an ascent direction.
    """
    negH = -0.5 * (H + H.T)
    lam, Q = np.linalg.eigh(negH)  # callers pass finite g and H (see ``finite``)
    scale = max(float(np.max(np.abs(lam))), 1e-300)
    floor = 1e-8 * scale
    not_concave = bool(lam.min() <= floor)
    if not_concave and difficult:
        lam = np.maximum(lam, 0.0) + max(-float(lam.min()), floor) + 1e-3 * scale
    elif not_concave:
        lam = np.maximum(np.abs(lam), floor)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is judged below
        direction = Q @ ((Q.T @ g) / lam)
    return direction, not_concave


def finite(*arrays: np.ndarray | float) -> bool:
    """True when every value is finite (LAPACK must not be handed infinities or NaNs)."""
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


def infeasible(iteration: int) -> StataError:
    """Stata ml's error where the likelihood, its derivatives or the Newton step cannot be
    computed (they overflow): at the start values, or at a later iteration."""
    if iteration == 0:
        return StataError("initial values not feasible", 1400)
    return StataError(
        "could not calculate numerical derivatives -- discontinuous region with missing "
        "values encountered",
        430,
    )


def maximize(
    objective: Objective,
    x0: np.ndarray,
    settings: Settings,
    sink: EventSink = ignore,
    ll0: float | None = None,
) -> Result:
    """Maximize ``objective`` from ``x0``; emits one Iteration event per iteration."""
    x = np.asarray(x0, dtype=float).copy()
    ll = objective.value(x) if ll0 is None else ll0
    if not np.isfinite(ll):
        raise infeasible(0)
    x_prev, ll_prev = None, None
    ilog: list[float] = []
    it = 0
    stalled = 0  # consecutive iterations without progress on a flat region
    while True:
        ll, g, H = objective.derivatives(x)
        if not finite(ll, g, H):
            raise infeasible(it)
        direction, not_concave = ascent_direction(g, H, settings.difficult)
        if not finite(direction):
            raise infeasible(it)
        converged = False
        if x_prev is not None and not not_concave:
            small_change = (
                reldif(x, x_prev) <= settings.tolerance
                or reldif(ll, ll_prev) <= settings.ltolerance
            )
            scaled_gradient = float(g @ direction)
            converged = small_change and (
                settings.nonrtolerance or scaled_gradient < settings.nrtolerance
            )
        flat = stalled >= STALLED_ITERATIONS
        if converged or it >= settings.iterate or flat:
            H_final = _final_hessian(objective, x, H)
            if converged and H_final is not H and not settings.nonrtolerance:
                # an approximate iteration Hessian must not declare convergence alone: the
                # scaled gradient must be small by the refined one too (its curvature is
                # not re-judged, so a flat direction at a boundary converges as before)
                refined, refined_not_concave = ascent_direction(g, H_final, settings.difficult)
                if float(g @ refined) >= settings.nrtolerance:
                    converged = False
                    H, direction, not_concave = H_final, refined, refined_not_concave
        if converged or it >= settings.iterate or flat:
            sink(Iteration(it, ll, not_concave=not_concave))
            ilog.append(ll)
            if not converged:
                sink(Message("convergence not achieved"))
            return Result(x, ll, g, H_final, it, converged, ilog)
        x_new, ll_new, backed_up = _line_search(objective, x, ll, direction)
        sink(Iteration(it, ll, not_concave=not_concave, backed_up=backed_up))
        ilog.append(ll)
        if x_new is None:  # no step improves the likelihood
            # At a point that meets the gradient criterion the predicted gain (g'd / 2)
            # is below what the likelihood can resolve (adaptive quadrature settles to a
            # relative 1e-8): that is the optimum, not a failure.
            stationary = not not_concave and float(g @ direction) < settings.nrtolerance
            if not stationary:
                sink(Message("convergence not achieved"))
            ll, g, H = objective.derivatives(x)
            return Result(x, ll, g, _final_hessian(objective, x, H), it, stationary, ilog)
        no_progress = (not_concave or backed_up) and reldif(ll_new, ll) <= settings.ltolerance
        stalled = stalled + 1 if no_progress else 0
        x_prev, ll_prev = x, ll
        x, ll = x_new, ll_new
        it += 1


def _final_hessian(objective: Objective, x: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The objective's refined Hessian at ``x`` where it offers one, else ``H``."""
    refined = objective.refined_hessian(x)
    return H if refined is None else refined


def _line_search(
    objective: Objective, x: np.ndarray, ll: float, direction: np.ndarray
) -> tuple[np.ndarray | None, float, bool]:
    """Full step, halved until the log likelihood does not decrease."""
    t = 1.0
    for halvings in range(MAX_STEP_HALVINGS):
        trial = x + t * direction
        value = objective.value(trial, floor=ll)
        if np.isfinite(value) and value >= ll - 1e-12 * (abs(ll) + 1):
            return trial, value, halvings > 0
        t *= 0.5
    objective.value(x)  # leave the objective's state at x
    return None, ll, True
