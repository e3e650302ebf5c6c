"""The Laplace approximation of a two-level model, with its exact gradient.

For cluster j, ``l_j = h_j(v_hat) - 1/2 log|H_j|`` with
``h_j(v) = sum_i ll_i(x_i b + z_i' A v) - v'v/2`` maximized at ``v_hat`` and
``H_j = B' W B + I`` (``B = Z A``).  Unlike quadrature with several points, the
log-determinant term depends on the parameters also through ``v_hat`` and ``W``;
holding the mode fixed would give the wrong gradient, so the gradient here carries
the implicit derivative ``dv_hat/dpsi = H^-1 d2h/dv dpsi``.  The Hessian is the
difference of this analytic gradient (``laplace.objective``).  Only weighted fits take
this path: the joint engine fits and scores unweighted ones.
"""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.quadrature.twolevel import AdaptiveState, TwoLevelQuadrature
from melogit_cli.special import expit


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
