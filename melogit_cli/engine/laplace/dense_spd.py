"""A dense symmetric positive definite matrix, factored once: log determinant, solves,
inverse.

Small matrices (the Schur complement of most crossed designs has a few dozen rows) are
inverted outright with numpy, so solves are matrix products and ``scipy.linalg`` is not
imported.  Larger ones keep a LAPACK Cholesky factor and solve with it.
"""

from __future__ import annotations

import numpy as np

SMALL = 400  # up to this order the inverse is formed at once


class DenseSPD:
    """Cholesky factorization of a dense SPD matrix (``LinAlgError`` if it is not SPD)."""

    def __init__(self, S: np.ndarray) -> None:
        self.order = len(S)
        self._inverse: np.ndarray | None = None
        self._cho: tuple[np.ndarray, bool] | None = None
        if self.order <= SMALL:
            L = np.linalg.cholesky(S)
            self.logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
            Linv = np.linalg.inv(L)
            self._inverse = Linv.T @ Linv
        else:
            from scipy.linalg import cho_factor

            self._cho = cho_factor(S, lower=True, check_finite=False)
            self.logdet = 2.0 * float(np.sum(np.log(np.diag(self._cho[0]))))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``S^-1 rhs``."""
        if self._inverse is not None:
            return self._inverse @ rhs
        from scipy.linalg import cho_solve

        assert self._cho is not None
        return cho_solve(self._cho, rhs, check_finite=False)

    def inverse(self) -> np.ndarray:
        """``S^-1`` (symmetric)."""
        if self._inverse is None:
            from scipy.linalg import lapack

            assert self._cho is not None
            inv, info = lapack.dpotri(self._cho[0], lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("matrix not positive definite")
            self._inverse = np.tril(inv) + np.tril(inv, -1).T
        return self._inverse


class BlockDiagonalSPD:
    """An SPD matrix that is block diagonal with ``size`` x ``size`` blocks (the Schur
    complement of a nested design: each cluster of the lower level lies in one group of
    the upper one), factored block by block."""

    def __init__(self, S: np.ndarray, size: int) -> None:
        self.order, self.size = len(S), size
        groups = self.order // size
        at = np.arange(groups)
        blocks = S.reshape(groups, size, groups, size)[at, :, at, :]  # groups x size x size
        L = np.linalg.cholesky(blocks)
        self.logdet = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        self._blocks_inv = np.linalg.inv(blocks)
        self._inverse: np.ndarray | None = None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``S^-1 rhs`` for an m x k matrix."""
        groups, k = self.order // self.size, rhs.shape[1]
        x = np.einsum("gab,gbk->gak", self._blocks_inv, rhs.reshape(groups, self.size, k))
        return x.reshape(self.order, k)

    def inverse(self) -> np.ndarray:
        """``S^-1`` as a dense matrix."""
        if self._inverse is None:
            groups = self.order // self.size
            at = np.arange(groups)
            inv = np.zeros((groups, self.size, groups, self.size))
            inv[at, :, at, :] = self._blocks_inv
            self._inverse = inv.reshape(self.order, self.order)
        return self._inverse
