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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from melogit_cli.engine.events import Detail, EventSink, Iteration, Message, ignore
from melogit_cli.errors import StataError

if TYPE_CHECKING:
    from melogit_cli.engine.optimize.shown_metric import ShownMetric

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


QUASI_NEWTON = ("dfp", "bfgs")


@dataclass
class Display:
    """What the log shows besides the log likelihood (maximize's display options).

    ``names`` label the parameter vector; ``metric`` (when given) maps the maximizer's
    vector, gradient and Hessian to the metric those names are in."""

    trace: bool = False
    gradient: bool = False
    hessian: bool = False
    showstep: bool = False
    showtolerance: bool = False
    names: tuple[str, ...] = ()
    metric: ShownMetric | None = None

    def labels(self, x: np.ndarray) -> tuple[str, ...]:
        """The names of the parameters of ``x`` (none when they do not label it)."""
        return self.names if len(self.names) == len(x) else ()

    def shown(self, x: np.ndarray) -> np.ndarray:
        """The parameter vector as the log shows it."""
        return x if self.metric is None or len(self.names) != len(x) else self.metric.params(x)

    @property
    def detailed(self) -> bool:
        """Stata's trace level ``step`` or above: each iteration gets a block of its own
        and the log likelihood is shown flush right."""
        return self.trace or self.gradient or self.hessian or self.showstep


@dataclass
class Settings:
    """The maximize options that steer the maximizer.

    ``technique``: (algorithm, iterations) pairs, cycled through as Stata's
    ``technique(bhhh 5 nr 10)``; a single pair runs that algorithm throughout (its
    count does not matter)."""

    iterate: int = 300
    tolerance: float = 1e-6
    ltolerance: float = 1e-7
    nrtolerance: float = 1e-5
    nonrtolerance: bool = False
    difficult: bool = False
    technique: tuple[tuple[str, int], ...] = (("nr", 5),)
    display: Display = field(default_factory=Display)


@dataclass
class Schedule:
    """Which algorithm an iteration uses: the list is cycled, each for its count."""

    technique: tuple[tuple[str, int], ...]
    index: int = 0
    used: int = 0

    @property
    def name(self) -> str:
        return self.technique[self.index][0]

    def advance(self) -> bool:
        """Count one iteration; True when the next one switches to another entry."""
        self.used += 1
        if len(self.technique) > 1 and self.used >= self.technique[self.index][1]:
            self.index = (self.index + 1) % len(self.technique)
            self.used = 0
            return True
        return False


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


Scores = Callable[[np.ndarray], np.ndarray]  # x -> weighted outer product of the scores


def maximize(
    objective: Objective,
    x0: np.ndarray,
    settings: Settings,
    sink: EventSink = ignore,
    ll0: float | None = None,
    opg: Scores | None = None,
) -> Result:
    """Maximize ``objective`` from ``x0``; emits one Iteration event per iteration.

    Newton-Raphson steps with the objective's Hessian; under ``technique()`` BHHH steps
    with the outer product of the clusters' scores (``opg(x)``), or DFP/BFGS steps with
    a secant-updated inverse Hessian (started from the Newton one, so that a switch
    does not restart from the identity).  Convergence is judged as for Newton-Raphson
    whatever the technique: Stata's quasi-Newton techniques confirm it with the
    Hessian too.
    """
    x = np.asarray(x0, dtype=float).copy()
    ll = objective.value(x) if ll0 is None else ll0
    if not np.isfinite(ll):
        raise infeasible(0)
    x_prev, ll_prev, g_prev = None, None, None
    ilog: list[float] = []
    it = 0
    stalled = 0  # consecutive iterations without progress on a flat region
    show = settings.display
    schedule = Schedule(settings.technique)
    V: np.ndarray | None = None  # quasi-Newton inverse of -H
    if len(settings.technique) > 1:
        sink(Message(f"(setting technique to {schedule.name})"))
    while True:
        ll, g, H = objective.derivatives(x)
        if not finite(ll, g, H):
            raise infeasible(it)
        direction, not_concave = ascent_direction(g, H, settings.difficult)
        if not finite(direction):
            raise infeasible(it)
        converged = False
        tolerance: tuple[str, float] | None = None
        if x_prev is not None:
            ptol, vtol = reldif(x, x_prev), reldif(ll, ll_prev)
            small_change = ptol <= settings.tolerance or vtol <= settings.ltolerance
            tolerance = ("ptol", ptol) if ptol < max(settings.tolerance, vtol) else ("vtol", vtol)
            if not not_concave:
                scaled_gradient = float(g @ direction)
                if small_change and not settings.nonrtolerance:
                    tolerance = ("g inv(H) g'", scaled_gradient)
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
        done = converged or it >= settings.iterate or flat
        # at a stationary point a step gains less than the likelihood resolves (adaptive
        # quadrature settles to a relative 1e-8): halving a bad full step only meets noise
        stationary = not not_concave and float(g @ direction) < settings.nrtolerance
        if not done and schedule.name == "bhhh" and opg is not None:
            direction, not_concave = ascent_direction(g, -opg(x), settings.difficult)
        elif not done and schedule.name in QUASI_NEWTON:
            # a secant-updated inverse of -H, started from the Newton one
            if V is None or x_prev is None or g_prev is None:
                V = _inverse_or_identity(H)
            else:
                V = _quasi_newton_update(schedule.name, V, x - x_prev, g - g_prev)
            direction, not_concave = V @ g, False
        if not done and not finite(direction):
            raise infeasible(it)
        if show.detailed:
            _show_iteration(sink, show, it, x, ll, g, H, not_concave, tolerance)
        x_new, ll_new, backed_up = None, ll, False
        if not done:
            if show.showstep:
                _show_step(sink, show, x, direction)
            halvings = 1 if stationary else MAX_STEP_HALVINGS
            step_sink = sink if show.showstep else ignore
            x_new, ll_new, backed_up = _line_search(
                objective, x, ll, direction, step_sink, show, halvings
            )
        if not show.detailed:
            sink(Iteration(it, ll, not_concave=not_concave, backed_up=backed_up))
            if show.showtolerance and tolerance is not None:
                sink(Detail("tolerance", value=tolerance[1], text=tolerance[0]))
        ilog.append(ll)
        if x_new is None:  # done, or no step improves the likelihood
            if not done:  # at a stationary point that is the optimum, not a failure
                converged = stationary
                ll, g, H = objective.derivatives(x)
                H_final = _final_hessian(objective, x, H)
            if not converged:
                sink(Message("convergence not achieved"))
            return Result(x, ll, g, H_final, it, converged, ilog)
        no_progress = (not_concave or backed_up) and reldif(ll_new, ll) <= settings.ltolerance
        stalled = stalled + 1 if no_progress else 0
        x_prev, ll_prev, g_prev = x, ll, g
        x, ll = x_new, ll_new
        it += 1
        if schedule.advance():
            sink(Message(f"(switching technique to {schedule.name})"))
            V = None


def _inverse_or_identity(H: np.ndarray) -> np.ndarray:
    """``(-H)^-1`` where ``-H`` is positive definite, else the identity (Stata's start)."""
    try:
        np.linalg.cholesky(-0.5 * (H + H.T))
        return np.linalg.inv(-0.5 * (H + H.T))
    except np.linalg.LinAlgError:
        return np.eye(len(H))


def _quasi_newton_update(name: str, V: np.ndarray, db: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """Stata optimize()'s DFP/BFGS update of the inverse of ``-H`` (kept when the step
    contracted: ``|db'dg dg'Vdg|`` no larger than ``1e-8 |dg|^2 |db|^2``).

    The likelihood is maximized, so the update is the minimizer's with ``-g``."""
    dg = -dg
    dbdg = float(db @ dg)
    Vdg = V @ dg
    dgVdg = float(dg @ Vdg)
    if abs(dbdg * dgVdg) <= 1e-8 * float(dg @ dg) * float(db @ db):
        return V
    if name == "dfp":
        new = V + np.outer(db, db) / dbdg - np.outer(Vdg, Vdg) / dgVdg
    else:
        d = db / dbdg - Vdg / dgVdg
        new = V + np.outer(db, db) / dbdg + dgVdg * np.outer(d, d) - np.outer(Vdg, Vdg) / dgVdg
    new = 0.5 * (new + new.T)
    return new if finite(new) else V


def _show_iteration(
    sink: EventSink,
    show: Display,
    it: int,
    x: np.ndarray,
    ll: float,
    g: np.ndarray,
    H: np.ndarray,
    not_concave: bool,
    tolerance: tuple[str, float] | None,
) -> None:
    """One iteration's block of the detailed log, as Stata's optimize() prints it."""
    names = show.labels(x)
    metric = show.metric if names else None
    sink(Detail("head", number=it))
    if show.trace:
        sink(Detail("params", vector=tuple(show.shown(x)), names=names))
    sink(Detail("value", value=ll, text="(not concave)" if not_concave else ""))
    if show.showtolerance and tolerance is not None:
        sink(Detail("tolerance", value=tolerance[1], text=tolerance[0], full=True))
    if metric is not None and (show.gradient or show.showstep or show.hessian):
        g, H = metric.gradient(x, g), metric.hessian(x, g, H)
    if show.gradient or show.showstep:
        sink(Detail("gradient", vector=tuple(g), names=names, full=show.gradient))
    if show.hessian:
        sink(
            Detail(
                "hessian",
                matrix=tuple(map(tuple, H)),
                names=names,
                blank_before=show.gradient or show.showstep,
            )
        )


def _show_step(sink: EventSink, show: Display, x: np.ndarray, direction: np.ndarray) -> None:
    new = show.shown(x + direction)
    step = new - show.shown(x)
    sink(
        Detail(
            "step",
            vector=tuple(step),
            matrix=(tuple(new),),
            names=show.labels(x),
            full=show.trace,
            length=float(np.linalg.norm(step)),
            blank_before=show.trace or show.gradient or show.hessian,
        )
    )


def _final_hessian(objective: Objective, x: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The objective's refined Hessian at ``x`` where it offers one, else ``H``."""
    refined = objective.refined_hessian(x)
    return H if refined is None else refined


def _line_search(
    objective: Objective,
    x: np.ndarray,
    ll: float,
    direction: np.ndarray,
    sink: EventSink,
    show: Display,
    max_halvings: int,
) -> tuple[np.ndarray | None, float, bool]:
    """Full step, halved until the log likelihood does not decrease (``sink`` gets the
    ``showstep`` lines), at most ``max_halvings`` trials."""
    t = 1.0
    showing = sink is not ignore  # the shown vectors cost the covariance's derivatives
    start = show.shown(x) if showing else x
    for halvings in range(max_halvings):
        trial = x + t * direction
        value = objective.value(trial, floor=ll)
        good = bool(np.isfinite(value) and value >= ll - 1e-12 * (abs(ll) + 1))
        if showing and halvings == 0:
            note = "(initial step good)" if good else "(initial step bad)"
            sink(Detail("value", value=value, text=note, full=True))
        elif showing:
            at = show.shown(trial)
            sink(
                Detail(
                    "halving",
                    number=halvings,
                    value=value,
                    vector=tuple(at),
                    names=show.labels(x),
                    full=show.trace,
                    length=float(np.linalg.norm(at - start)),
                )
            )
        if good:
            return trial, value, halvings > 0
        t *= 0.5
    objective.value(x)  # leave the objective's state at x
    return None, ll, True
