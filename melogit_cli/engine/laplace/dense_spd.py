"""A dense symmetric positive definite matrix, factored once: log determinant, solves,
inverse.

Small matrices (the Schur complement of most crossed designs has a few dozen rows) are
inverted outright with numpy, so solves are matrix products and ``scipy.linalg`` is not
imported.  Larger ones keep a LAPACK Cholesky factor and solve with it.
"""

from __future__ import annotations

import os
import sys

import numpy as np

SMALL = 400  # up to this order the inverse is formed at once


def _linalg():
    """``scipy.linalg``, loaded (the first time) with one OpenBLAS thread unless the user
    sets their number: at the orders factored here a thread pool on a busy machine costs
    far more than it gains (a 3,000 x 1,000 crossed fit: 21 s with two contended
    threads, 2.3 s with one).  The variable is read as the library loads, and dropped."""
    if "scipy.linalg" not in sys.modules and "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        import scipy.linalg
        del os.environ["OPENBLAS_NUM_THREADS"]
    import scipy.linalg
    return scipy.linalg


class DenseSPD:
    """Cholesky factorization of a dense SPD matrix (``LinAlgError`` if it is not SPD).

    A large C-ordered ``S`` is read on its upper triangle only and factored in place:
    the caller's array then holds the factor, not ``S``.
    """

    def __init__(self, S: np.ndarray) -> None:
        self.order = len(S)
        self._inverse: np.ndarray | None = None
        self._cho: tuple[np.ndarray, bool] | None = None
        self._Linv: np.ndarray | None = None  # L^-1, formed once when asked for
        if self.order <= SMALL:
            L = np.linalg.cholesky(S)
            self._log_pivots = np.log(L.diagonal())
            self.logdet = 2.0 * float(self._log_pivots.sum())
            self._Linv = np.linalg.inv(L)
            self._inverse = self._Linv.T @ self._Linv
        else:
            # S' is Fortran-ordered and its lower triangle is S's upper one: LAPACK
            # factors it where it lies, without a copy
            factor, info = _linalg().lapack.dpotrf(S.T, lower=1, overwrite_a=1, clean=0)
            if info != 0:
                raise np.linalg.LinAlgError("matrix not positive definite")
            self._cho = (factor, True)
            self._log_pivots = np.log(np.diag(self._cho[0]))
            self.logdet = 2.0 * float(np.sum(self._log_pivots))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``S^-1 rhs``."""
        if self._inverse is not None:
            return self._inverse @ rhs
        assert self._cho is not None
        return _linalg().cho_solve(self._cho, rhs, check_finite=False)

    def copies_logdet(self, copies: np.ndarray) -> float:
        """``sum_e c_e (log L_ee^2 - log c_e)``: the log determinant with each effect's
        unit replicated ``c_e`` times (``S`` the reduced matrix, effects ordered from the
        lowest level up)."""
        return float(copies @ (2.0 * self._log_pivots - np.log(copies)))

    def inverse(self, copies: np.ndarray | None = None, *, triangle: bool = False) -> np.ndarray:
        """``S^-1`` (symmetric); with ``copies``, ``L'^-1 c L^-1``, the inverse of the
        replicated matrix on one copy's effects; ``triangle``: a C-ordered array right on
        its upper triangle is enough (spares symmetrizing LAPACK's inverse)."""
        if copies is not None:
            if self._Linv is None:
                assert self._cho is not None
                self._Linv = _linalg().solve_triangular(
                    self._cho[0], np.eye(self.order), lower=True, check_finite=False
                )
            return self._Linv.T @ (copies[:, None] * self._Linv)
        if self._inverse is None:
            assert self._cho is not None
            inv, info = _linalg().lapack.dpotri(self._cho[0], lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("matrix not positive definite")
            if triangle:  # LAPACK filled the lower triangle of a Fortran-ordered array
                return inv.T
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
        self._log_pivots = np.log(np.diagonal(L, axis1=1, axis2=2)).reshape(-1)
        self.logdet = 2.0 * float(np.sum(self._log_pivots))
        self._blocks_inv = np.linalg.inv(blocks)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``S^-1 rhs`` for an m x k matrix."""
        groups, k = self.order // self.size, rhs.shape[1]
        x = np.einsum("gab,gbk->gak", self._blocks_inv, rhs.reshape(groups, self.size, k))
        return x.reshape(self.order, k)

    copies_logdet = DenseSPD.copies_logdet

    def inverse(self, copies: np.ndarray | None = None, *, triangle: bool = False) -> np.ndarray:
        """``S^-1`` as a dense matrix; with ``copies`` (constant within a block: the
        blocks are the top level's units), the replicated matrix's inverse on one copy's
        effects."""
        del triangle  # filled in full
        blocks_inv = self._blocks_inv
        if copies is not None:
            blocks_inv = blocks_inv * copies[:: self.size, None, None]
        groups = self.order // self.size
        at = np.arange(groups)
        inv = np.zeros((groups, self.size, groups, self.size))
        inv[at, :, at, :] = blocks_inv
        return inv.reshape(self.order, self.order)
