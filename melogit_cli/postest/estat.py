"""The statistics of estat after melogit, computed from e(b) and e(V).

Random-effects parameters are read from e(b)'s names (``/:var(x[lev])``,
``/:cov(a,b[lev])``).  Standard deviations and correlations get delta-method standard
errors; intervals are on the log scale for standard deviations and the atanh scale for
correlations, as Stata reports them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from melogit_cli.special import ndtri

_VAR = re.compile(r"^/:var\((.+)\[(.+)\]\)$")
_COV = re.compile(r"^/:cov\(([^,\[]+)\[([^\]]+)\],([^,\[]+)\[([^\]]+)\]\)$")


@dataclass
class Parameter:
    """One random-effects parameter in the standard-deviation metric."""

    level: str
    label: str  # ``sd(_cons)`` or ``corr(x,_cons)``
    estimate: float
    se: float
    lower: float
    upper: float


def re_positions(colnames: list[str]) -> dict[str, dict[tuple[str, str], int]]:
    """Per level (in e(b)'s order): the column of each (effect, effect) variance/covariance."""
    out: dict[str, dict[tuple[str, str], int]] = {}
    for j, name in enumerate(colnames):
        m = _VAR.match(name)
        if m:
            out.setdefault(m.group(2), {})[(m.group(1), m.group(1))] = j
            continue
        m = _COV.match(name)
        if m:
            out.setdefault(m.group(2), {})[(m.group(1), m.group(3))] = j
    return out


def standard_deviations(
    b: np.ndarray, V: np.ndarray, colnames: list[str], level: float = 95.0
) -> tuple[list[Parameter], np.ndarray, np.ndarray]:
    """sd() and corr() of every level with their errors and intervals; also the vector of
    estimates and its covariance (delta method), in e(b)'s order of the parameters."""
    z = float(ndtri(0.5 + level / 200))
    params: list[Parameter] = []
    est, rows = [], []
    for lev, pos in re_positions(colnames).items():
        for (a, c), j in pos.items():
            g = np.zeros(len(b))
            if a == c:
                sd = math.sqrt(max(b[j], 0.0))
                g[j] = 0.5 / sd if sd > 0 else 0.0
                se = math.sqrt(max(float(g @ V @ g), 0.0))
                half = z * se / sd if sd > 0 else math.nan
                lo, hi = sd * math.exp(-half), sd * math.exp(half)
                params.append(Parameter(lev, f"sd({a})", sd, se, lo, hi))
                value = sd
            else:
                ja, jc = pos[(a, a)], pos[(c, c)]
                va, vc = b[ja], b[jc]
                r = b[j] / math.sqrt(va * vc)
                g[j] = 1 / math.sqrt(va * vc)
                g[ja] = -0.5 * r / va
                g[jc] = -0.5 * r / vc
                se = math.sqrt(max(float(g @ V @ g), 0.0))
                half = z * se / (1 - r * r)
                lo, hi = math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)
                params.append(Parameter(lev, f"corr({a},{c})", r, se, lo, hi))
                value = r
            est.append(value)
            rows.append(g)
    G = np.array(rows) if rows else np.zeros((0, len(b)))
    return params, np.array(est), G @ V @ G.T


def re_covariances(b: np.ndarray, colnames: list[str]) -> list[tuple[str, list[str], np.ndarray]]:
    """Each level's random-effects covariance matrix (level, effect names, matrix).

    Effects without a covariance parameter are uncorrelated (independent and identity
    structures, and between equations).
    """
    out = []
    for lev, pos in re_positions(colnames).items():
        names = [a for (a, c) in pos if a == c]
        S = np.zeros((len(names), len(names)))
        for (a, c), j in pos.items():
            i, k = names.index(a), names.index(c)
            S[i, k] = S[k, i] = b[j]
        out.append((lev, names, S))
    return out


def correlation(S: np.ndarray) -> np.ndarray:
    """The correlation matrix of covariance ``S``."""
    d = np.sqrt(np.diag(S))
    with np.errstate(divide="ignore", invalid="ignore"):
        return S / np.outer(d, d)


def summary(
    values: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float, float, float]:
    """Mean, standard deviation, minimum and maximum (frequency weights when given)."""
    x = values[np.isfinite(values)]
    w = np.ones(len(x)) if weights is None else weights[np.isfinite(values)]
    n = w.sum()
    mean = float(w @ x / n)
    sd = float(math.sqrt(w @ (x - mean) ** 2 / (n - 1))) if n > 1 else math.nan
    return mean, sd, float(x.min()), float(x.max())
