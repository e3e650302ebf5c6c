"""Batched Cholesky factors of covariance matrices that may be barely positive definite."""

from __future__ import annotations

import numpy as np

RIDGE = 1e-10  # relative to the mean variance, added where a factor fails


def safe_cholesky(S: np.ndarray) -> np.ndarray:
    """Cholesky factors of ``S`` (any leading shape x q x q), with a tiny ridge where a
    matrix is not positive definite (posterior covariances of collapsed nodes)."""
    if S.shape[-1] == 1 and np.all(S > 0.0):
        return np.sqrt(S)
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        q = S.shape[-1]
        scale = np.maximum(np.trace(S, axis1=-2, axis2=-1) / q, 1e-300)
        return np.linalg.cholesky(S + RIDGE * scale[..., None, None] * np.eye(q))
