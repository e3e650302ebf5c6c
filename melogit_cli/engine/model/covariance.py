"""Covariance structures of random-effects equations.

Each structure maps unconstrained parameters ``theta`` to a square-root factor ``A``
of its covariance matrix (``Sigma = A A'``); the optimizer works in ``theta``, Stata
reports the variances and covariances themselves.

- independent: ``A = diag(exp(t))`` (log standard deviations)
- identity: ``A = exp(t) I``
- exchangeable: ``A = exp(t1) (I - J/m) + exp(t2) J/m`` (the symmetric root; its two
  eigenvalues are free, which is exactly the positive-definite region)
- unstructured: ``A`` lower triangular, log diagonal (log-Cholesky)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CovBlock:
    """One random-effects equation: ``size`` effects with a covariance ``kind``."""

    kind: str
    size: int

    @property
    def n_params(self) -> int:
        """One parameter per reported variance or covariance."""
        return len(self.reported())

    def reported(self) -> list[tuple[int, int]]:
        """Index pairs ``(a, b)`` of the Sigma entries Stata reports, in e(b) order."""
        m = self.size
        if self.kind == "independent":
            return [(a, a) for a in range(m)]
        if self.kind == "identity" or m == 1:
            return [(0, 0)]
        if self.kind == "exchangeable":
            return [(0, 0), (1, 0)]
        return [(a, a) for a in range(m)] + [(a, b) for b in range(m) for a in range(b + 1, m)]

    def factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``A``, ``dA/dtheta`` (T x m x m) and ``d2A/dtheta2`` (T x T x m x m)."""
        m, t = self.size, np.asarray(theta, dtype=float)
        T = self.n_params
        dA = np.zeros((T, m, m))
        d2A = np.zeros((T, T, m, m))
        if self.kind == "independent":
            e = np.exp(t)
            A = np.diag(e)
            for k in range(m):
                dA[k, k, k] = d2A[k, k, k, k] = e[k]
        elif self.kind == "identity" or m == 1:
            A = np.exp(t[0]) * np.eye(m)
            dA[0] = d2A[0, 0] = A
        elif self.kind == "exchangeable":
            J = np.full((m, m), 1.0 / m)
            P = np.eye(m) - J
            e1, e2 = np.exp(t)
            A = e1 * P + e2 * J
            dA[0] = d2A[0, 0] = e1 * P
            dA[1] = d2A[1, 1] = e2 * J
        else:  # unstructured, log-Cholesky
            A = np.zeros((m, m))
            for k, (a, b) in enumerate(self._chol_positions()):
                if a == b:
                    A[a, a] = np.exp(t[k])
                    dA[k, a, a] = d2A[k, k, a, a] = A[a, a]
                else:
                    A[a, b] = t[k]
                    dA[k, a, b] = 1.0
        return A, dA, d2A

    def _chol_positions(self) -> list[tuple[int, int]]:
        return [(a, b) for a in range(self.size) for b in range(a + 1)]

    def theta_from_sigma(self, sigma: np.ndarray) -> np.ndarray:
        """Parameters whose covariance is (the structure's projection of) ``sigma``."""
        m = self.size
        sigma = np.asarray(sigma, dtype=float)
        if self.kind == "independent":
            return 0.5 * np.log(np.diag(sigma))
        if self.kind == "identity" or m == 1:
            return np.array([0.5 * np.log(np.mean(np.diag(sigma)))])
        if self.kind == "exchangeable":
            var = np.mean(np.diag(sigma))
            cov = (sigma.sum() - np.trace(sigma)) / (m * (m - 1))
            return 0.5 * np.log([var - cov, var + (m - 1) * cov])
        L = np.linalg.cholesky(sigma)
        return np.array([np.log(L[a, a]) if a == b else L[a, b] for a, b in self._chol_positions()])


def block_diagonal(mats: list[np.ndarray]) -> np.ndarray:
    """Place square matrices on the diagonal of one matrix."""
    n = sum(m.shape[0] for m in mats)
    out = np.zeros((n, n))
    i = 0
    for m in mats:
        k = m.shape[0]
        out[i : i + k, i : i + k] = m
        i += k
    return out


@dataclass(frozen=True)
class LevelCovariance:
    """The covariance of all random effects at one level: blocks on the diagonal."""

    blocks: tuple[CovBlock, ...]

    @property
    def dim(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def n_params(self) -> int:
        return sum(b.n_params for b in self.blocks)

    def spans(self) -> Iterator[tuple[CovBlock, slice, slice]]:
        """Each block with its effects (rows of Sigma) and its entries of theta."""
        i = j = 0
        for blk in self.blocks:
            yield blk, slice(i, i + blk.size), slice(j, j + blk.n_params)
            i, j = i + blk.size, j + blk.n_params

    def sigma_derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Sigma`` (q x q), ``dSigma`` (T x q x q) and ``d2Sigma`` (T x T x q x q).

        ``A`` is block diagonal and each parameter moves one block, so the products of
        the whole factors are the blocks' products (zero between blocks)."""
        A, dA, d2A = self.factor_derivatives(theta)
        dAAt = np.einsum("tab,cb->tac", dA, A)
        cross = np.einsum("tab,ucb->tuac", dA, dA)
        second = np.einsum("tuab,cb->tuac", d2A, A)
        d2S = second + second.transpose(0, 1, 3, 2) + cross + cross.transpose(1, 0, 2, 3)
        return A @ A.T, dAAt + dAAt.transpose(0, 2, 1), d2S

    def factor_derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The level's factor ``A`` (q x q), ``dA`` (T x q x q), ``d2A`` (T x T x q x q)."""
        q, T = self.dim, self.n_params
        A = np.zeros((q, q))
        dA = np.zeros((T, q, q))
        d2A = np.zeros((T, T, q, q))
        for blk, s, t in self.spans():
            A[s, s], dA[t, s, s], d2A[t, t, s, s] = blk.factor(theta[t])
        return A, dA, d2A

    def reported(self) -> list[tuple[int, int]]:
        """Index pairs into the level's Sigma of the reported variances then covariances."""
        out_var, out_cov = [], []
        for blk, s, _ in self.spans():
            for a, b in blk.reported():
                (out_var if a == b else out_cov).append((s.start + a, s.start + b))
        return out_var + out_cov

    def sigma_from_reported(self, values: list[float]) -> np.ndarray:
        """Sigma whose reported variances and covariances (``reported()`` order) are
        ``values``: an identity or exchangeable block's one variance is each of its
        effects', its one covariance each pair's."""
        shared: dict[int, range] = {}  # effect -> the effects of its identity/exchangeable block
        for blk, s, _ in self.spans():
            if blk.kind in ("identity", "exchangeable"):
                shared.update(dict.fromkeys(range(s.start, s.stop), range(s.start, s.stop)))
        sigma = np.zeros((self.dim, self.dim))
        for (a, b), value in zip(self.reported(), values, strict=True):
            own = shared.get(a)
            pairs = [(a, b)]
            if own is not None:
                pairs = [(i, j) for i in own for j in own if (i == j) == (a == b)]
            for i, j in pairs:
                sigma[i, j] = sigma[j, i] = value
        return sigma

    def theta_from_sigma(self, sigma: np.ndarray) -> np.ndarray:
        parts = [blk.theta_from_sigma(sigma[s, s]) for blk, s, _ in self.spans()]
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True)
class NestedCovariance(LevelCovariance):
    """The covariances of several nested levels (highest first); ``theta`` stacks theirs.

    Effects of different levels are independent, so ``Sigma`` and ``A`` are block
    diagonal over the levels: the covariance of the levels' blocks, taken together.
    ``reported()`` lists, level by level, the variances then the covariances (indices
    into the stacked effects), which is Stata's e(b) order.
    """

    blocks: tuple[CovBlock, ...] = field(init=False)
    levels: tuple[LevelCovariance, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(b for lv in self.levels for b in lv.blocks))

    @property
    def dims(self) -> list[int]:
        return [lv.dim for lv in self.levels]

    def theta_slices(self) -> list[slice]:
        out, j = [], 0
        for lv in self.levels:
            out.append(slice(j, j + lv.n_params))
            j += lv.n_params
        return out

    def reported(self) -> list[tuple[int, int]]:
        out, i = [], 0
        for lv in self.levels:
            out += [(i + a, i + b) for a, b in lv.reported()]
            i += lv.dim
        return out
