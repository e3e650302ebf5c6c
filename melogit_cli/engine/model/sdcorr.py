"""The random-effects parameters as log standard deviations and atanh correlations.

Constraints on variances are linear in Stata's metric (variances) but not in the
engines' log-Cholesky factors; equal variances are equal log standard deviations, a
variance fixed at ``c`` a log standard deviation fixed at ``log(c)/2``, a covariance
fixed at 0 a correlation fixed at 0.  ``SdCorrMetric`` maps these parameters ``s`` (one
per reported variance or covariance, in each block's ``reported()`` order) to the
engines' ``theta``; its derivatives are central differences of that closed-form map
(blocks whose ``theta`` already is a log standard deviation map to themselves).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance
from melogit_cli.engine.optimize.differences import central_differences, second_differences

JACOBIAN_STEP = 1e-5
SECOND_STEP = 1e-4


def _log_sd_block(blk: CovBlock) -> bool:
    """Blocks whose ``theta`` are the log standard deviations themselves."""
    return blk.kind in ("independent", "identity") or blk.size == 1


def _block_s(blk: CovBlock, theta: np.ndarray) -> np.ndarray:
    A = blk.factor(theta)[0]
    sigma = A @ A.T
    out = []
    for a, b in blk.reported():
        if a == b:
            out.append(0.5 * np.log(sigma[a, a]))
        else:
            out.append(np.arctanh(sigma[a, b] / np.sqrt(sigma[a, a] * sigma[b, b])))
    return np.array(out)


def _block_theta(blk: CovBlock, s: np.ndarray) -> np.ndarray:
    m = blk.size
    pairs = blk.reported()
    if blk.kind == "exchangeable":
        var = np.exp(2 * s[0])
        sigma = np.full((m, m), np.tanh(s[1]) * var)
        np.fill_diagonal(sigma, var)
        return blk.theta_from_sigma(sigma)
    sd = np.ones(m)
    for (a, b), v in zip(pairs, s, strict=True):
        if a == b:
            sd[a] = np.exp(v)
    sigma = np.diag(sd**2)
    for (a, b), v in zip(pairs, s, strict=True):
        if a != b:
            sigma[a, b] = sigma[b, a] = np.tanh(v) * sd[a] * sd[b]
    return blk.theta_from_sigma(sigma)


class SdCorrMetric:
    """``x = (beta, theta) = h(beta, s)`` for the covariance ``cov`` after ``p`` coefficients."""

    def __init__(self, cov: LevelCovariance, p: int) -> None:
        self.p = p
        self.n = p + cov.n_params
        self.spans: list[tuple[CovBlock, slice]] = [
            (blk, slice(p + t.start, p + t.stop))
            for blk, _, t in cov.spans()
            if not _log_sd_block(blk)
        ]

    def to_x(self, s: np.ndarray) -> np.ndarray:
        x = np.array(s, dtype=float)
        for blk, sl in self.spans:
            x[sl] = _block_theta(blk, s[sl])
        return x

    def to_s(self, x: np.ndarray) -> np.ndarray:
        s = np.array(x, dtype=float)
        for blk, sl in self.spans:
            s[sl] = _block_s(blk, x[sl])
        return s

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        J = np.eye(self.n)
        for blk, sl in self.spans:
            h = np.full(sl.stop - sl.start, JACOBIAN_STEP)
            J[sl, sl] = central_differences(partial(_block_theta, blk), s[sl], h).T
        return J

    def second(self, s: np.ndarray) -> np.ndarray:
        D = np.zeros((self.n, self.n, self.n))
        for blk, sl in self.spans:
            h = np.full(sl.stop - sl.start, SECOND_STEP)
            d2 = second_differences(partial(_block_theta, blk), s[sl], h)
            D[sl, sl, sl] = d2.transpose(2, 0, 1)
        return D
