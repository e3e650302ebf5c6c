"""The special functions every fit needs, without importing ``scipy.special``.

Importing ``scipy.special`` takes longer than fitting the manual's examples, so the
logistic function, log-sum-exp, normal tail probabilities and quantiles, and the
chi-squared tail probability for whole degrees of freedom are written here with
numpy and the standard library (``math.erfc``, ``statistics.NormalDist``).  The tests
compare each with its scipy counterpart.  Rarely needed functions (``gammaln`` for
binomial constants) are imported from scipy where they are used.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()


def expit(x: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + e^-x)``.  Where ``e^-x`` overflows (x < -709)
    the result is 0, below the smallest double anyway; elsewhere the formula is accurate
    to the last bit on both sides (scipy's ``expit`` is the same formula)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        out = np.exp(-x)
    if x.ndim == 0:
        return np.asarray(1.0 / (1.0 + out))
    out += 1.0
    return np.reciprocal(out, out=out)


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)``, as ``np.logaddexp(0, x)`` to within an ulp and a few times
    faster (numpy's is a scalar loop)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis``, shifted by the maximum."""
    top = np.max(a, axis=axis, keepdims=True)
    if np.isfinite(top).all():
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
        return np.squeeze(out, axis=axis)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return np.squeeze(out, axis=axis)


def ndtr(z: float) -> float:
    """Standard normal distribution function."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def ndtri(p: float) -> float:
    """Standard normal quantile."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return _NORMAL.inv_cdf(p)


def chi2_tail(df: int, x: float) -> float:
    """``Pr(chi2(df) > x)`` for whole ``df >= 1`` (Stata's ``chi2tail()``).

    Closed forms: with ``h = x / 2``, even ``df`` gives ``e^-h sum_{j < df/2} h^j / j!``;
    odd ``df`` gives ``erfc(sqrt h) + e^-h sum_{1 <= j <= (df-1)/2} h^(j-1/2) / Gamma(j+1/2)``.
    Terms are summed in logs so that large ``x`` or ``df`` neither overflow nor underflow.
    """
    if df != int(df) or df < 1:
        raise ValueError("chi2_tail needs whole degrees of freedom >= 1")
    if not math.isfinite(x):
        return 0.0 if x > 0 else 1.0
    if x <= 0.0:
        return 1.0
    df = int(df)
    h = 0.5 * x
    log_h = math.log(h)
    if df % 2 == 0:
        logs = [j * log_h - math.lgamma(j + 1) for j in range(df // 2)]
        head = 0.0
    else:
        logs = [(j - 0.5) * log_h - math.lgamma(j + 0.5) for j in range(1, (df - 1) // 2 + 1)]
        head = math.erfc(math.sqrt(h))
    if not logs:
        return head
    top = max(logs)
    tail = math.exp(top - h) * math.fsum(math.exp(v - top) for v in logs)
    return min(1.0, head + tail)


def log_binomial_coefficients(trials: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log C(r, y)`` per row; zero (and no scipy import) for Bernoulli outcomes."""
    trials = np.asarray(trials, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.zeros(np.broadcast(trials, y).shape)
    inner = (y > 0) & (y < trials)
    if inner.any():
        from scipy.special import gammaln

        r, k = np.broadcast_to(trials, out.shape)[inner], np.broadcast_to(y, out.shape)[inner]
        out[inner] = gammaln(r + 1) - gammaln(k + 1) - gammaln(r - k + 1)
    return out


def log_binomial_constant(trials: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float:
    """Sum of ``w log C(r, y)``, the part of a binomial log likelihood free of the
    parameters: zero for Bernoulli data."""
    return float(np.sum(weight * log_binomial_coefficients(trials, y)))
