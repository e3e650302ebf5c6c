"""Per-cluster, per-node sums over rows in numpy: what the compiled loops
(``compiled.kernels.node_loglik`` and ``node_sums``) compute for large data, with the same
arguments and results.  Rows of cluster g are ``bounds[g]:bounds[g+1]``; ``u`` is
G x K x q, the effects at each cluster's nodes; ``eta_ik = xb_i + Z_i u_gk``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from melogit_cli.special import expit


class Rows(NamedTuple):
    """A run of clusters' rows: the fixed part ``xb``, the designs, the responses and
    weights, and the clusters' row bounds (G + 1, from the run's first row)."""

    xb: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    trials: np.ndarray
    weight: np.ndarray
    bounds: np.ndarray


def linear_predictor(rows: Rows, u: np.ndarray) -> np.ndarray:
    """``eta_ik = xb_i + Z_i u_gk`` (n x K)."""
    u_rows = np.repeat(u, np.diff(rows.bounds), axis=0)
    return rows.xb[:, None] + np.einsum("iq,ikq->ik", rows.Z, u_rows)


def node_loglik(rows: Rows, u: np.ndarray) -> np.ndarray:
    """``sum_i w_i (y_i eta_ik - r_i log(1 + exp eta_ik))`` per cluster and node."""
    eta = linear_predictor(rows, u)
    y, r, w = rows.y[:, None], rows.trials[:, None], rows.weight[:, None]
    return np.add.reduceat(w * (y * eta - r * np.logaddexp(0.0, eta)), rows.bounds[:-1], axis=0)


def node_sums(
    rows: Rows, u: np.ndarray, post: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'``,
    ``sum wgt X Z'``; per row: ``sum_k wgt_ik post_gk``."""
    resid, wgt, wbar = residuals(rows, expit(linear_predictor(rows, u)), post)
    return (*segment_sums(rows, resid, wgt), wbar)


def residuals(
    rows: Rows, m: np.ndarray, post: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``resid = w (y - r m)`` and ``wgt = w r m (1 - m)`` (n x K) for the probabilities
    ``m``, and per row ``sum_k wgt_ik post_gk``."""
    w, r = rows.weight[:, None], rows.trials[:, None]
    resid = w * (rows.y[:, None] - r * m)
    wgt = w * r * m * (1 - m)
    wbar = np.einsum("ik,ik->i", wgt, np.repeat(post, np.diff(rows.bounds), axis=0))
    return resid, wgt, wbar


def segment_sums(
    rows: Rows, resid: np.ndarray, wgt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'`` and
    ``sum wgt X Z'`` (G x K x p, G x K x q, G x K x q x q, G x K x p x q)."""
    X, Z = rows.X, rows.Z
    n, p, q = X.shape[0], X.shape[1], Z.shape[1]

    def sums(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[:, :, None] * columns[:, None, :], rows.bounds[:-1], axis=0)

    zz = sums(wgt, (Z[:, :, None] * Z[:, None, :]).reshape(n, q * q))
    xz = sums(wgt, (X[:, :, None] * Z[:, None, :]).reshape(n, p * q))
    G, K = zz.shape[:2]
    return sums(resid, X), sums(resid, Z), zz.reshape(G, K, q, q), xz.reshape(G, K, p, q)
