"""Linear constraints ``C x = d`` on the optimizer's parameters: ``x = T z + a``.

``T`` is an orthonormal basis of the null space of ``C`` and ``a`` the least-norm
solution of ``C x = d``; Newton-Raphson maximizes over ``z`` (Stata ``ml``'s reduced
parameter space), and the variance of ``x`` is ``T (T' (-H) T)^-1 T'``, zero in the
constrained directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from melogit_cli.errors import StataError

RANK_TOLERANCE = 1e-10


@dataclass
class LinearConstraints:
    """The feasible set ``x = T z + a`` of ``C x = d``; ``dropped``: redundant rows."""

    T: np.ndarray
    a: np.ndarray
    dropped: list[int]

    def to_full(self, z: np.ndarray) -> np.ndarray:
        return self.T @ z + self.a

    def to_reduced(self, x: np.ndarray) -> np.ndarray:
        """The feasible point nearest ``x`` in the reduced coordinates (T is orthonormal)."""
        return self.T.T @ (np.asarray(x, float) - self.a)

    def project(self, x: np.ndarray) -> np.ndarray:
        return self.to_full(self.to_reduced(x))

    def variance(self, negH: np.ndarray) -> np.ndarray:
        """``T (T' (-H) T)^-1 T'``; raises LinAlgError when the reduced matrix is singular."""
        reduced = self.T.T @ negH @ self.T
        np.linalg.cholesky(reduced)
        return self.T @ np.linalg.inv(reduced) @ self.T.T


def solve_constraints(C: np.ndarray, d: np.ndarray, labels: list[int]) -> LinearConstraints:
    """The feasible set of ``C x = d``, rows taken in order.

    A row that depends linearly on the rows before it is dropped when consistent with
    them (``dropped`` lists its label) and refused when not.
    """
    n = C.shape[1]
    kept: list[int] = []
    dropped: list[int] = []
    for i in range(C.shape[0]):
        rows = C[kept + [i]]
        scale = max(1.0, float(np.abs(rows).max()))
        if np.linalg.matrix_rank(rows, tol=RANK_TOLERANCE * scale) > len(kept):
            kept.append(i)
            continue
        aug = np.column_stack([rows, d[kept + [i]]])
        tol = RANK_TOLERANCE * max(scale, float(np.abs(aug).max()))
        if np.linalg.matrix_rank(aug, tol=tol) > len(kept):
            msg = f"constraint ({labels[i]}) inconsistent with the constraints before it"
            raise StataError(msg, 412)
        dropped.append(labels[i])
    Ck, dk = C[kept], d[kept]
    if not kept:
        return LinearConstraints(np.eye(n), np.zeros(n), dropped)
    a = np.linalg.lstsq(Ck, dk, rcond=None)[0]
    _, s, vt = np.linalg.svd(Ck)
    T = vt[len(kept) :].T.copy()
    return LinearConstraints(T, a, dropped)


class ConstrainedObjective:
    """A Newton objective over ``z`` for the objective over ``x = T z + a``.

    The full-space Hessian of the last derivatives (and of the refined Hessian) is kept
    in ``full_hessian``, from which the variance matrix is computed.
    """

    def __init__(self, inner: Any, cns: LinearConstraints) -> None:
        self.inner = inner
        self.cns = cns
        self.full_hessian: np.ndarray | None = None
        self.full_gradient: np.ndarray | None = None

    @property
    def state(self) -> Any:
        return self.inner.state

    def value(self, z: np.ndarray, floor: float | None = None) -> float:
        return self.inner.value(self.cns.to_full(z), floor=floor)

    def derivatives(self, z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll, g, H = self.inner.derivatives(self.cns.to_full(z))
        self.full_gradient, self.full_hessian = g, H
        T = self.cns.T
        return ll, T.T @ g, T.T @ H @ T

    def refined_hessian(self, z: np.ndarray) -> np.ndarray | None:
        H = self.inner.refined_hessian(self.cns.to_full(z))
        if H is None:
            return None
        self.full_hessian = H
        return self.cns.T.T @ H @ self.cns.T
