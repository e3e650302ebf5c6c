"""Per-cluster, per-node sums over rows in numpy: what the compiled loops
(``compiled.kernels.node_loglik`` and ``node_sums``) compute for large data, with the same
arguments and results.  Rows of cluster g are ``bounds[g]:bounds[g+1]``; ``u`` is
G x K x q, the effects at each cluster's nodes; ``eta_ik = xb_i + Z_i u_gk``.
"""

from __future__ import annotations

import numpy as np

from melogit_cli.special import expit


def _eta(xb: np.ndarray, Z: np.ndarray, bounds: np.ndarray, u: np.ndarray) -> np.ndarray:
    return xb[:, None] + np.einsum("iq,ikq->ik", Z, np.repeat(u, np.diff(bounds), axis=0))


def node_loglik(xb, Z, y, trials, weight, bounds, u) -> np.ndarray:
    """``sum_i w_i (y_i eta_ik - r_i log(1 + exp eta_ik))`` per cluster and node."""
    eta = _eta(xb, Z, bounds, u)
    ll = weight[:, None] * (y[:, None] * eta - trials[:, None] * np.logaddexp(0.0, eta))
    return np.add.reduceat(ll, bounds[:-1], axis=0)


def node_sums(xb, X, Z, y, trials, weight, bounds, u, post):
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'``,
    ``sum wgt X Z'``; per row: ``sum_k wgt_ik post_gk``, with ``resid = w (y - r m)``,
    ``wgt = w r m (1 - m)`` and ``m = expit(eta)``."""
    m = expit(_eta(xb, Z, bounds, u))
    w, r = weight[:, None], trials[:, None]
    resid = w * (y[:, None] - r * m)
    wgt = w * r * m * (1 - m)
    wbar = np.einsum("ik,ik->i", wgt, np.repeat(post, np.diff(bounds), axis=0))
    n, p, q = X.shape[0], X.shape[1], Z.shape[1]

    def sums(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[:, :, None] * columns[:, None, :], bounds[:-1], axis=0)

    zz = sums(wgt, (Z[:, :, None] * Z[:, None, :]).reshape(n, q * q))
    xz = sums(wgt, (X[:, :, None] * Z[:, None, :]).reshape(n, p * q))
    G, K = zz.shape[:2]
    return sums(resid, X), sums(resid, Z), zz.reshape(G, K, q, q), xz.reshape(G, K, p, q), wbar
