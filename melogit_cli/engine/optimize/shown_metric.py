"""The detailed log's parameters in Stata's metric: the coefficients, then the variances
and covariances of e(b) (``/:var(_cons[district])``), with the gradient and Hessian of the
log likelihood with respect to them.

The maximizer works in log standard deviations and log-Cholesky factors (see
engine/model/covariance.py); the log shows what a user can read and pass to ``from()``.
With ``phi(theta)`` the reported (co)variances and ``J = dphi/dtheta`` (square and
invertible: each structure has as many parameters as it reports), the gradient is
``J^-T g`` and the Hessian ``J^-T (H - sum_k g_phi,k d2phi_k) J^-1``, exact at any point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance


@dataclass(frozen=True)
class ShownMetric:
    """Maps the maximizer's vector (``p`` coefficients, then ``theta``) to e(b)'s."""

    p: int
    cov: LevelCovariance | NestedCovariance

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sigma, dS, d2S = self.cov.sigma_derivatives(np.asarray(x[self.p :], dtype=float))
        pairs = self.cov.reported()
        values = np.array([sigma[a, b] for a, b in pairs])
        J = np.array([dS[:, a, b] for a, b in pairs]).reshape(len(pairs), -1)
        D2 = np.array([d2S[:, :, a, b] for a, b in pairs])
        return values, J, D2

    def params(self, x: np.ndarray) -> np.ndarray:
        """The vector in e(b)'s metric."""
        return np.concatenate([x[: self.p], self._parts(x)[0]])

    def gradient(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        _, J, _ = self._parts(x)
        return np.concatenate([g[: self.p], np.linalg.solve(J.T, g[self.p :])])

    def hessian(self, x: np.ndarray, g: np.ndarray, H: np.ndarray) -> np.ndarray:
        _, J, D2 = self._parts(x)
        p = self.p
        g_phi = np.linalg.solve(J.T, g[p:])
        H = np.array(H, dtype=float, copy=True)
        H[p:, p:] -= np.einsum("k,kst->st", g_phi, D2)
        k = len(x)
        T_inv = np.eye(k)
        T_inv[p:, p:] = np.linalg.inv(J)
        out = T_inv.T @ H @ T_inv
        return 0.5 * (out + out.T)
