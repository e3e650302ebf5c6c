"""Derivatives by differences: central first and second differences of a function, and
the Hessian as differences of an exact gradient (the Laplace objectives).

During the Newton iterations forward differences suffice (one gradient per parameter,
error of the order of the step), and once the Hessian is negative definite a secant
(BFGS) update from the last iterate's gradient costs no gradient at all; the Hessian
kept for the variance matrix is the symmetrized central difference (error of the order
of the step squared), which reuses any forward steps already taken at the final point.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np

RELATIVE_STEP = 1e-5
CURVATURE_FLOOR = 1e-8  # smallest s'y / (|s| |y|) a secant update accepts

ShiftedGradient = Callable[[np.ndarray, int, float], np.ndarray]


def central_differences(f: Callable[[np.ndarray], Any], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``(f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)`` for each ``i``, along the first axis
    (the gradient of a scalar ``f``; of a vector ``f``, its transposed Jacobian)."""
    out = []
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += h[i]
        down[i] -= h[i]
        out.append((f(up) - f(down)) / (2 * h[i]))
    return np.array(out)


def second_differences(f: Callable[[np.ndarray], Any], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``d2f / dx_i dx_j`` by central differences with steps ``h``, as an array
    (i, j, ...) over ``f``'s shape."""
    k = len(x)
    E = np.diag(h)
    out = {}
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = (
                f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j])
            ) / (4 * h[i] * h[j])
    return np.array([[out[i, j] for j in range(k)] for i in range(k)])


class GradientDifferences:
    """Differences of the gradient around ``x``.

    ``gradient_at(x + h e_i, i, h)`` is called with ``h`` (and ``-h`` for central
    differences), so a caller can start inner solves near the shifted point.
    """

    def __init__(self, gradient_at: ShiftedGradient, x: np.ndarray) -> None:
        self.gradient_at = gradient_at
        self.x = x.copy()
        self.steps = RELATIVE_STEP * (np.abs(self.x) + 1.0)

    def _shifted(self, i: int, sign: float) -> np.ndarray:
        h = sign * self.steps[i]
        z = self.x.copy()
        z[i] += h
        return self.gradient_at(z, i, h)

    @cached_property
    def _plus(self) -> list[np.ndarray]:
        return [self._shifted(i, 1.0) for i in range(len(self.x))]

    def forward(self, g0: np.ndarray) -> np.ndarray:
        """Symmetrized forward differences from ``g0``, the gradient at ``x``."""
        H = np.column_stack(self._plus) - g0[:, None]
        return _symmetric(H / self.steps)

    def central(self) -> np.ndarray:
        """Symmetrized central differences."""
        plus = self._plus
        minus = [self._shifted(i, -1.0) for i in range(len(self.x))]
        H = np.column_stack(plus) - np.column_stack(minus)
        return _symmetric(H / (2.0 * self.steps))


def secant_update(H: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray | None:
    """The BFGS update of a negative definite Hessian ``H`` of a function to maximize,
    after ``step`` in x changed the gradient by ``change``; None when ``H`` is not
    negative definite or the step shows no curvature (the update would not be)."""
    B = -H  # BFGS keeps B positive definite while the curvature s'y stays positive
    y = -change
    sy = float(step @ y)
    try:
        np.linalg.cholesky(B)
    except np.linalg.LinAlgError:
        return None
    Bs = B @ step
    sBs = float(step @ Bs)
    if not (sy > CURVATURE_FLOOR * np.linalg.norm(step) * np.linalg.norm(y) and sBs > 0.0):
        return None
    return -_symmetric(B - np.outer(Bs, Bs) / sBs + np.outer(y, y) / sy)


def _symmetric(H: np.ndarray) -> np.ndarray:
    return 0.5 * (H + H.T)
