"""Linear constraints ``C s = d``: Newton-Raphson over ``z`` with ``s = T z + a``.

``T`` is an orthonormal basis of the null space of ``C`` and ``a`` the least-norm
solution of ``C s = d``; Newton-Raphson maximizes over ``z`` (Stata ``ml``'s reduced
parameter space), and the variance of ``s`` is ``T (T' (-H) T)^-1 T'``, zero in the
constrained directions.

``s`` is the optimizer's parameter vector ``x`` itself, or, with a ``metric``, a smooth
reparametrization ``x = h(s)`` in which the constraints are linear (variances as log
standard deviations and covariances as atanh correlations, where the engines' own
parameters are log-Cholesky factors).  The derivatives are then chained:
``g_s = J' g`` and ``H_s = J' H J + sum_k g_k d2h_k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from melogit_cli.errors import StataError

RANK_TOLERANCE = 1e-10


class Metric(Protocol):
    """A smooth one-to-one map ``x = h(s)`` with its derivatives."""

    def to_x(self, s: np.ndarray) -> np.ndarray: ...

    def to_s(self, x: np.ndarray) -> np.ndarray: ...

    def jacobian(self, s: np.ndarray) -> np.ndarray: ...

    def second(self, s: np.ndarray) -> np.ndarray:
        """``d2h_k / ds_i ds_j`` as an array (k, i, j)."""
        ...


@dataclass
class LinearConstraints:
    """The feasible set ``s = T z + a`` of ``C s = d``; ``dropped``: redundant rows."""

    T: np.ndarray
    a: np.ndarray
    dropped: list[str]
    metric: Metric | None = None

    def to_full(self, z: np.ndarray) -> np.ndarray:
        """The optimizer's parameters ``x`` at reduced coordinates ``z``."""
        s = self.T @ z + self.a
        return s if self.metric is None else self.metric.to_x(s)

    def to_reduced(self, x: np.ndarray) -> np.ndarray:
        """The reduced coordinates of the feasible point nearest ``x`` (in ``s``)."""
        s = np.asarray(x, float) if self.metric is None else self.metric.to_s(x)
        return self.T.T @ (s - self.a)

    def project(self, x: np.ndarray) -> np.ndarray:
        return self.to_full(self.to_reduced(x))

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """``dx/dz`` at ``z``: ``T``, through the metric's ``dx/ds`` when there is one."""
        if self.metric is None:
            return self.T
        return self.metric.jacobian(self.T @ z + self.a) @ self.T

    def variance(self, negH: np.ndarray, x: np.ndarray, exact: bool = True) -> np.ndarray:
        """The variance of ``x`` from ``-H`` in ``s`` at ``x``: ``J T (T' (-H) T)^-1 T' J'``;
        raises LinAlgError when the reduced matrix is not positive definite (``exact``),
        or takes its pseudo-inverse (not ``exact``)."""
        reduced = self.T.T @ negH @ self.T
        if exact:
            np.linalg.cholesky(reduced)
            inverse = np.linalg.inv(reduced)
        else:
            inverse = np.linalg.pinv(reduced)
        V = self.T @ inverse @ self.T.T
        if self.metric is None:
            return V
        J = self.metric.jacobian(self.metric.to_s(x))
        return J @ V @ J.T


def solve_constraints(
    C: np.ndarray, d: np.ndarray, labels: list[str], metric: Metric | None = None
) -> LinearConstraints:
    """The feasible set of ``C x = d``, rows taken in order.

    A row that depends linearly on the rows before it is dropped when consistent with
    them (``dropped`` lists its label) and refused when not.
    """
    kept: list[int] = []
    dropped: list[str] = []
    for i in range(C.shape[0]):
        rows = C[kept + [i]]
        scale = max(1.0, float(np.abs(rows).max()))
        if np.linalg.matrix_rank(rows, tol=RANK_TOLERANCE * scale) > len(kept):
            kept.append(i)
            continue
        aug = np.column_stack([rows, d[kept + [i]]])
        tol = RANK_TOLERANCE * max(scale, float(np.abs(aug).max()))
        if np.linalg.matrix_rank(aug, tol=tol) > len(kept):
            msg = f"constraint {labels[i]} inconsistent with the constraints before it"
            raise StataError(msg, 412)
        dropped.append(labels[i])
    # no rows kept: a = 0 and the right singular vectors are the identity
    a = np.linalg.lstsq(C[kept], d[kept], rcond=None)[0]
    T = np.linalg.svd(C[kept])[2][len(kept) :].T.copy()
    return LinearConstraints(T, a, dropped, metric)


class ConstrainedObjective:
    """A Newton objective over ``z`` for the objective over ``x = h(T z + a)``.

    The Hessian in ``s`` of the last derivatives (or of the refined Hessian) is kept in
    ``full_hessian``, from which the variance matrix is computed, and the gradient in
    ``x`` in ``full_gradient``.
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
        try:
            x = self.cns.to_full(z)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return -np.inf  # no covariance matrix has these correlations
        if not np.all(np.isfinite(x)):
            return -np.inf
        return self.inner.value(x, floor=floor)

    def derivatives(self, z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll, g, H = self.inner.derivatives(self.cns.to_full(z))
        self.full_gradient = g
        return ll, *self._reduced(z, g, H)

    def refined_hessian(self, z: np.ndarray) -> np.ndarray | None:
        H = self.inner.refined_hessian(self.cns.to_full(z))
        if H is None:
            return None
        assert self.full_gradient is not None
        return self._reduced(z, self.full_gradient, H)[1]

    def _reduced(
        self, z: np.ndarray, g: np.ndarray, H: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The gradient and the Hessian in ``z`` of those in ``x`` (the Hessian in ``s``
        is kept in ``full_hessian``)."""
        metric, T = self.cns.metric, self.cns.T
        if metric is not None:
            s = T @ z + self.cns.a
            J = metric.jacobian(s)
            g, H = J.T @ g, J.T @ H @ J + np.einsum("k,kij->ij", g, metric.second(s))
        self.full_hessian = H
        return T.T @ g, T.T @ H @ T
