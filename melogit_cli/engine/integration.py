"""How the random effects are integrated out: the method, the points per effect and the
node placement it implies, decided once per estimation and passed to the engine.

The Laplacian approximation is mode-curvature adaptive quadrature with one point per
effect; that rule, and the methods whose few points amount to another method, live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from melogit_cli.engine.shared import adaptation
from melogit_cli.special import log_binomial_constant

if TYPE_CHECKING:
    from melogit_cli.engine.protocol import Objective

LAPLACE = frozenset({"laplace", "pclaplace"})
QUADRATURE = frozenset({"ghermite", "mvaghermite", "mcaghermite", "pcaghermite"})
MODE_CURVATURE = frozenset({"mcaghermite", "pcaghermite"}) | LAPLACE


@dataclass(frozen=True)
class Integration:
    """An integration method as the engines compute it, with its points per effect."""

    method: str
    points: int

    @classmethod
    def of(cls, method: str, points: int) -> Integration:
        """The approximation computed for ``method`` at ``points`` per effect.

        Adaptive quadrature with one point is the Laplacian approximation (the manual:
        laplace is mode-curvature adaptive quadrature with one point); a one-point
        mean-variance rule cannot estimate the posterior variance it adapts to, so it
        too is the Laplacian approximation, as in Stata, where laplace is
        ``intpoints(1)``.  A two-point mean-variance rule cannot fix both the mean and
        the variance either and is adapted by mode and curvature.
        """
        if method in LAPLACE:
            return cls(method, 1)
        if points == 1 and method in ("mvaghermite", "mcaghermite", "pcaghermite"):
            return cls("pclaplace" if method == "pcaghermite" else "laplace", 1)
        if points == 2 and method == "mvaghermite":
            # the nodes of a two-point rule sit at +-1 prior SD, so the rule's posterior
            # variance is fixed whenever its mean is: any pair of nodes with equal
            # posterior weight is a fixed point of mean-variance adaptation, and its
            # likelihood depends on the path taken
            return cls("mcaghermite", 2)
        return cls(method, points)

    @property
    def laplace(self) -> bool:
        return self.method in LAPLACE

    @property
    def adaptation(self) -> str:
        """Where the nodes sit: "none", "mean-variance" or "mode-curvature"."""
        if self.method == "ghermite":
            return "none"
        return "mode-curvature" if self.method in MODE_CURVATURE else "mean-variance"


class PlacedNodes:
    """What the quadrature engines share: their set-up, the log likelihood with the nodes
    their ``integration`` places, and their Newton objective.

    The engine supplies the nodes of the prior (``prior_state``), of the modes and
    curvatures (``mode_curvature_state``), mean-variance adaptation
    (``adapt_mean_variance``) and the log likelihood at given nodes (``fixed_loglik``).
    """

    def __init__(self, data: Any, cov: Any, method: str, points: int) -> None:
        self.data = data
        self.cov = cov
        self.method = method
        self.integration = Integration.of(method, points)
        self.points = self.integration.points
        self.constant = log_binomial_constant(data.trials, data.y, data.row_weight())
        self.p = data.X.shape[1]
        self.q = cov.dim
        self.T = cov.n_params
        self.adapt_tolerance = adaptation.TOLERANCE  # relative change at which adaptation stops

    def loglik(
        self, beta: np.ndarray, theta: np.ndarray, state: Any, *, floor: float | None = None
    ) -> tuple[float, Any]:
        """Log likelihood at (beta, theta), placing the nodes first for adaptive methods
        (a line search's trial point far below ``floor`` is not adapted to the end)."""
        engine: Any = self
        placement = self.integration.adaptation
        if placement == "mean-variance":
            return engine.adapt_mean_variance(beta, theta, state, floor)
        if placement == "none":
            state = engine.prior_state(theta)
        else:
            state = engine.mode_curvature_state(beta, theta, state)
        return engine.fixed_loglik(beta, theta, state), state

    def objective(self, state: Any) -> Objective:
        """The Newton objective (quadrature's, or Laplace's when the method is)."""
        from melogit_cli.engine.fit import newton_objective

        return newton_objective(self, state)

    def refined_hessian(self, x: np.ndarray) -> None:
        """None: the Hessian of ``derivatives`` is the final one (analytic; the Laplace
        objective refines its own)."""
        del x
