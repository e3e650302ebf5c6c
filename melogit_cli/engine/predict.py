"""Predictions at the estimates of a two-level model: empirical Bayes means and modes of the
random effects, their posterior standard deviations, and marginal means.

Random effects are written ``u_j = A v_j`` with ``v_j ~ N(0, I)`` (``A`` the Cholesky
factor of the level's covariance).  Each cluster's posterior of ``v_j`` given its data is
integrated by adaptive Gauss-Hermite quadrature: nodes ``v_jk = mu_j + C_j a_k`` moved to
the posterior mean and standard deviation until they settle (as ``mvaghermite`` does).
Posterior modes solve ``max_v  l_j(A v) - v'v / 2`` by Newton's method for all clusters at
once.  Rows are sorted by cluster; sums over a cluster are ``np.add.reduceat`` over a block
of rows, so nothing loops over clusters in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.engine.quadrature.rows import Rows, chunk_slices, node_loglik
from melogit_cli.engine.quadrature.rules import normal_rule
from melogit_cli.engine.quadrature.twolevel import ClusterData
from melogit_cli.engine.shared.cholesky import safe_cholesky
from melogit_cli.engine.shared.modes import MODE_ITERATIONS, cluster_modes
from melogit_cli.special import logsumexp

MAX_ADAPT = 1001
ADAPT_TOLERANCE = 1e-12


@dataclass
class Posterior:
    """Per-cluster location (G x q) and covariance (G x q x q) of the random effects u."""

    mean: np.ndarray
    cov: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        """Posterior standard deviations (G x q)."""
        return np.sqrt(np.maximum(np.einsum("gaa->ga", self.cov), 0.0))


def posterior_modes(
    data: ClusterData,
    beta: np.ndarray,
    A: np.ndarray,
    tol: float = 1e-12,
    iterations: int = MODE_ITERATIONS,
) -> Posterior:
    """Posterior modes of u and the inverse negative Hessian there (u-metric), after at
    most ``iterations`` Newton steps from zero (fewer once a step is below ``tol``)."""
    xb = data.X @ beta + data.offset
    v0 = np.zeros((data.n_clusters, A.shape[0]))
    v, info = cluster_modes(
        xb, data.Z @ A, data.y, data.trials, data.obs_weight, data.starts, v0, tolerance=tol,
        iterations=iterations,
    )
    cov_v = np.linalg.inv(info)
    return Posterior(v @ A.T, np.einsum("ab,gbc,dc->gad", A, cov_v, A))


def posterior_means(
    data: ClusterData,
    beta: np.ndarray,
    A: np.ndarray,
    points: int,
    start: Posterior,
    tolerance: float = ADAPT_TOLERANCE,
    passes: int = MAX_ADAPT,
) -> Posterior:
    """Empirical Bayes posterior means and covariances of u by adaptive quadrature.

    The nodes start at ``start`` (the posterior modes) and move to each cluster's
    posterior mean and standard deviation until the moments change by less than
    ``tolerance`` (at most ``passes`` passes; the moments of the last are returned).
    """
    Ainv = np.linalg.pinv(A)
    mu = start.mean @ Ainv.T
    C = safe_cholesky(np.einsum("ab,gbc,dc->gad", Ainv, start.cov, Ainv) + 0.0)
    if points == 1:
        return Posterior(mu @ A.T, np.einsum("ab,gbc,gdc,ed->gae", A, C, C, A))
    cov_v = np.einsum("gab,gcb->gac", C, C)
    for _ in range(passes):
        mean_v, cov_v = _moments(data, beta, A, mu, C, points)
        change = max(np.max(np.abs(mean_v - mu), initial=0.0),
                     np.max(np.abs(np.einsum("gab,gcb->gac", C, C) - cov_v), initial=0.0))
        mu, C = mean_v, safe_cholesky(cov_v)
        if change < tolerance:
            break
    return Posterior(mu @ A.T, np.einsum("ab,gbc,dc->gad", A, cov_v, A))


def _moments(
    data: ClusterData, beta: np.ndarray, A: np.ndarray, mu: np.ndarray, C: np.ndarray,
    points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of v with the nodes at (mu, C)."""
    q = A.shape[0]
    rule = normal_rule(points, q)
    xb = data.X @ beta + data.offset
    ZA = data.Z @ A
    G = data.n_clusters
    mean = np.empty((G, q))
    cov = np.empty((G, q, q))
    for gs, rs in chunk_slices(data.starts, rule.size):
        v = mu[gs, None, :] + np.einsum("gab,kb->gka", C[gs], rule.nodes)  # g x K x q
        bounds = data.starts[gs.start : gs.stop + 1] - rs.start
        arrays = Rows(
            xb[rs], data.X[rs], ZA[rs], data.y[rs], data.trials[rs], data.obs_weight[rs], bounds
        )
        ll = node_loglik(arrays, v)
        log_int = ll - 0.5 * np.sum(v * v, axis=2) - rule.log_phi + rule.log_weights
        p = np.exp(log_int - logsumexp(log_int, axis=1)[:, None])
        m = np.einsum("gk,gka->ga", p, v)
        dev = v - m[:, None, :]
        mean[gs] = m
        cov[gs] = np.einsum("gk,gka,gkb->gab", p, dev, dev)
    return mean, cov
