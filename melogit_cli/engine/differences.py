"""The Hessian as central differences of an exact gradient (the Laplace objectives)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RELATIVE_STEP = 1e-5


def difference_hessian(
    gradient_at: Callable[[np.ndarray, int, float], np.ndarray], x: np.ndarray
) -> np.ndarray:
    """Symmetrized central differences; ``gradient_at(x + h e_i, i, h)`` is called with
    ``h`` and ``-h`` for each coordinate, so a caller can start inner solves near the
    shifted point."""
    k = len(x)
    H = np.empty((k, k))
    for i in range(k):
        h = RELATIVE_STEP * (abs(x[i]) + 1.0)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        H[:, i] = (gradient_at(xp, i, h) - gradient_at(xm, i, -h)) / (2 * h)
    return 0.5 * (H + H.T)
