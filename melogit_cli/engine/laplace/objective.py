"""The Newton objective of a Laplace likelihood: the exact gradient (the modes move with
the parameters), the Hessian as its differences.  Every engine's Laplace fit uses it;
the gradient is the sum of the engine's per-top-cluster scores, weighted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from melogit_cli.engine.optimize.differences import (
    GradientDifferences,
    ShiftedGradient,
    secant_update,
)

# g' (-H)^-1 g (twice the predicted gain of a Newton step) below which the Hessian is
# differenced again: the last iterations are Newton steps, which converge quadratically
NEWTON_ZONE = 1e-3


class LaplaceObjective:
    """Newton objective: Laplace log likelihood, exact gradient, differenced Hessian.

    While iterating far from the maximum, the Hessian is a secant update of the last one
    when that was negative definite (one gradient per iteration instead of one per
    parameter more); near it (``NEWTON_ZONE``), and where no update applies, it is
    forward differences.  Once ``refined_hessian`` has been asked for, the
    iterations that may follow use differences only.
    """

    def __init__(self, model: Any, state: Any) -> None:
        self.model = model
        self.state = state
        self.p = model.p
        self._at: np.ndarray | None = None
        self._ll = np.nan
        self._differences: GradientDifferences | None = None
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # x, g, H
        self._secant = True

    def _evaluate(self, x: np.ndarray, state: Any) -> tuple[float, Any]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.model.loglik(x[: self.p], x[self.p :], state)

    def value(self, x: np.ndarray, floor: float | None = None) -> float:
        del floor  # the Laplace value is exact at every point
        try:
            ll, state = self._evaluate(x, self.state)
        except np.linalg.LinAlgError:
            return -np.inf
        if np.isfinite(ll):
            self.state, self._at, self._ll = state, x.copy(), ll
        return ll

    def gradient(self, x: np.ndarray, state: Any) -> np.ndarray:
        """The exact gradient at ``x``; ``state`` holds the modes there."""
        model = self.model
        return model.data.cluster_weight @ model.cluster_scores(x[: self.p], x[self.p :], state)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log likelihood, gradient and the iteration Hessian at ``x``."""
        if self._at is None or not np.array_equal(x, self._at):
            self.value(x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            g, shifted = self._gradient_and_shifts(x, self.state)
            self._differences = GradientDifferences(shifted, x)
            H = None
            if self._secant and self._last is not None:
                x0, g0, H0 = self._last
                H = secant_update(H0, x - x0, g - g0)
                if H is not None and float(g @ np.linalg.solve(-H, g)) < NEWTON_ZONE:
                    H = None
            if H is None:
                H = self._differences.forward(g)
        self._last = (x.copy(), g.copy(), H)
        return self._ll, g, H

    def refined_hessian(self, x: np.ndarray) -> np.ndarray:
        """The central-differenced Hessian at the final point (for the variance matrix)."""
        self._secant = False
        if self._differences is None or not np.array_equal(x, self._differences.x):
            self.derivatives(x)
        assert self._differences is not None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._differences.central()

    def _gradient_and_shifts(
        self, x: np.ndarray, state: Any
    ) -> tuple[np.ndarray, ShiftedGradient]:
        """The gradient at ``x`` and a function giving it at points shifted from ``x``."""

        def gradient_at(z: np.ndarray, _i: int, _h: float) -> np.ndarray:
            return self.gradient(z, self._evaluate(z, state)[1])

        return self.gradient(x, state), gradient_at
