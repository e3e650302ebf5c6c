"""The fixed-effects logistic (binomial-logit) model: start values and comparison model."""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.optimize.newton import finite, infeasible
from melogit_cli.special import expit, log_binomial_constant


class LogitObjective:
    """Binomial-logit log likelihood with analytic gradient and Hessian."""

    def __init__(
        self,
        y: np.ndarray,
        trials: np.ndarray,
        X: np.ndarray,
        offset: np.ndarray,
        weight: np.ndarray,
    ) -> None:
        self.y, self.trials, self.X, self.offset, self.weight = y, trials, X, offset, weight
        self.constant = log_binomial_constant(trials, y, weight)

    def _loglik(self, eta: np.ndarray) -> float:
        terms = self.weight * (self.y * eta - self.trials * np.logaddexp(0.0, eta))
        return float(np.sum(terms)) + self.constant

    def value(self, b: np.ndarray, floor: float | None = None) -> float:
        del floor
        return self._loglik(self.X @ b + self.offset)

    def derivatives(self, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = self.X @ b + self.offset
        mu = expit(eta)
        ll = self._loglik(eta)
        g = self.X.T @ (self.weight * (self.y - self.trials * mu))
        W = self.weight * self.trials * mu * (1 - mu)
        return ll, g, -(self.X.T @ (W[:, None] * self.X))

    def refined_hessian(self, b: np.ndarray) -> None:
        """None: the Hessian of ``derivatives`` is exact."""
        del b

    def irls_start(self) -> np.ndarray:
        """One IRLS step from ``mu = (y + 1/2) / (r + 1)``, as glm starts."""
        return irls_solution(*self.irls_equations())

    def irls_equations(self) -> tuple[np.ndarray, np.ndarray]:
        """The IRLS step's normal equations ``X'WX b = X'Wz``: sums over the rows."""
        p = (self.y + 0.5) / (self.trials + 1.0)
        eta = np.log(p / (1 - p))
        W = self.weight * self.trials * p * (1 - p)
        z = eta - self.offset + (self.y - self.trials * p) / (self.trials * p * (1 - p))
        with np.errstate(over="ignore", invalid="ignore"):
            XtW = self.X.T * W
            return XtW @ self.X, XtW @ z


def irls_solution(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The IRLS step from its normal equations."""
    if not finite(lhs, rhs):  # covariates or weights whose information overflows
        raise infeasible(0)
    b, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return b
