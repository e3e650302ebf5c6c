"""The Laplace approximation of a two-level model, with its exact gradient.

For cluster j, ``l_j = h_j(v_hat) - 1/2 log|H_j|`` with
``h_j(v) = sum_i ll_i(x_i b + z_i' A v) - v'v/2`` maximized at ``v_hat`` and
``H_j = B' W B + I`` (``B = Z A``).  Unlike quadrature with several points, the
log-determinant term depends on the parameters also through ``v_hat`` and ``W``;
holding the mode fixed would give the wrong gradient, so the gradient here carries
the implicit derivative ``dv_hat/dpsi = H^-1 d2h/dv dpsi``.  The Hessian is the
difference of this analytic gradient: forward while iterating, central at the end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from melogit_cli.engine.optimize.differences import (
    GradientDifferences,
    ShiftedGradient,
    secant_update,
)
from melogit_cli.engine.quadrature.twolevel import AdaptiveState, TwoLevelQuadrature
from melogit_cli.special import expit

# g' (-H)^-1 g (twice the predicted gain of a Newton step) below which the Hessian is
# differenced again: the last iterations are Newton steps, which converge quadratically
NEWTON_ZONE = 1e-3


def laplace_gradient(
    model: TwoLevelQuadrature, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
) -> np.ndarray:
    """Exact gradient of the Laplace log likelihood in (beta, theta).

    ``state`` must hold the modes at (beta, theta), as left by ``model.loglik``.
    """
    return model.data.cluster_weight @ laplace_cluster_scores(model, beta, theta, state)


def laplace_cluster_scores(
    model: TwoLevelQuadrature, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
) -> np.ndarray:
    """Each cluster's contribution (G x P) to the Laplace gradient, unweighted."""
    d = model.data
    A, dA, _ = model.cov.factor_derivatives(theta)
    v_hat = np.linalg.solve(A, state.m.T).T  # G x q
    starts = d.starts[:-1]
    sizes = d.sizes
    Z, X = d.Z, d.X
    B = Z @ A  # n x q
    v_rows = np.repeat(v_hat, sizes, axis=0)
    eta = X @ beta + d.offset + np.einsum("iq,iq->i", B, v_rows)
    mu = expit(eta)
    w = d.obs_weight
    resid = w * (d.y - d.trials * mu)
    W = w * d.trials * mu * (1 - mu)
    W1 = W * (1 - 2 * mu)  # dW/deta
    q = model.q
    H = np.add.reduceat(W[:, None, None] * B[:, :, None] * B[:, None, :], starts, axis=0) + np.eye(
        q
    )
    M = np.linalg.inv(H)  # G x q x q
    M_rows = np.repeat(M, sizes, axis=0)
    lev = np.einsum("ia,iab,ib->i", B, M_rows, B)

    # direct derivatives of eta (n x P) and of B (only theta moves B)
    ZdAv = np.einsum("ia,tab,ib->it", Z, dA, v_rows)  # d eta / d theta_t at fixed v
    deta = np.concatenate([X, ZdAv], axis=1)  # n x P
    dh = np.add.reduceat(resid[:, None] * deta, starts, axis=0)  # G x P
    # d2h/dv dpsi at fixed v: beta: -B'W x ; theta: dA' z r - B'W (z dA v)
    cross = -np.add.reduceat(W[:, None, None] * B[:, :, None] * deta[:, None, :], starts, axis=0)
    zr = np.add.reduceat(resid[:, None] * Z, starts, axis=0)  # G x q
    p = X.shape[1]
    cross[:, :, p:] += np.einsum("tba,gb->gat", dA, zr)
    dv = np.einsum("gab,gbP->gaP", M, cross)  # G x q x P
    deta_total = deta + np.einsum("ia,iaP->iP", B, np.repeat(dv, sizes, axis=0))
    # 1/2 tr(M dH): W-part through eta, B-part through dA (theta only)
    trace = np.add.reduceat((W1 * lev)[:, None] * deta_total, starts, axis=0)  # G x P
    MB = np.einsum("iab,ib->ia", M_rows, B)
    dB_term = 2 * np.einsum("i,ia,ic,tca->it", W, MB, Z, dA)  # n x T
    trace[:, p:] += np.add.reduceat(dB_term, starts, axis=0)
    return dh - 0.5 * trace


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

    def gradient(self, x: np.ndarray, state: AdaptiveState) -> np.ndarray:
        return laplace_gradient(self.model, x[: self.p], x[self.p :], state)

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
