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
