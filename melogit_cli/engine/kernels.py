"""Compiled row-by-node loops of the two-level quadrature, for large data.

The numpy formulation in ``twolevel`` forms arrays of rows x nodes (the linear
predictor, the log likelihood, the residuals and weights and their products with
each covariate), each a pass over memory.  These loops visit every row once per node,
keep nothing of size rows x nodes and accumulate straight into per-cluster, per-node
sums; clusters run in parallel.  They are compiled by numba on first use and cached
on disk, so the compilation (a few seconds) is paid once per installation; small
problems never import numba (see ``use_kernels``).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

KERNEL_MIN_ROW_NODES = 2_000_000  # below this numpy is fast enough and start-up matters more


def use_kernels(rows: int, nodes: int) -> bool:
    """Whether to run the compiled loops: large problems, numba present, not disabled."""
    setting = os.environ.get("MELOGIT_KERNELS", "auto").lower()
    if setting in ("0", "off", "no"):
        return False
    if setting not in ("1", "on", "yes") and rows * nodes < KERNEL_MIN_ROW_NODES:
        return False
    return _compiled() is not None


@cache
def _compiled() -> Any:
    try:
        from melogit_cli.engine import loops
    except ImportError:  # numba is a declared dependency; numpy still works without it
        return None
    return loops


def softplus(eta: np.ndarray) -> np.ndarray:
    """``log(1 + e^eta)`` elementwise, any shape."""
    flat = np.ascontiguousarray(eta, dtype=float).ravel()
    out = np.empty_like(flat)
    _compiled().softplus_array(flat, out)
    return out.reshape(np.shape(eta))


def expit(eta: np.ndarray) -> np.ndarray:
    """The logistic function elementwise, any shape."""
    flat = np.ascontiguousarray(eta, dtype=float).ravel()
    out = np.empty_like(flat)
    _compiled().expit_array(flat, out)
    return out.reshape(np.shape(eta))


def node_loglik(
    xb: np.ndarray,
    Z: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    weight: np.ndarray,
    starts: np.ndarray,
    u: np.ndarray,
) -> np.ndarray:
    """``sum_i w_i (y_i eta_ik - r_i log(1 + exp eta_ik))`` per cluster g and node k.

    ``u`` is G x K x q (the random effects at each cluster's nodes); rows of cluster
    g are ``starts[g]:starts[g+1]``; ``eta_ik = xb_i + Z_i u_gk``.
    """
    out = np.empty(u.shape[:2])
    uT = np.ascontiguousarray(u.transpose(0, 2, 1))
    _compiled().node_loglik(xb, Z, y, trials, weight, starts, uT, out)
    return out


def node_sums(
    xb: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    weight: np.ndarray,
    starts: np.ndarray,
    u: np.ndarray,
    post: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'``,
    ``sum wgt X Z'``; per row: ``sum_k wgt_ik post_gk``.

    ``resid = w (y - r m)`` and ``wgt = w r m (1 - m)`` with ``m = expit(eta)``.
    """
    G, K, q = u.shape
    p = X.shape[1]
    s_beta = np.empty((G, p, K))
    s_z = np.empty((G, q, K))
    zz = np.empty((G, q, q, K))
    xz = np.empty((G, p, q, K))
    wbar = np.empty(len(xb))
    uT = np.ascontiguousarray(u.transpose(0, 2, 1))
    _compiled().node_sums(
        xb, X, Z, y, trials, weight, starts, uT, np.ascontiguousarray(post),
        s_beta, s_z, zz, xz, wbar,
    )  # fmt: skip
    return (
        s_beta.transpose(0, 2, 1),
        s_z.transpose(0, 2, 1),
        zz.transpose(0, 3, 1, 2),
        xz.transpose(0, 3, 1, 2),
        wbar,
    )
