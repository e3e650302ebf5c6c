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


CHUNK_ELEMENTS = 4_000_000


def random_part_covariance(
    units: list[np.ndarray], Z: list[np.ndarray], covs: list[np.ndarray]
) -> np.ndarray:
    """Covariance of the random part ``sum_l z_il' u_l`` of the linear predictor between
    rows: the rows share level ``l``'s effects when they share its unit."""
    n = len(units[0]) if units else 0
    S = np.zeros((n, n))
    for unit, z, G in zip(units, Z, covs, strict=True):
        same = unit[:, None] == unit[None, :]
        S += np.where(same, z @ G @ z.T, 0.0)
    return S


def within_cluster_covariance(
    eta: np.ndarray, trials: np.ndarray, S: np.ndarray, points: int = 30
) -> np.ndarray:
    """Marginal covariance of the outcomes ``y_i`` given the covariates, the random
    effects integrated out: ``eta`` is the fixed part of the linear predictor (offset
    included), ``S`` the covariance of its random part between the rows.

    With ``p_i = invlogit(eta_i + w_i)`` and ``y_i | w ~ Binomial(r_i, p_i)``
    independent given ``w``: ``Cov(y_i, y_j) = r_i r_j Cov(p_i, p_j)`` and
    ``Var(y_i) = r_i E[p_i(1 - p_i)] + r_i^2 Var(p_i)``.  Each ``E[p_i p_j]`` is a
    ``points`` x ``points`` Gauss-Hermite product rule over the bivariate normal
    ``(w_i, w_j)``; rows whose random parts are uncorrelated are independent.
    """
    from melogit_cli.engine.quadrature.rules import normal_rule
    from melogit_cli.special import expit

    rule = normal_rule(points, 1)
    x, wts = rule.nodes[:, 0], np.exp(rule.log_weights)
    n = len(eta)
    sd = np.sqrt(np.maximum(np.diag(S), 0.0))
    P = expit(eta[:, None] + sd[:, None] * x[None, :])  # n x K
    m1 = P @ wts
    m2 = (P * P) @ wts
    C = np.zeros((n, n))
    i_idx, j_idx = np.nonzero(np.triu(S != 0.0, k=1))
    step = max(1, CHUNK_ELEMENTS // (points * points))
    for start in range(0, len(i_idx), step):
        i, j = i_idx[start : start + step], j_idx[start : start + step]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.clip(np.where(sd[i] * sd[j] > 0, S[i, j] / (sd[i] * sd[j]), 0.0), -1, 1)
        a = sd[j] * rho  # w_j = a x_k + b x_l, w_i = sd_i x_k
        b = sd[j] * np.sqrt(1 - rho * rho)
        inner = expit(
            eta[j, None, None] + a[:, None, None] * x[None, :, None]
            + b[:, None, None] * x[None, None, :]
        ) @ wts  # pairs x K
        C[i, j] = (P[i] * inner) @ wts - m1[i] * m1[j]
    C = C + C.T
    np.fill_diagonal(C, m2 - m1 * m1)
    r = np.asarray(trials, dtype=float)
    out = C * np.outer(r, r)
    np.fill_diagonal(out, r * (m1 - m2) + r * r * (m2 - m1 * m1))
    return out


def vce_columns(
    colnames: list[str], V: np.ndarray, base: bool = False, omitted: bool = True
) -> tuple[list[str], np.ndarray]:
    """The columns of e(V) that ``estat vce`` shows: base levels only with ``base``,
    omitted coefficients unless ``omitted`` is False."""
    keep = []
    for j, name in enumerate(colnames):
        parts = name.split(":", 1)[-1].split("#")
        is_base = any(re.match(r"^\d+b\.", p) for p in parts)
        is_omitted = any(re.match(r"^\d*o\.", p) or re.match(r"^\d+o\.", p) for p in parts)
        if (is_base and not base) or (is_omitted and not is_base and not omitted):
            continue
        keep.append(j)
    return [colnames[j] for j in keep], V[np.ix_(keep, keep)]


def coefficient_correlation(V: np.ndarray) -> np.ndarray:
    """Correlations of the coefficients; rows and columns of zero variance are missing
    (as Stata's ``vce``)."""
    d = np.diag(V)
    zero = d == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        R = V / np.sqrt(np.outer(d, d))
    np.fill_diagonal(R, 1.0)
    R[zero, :] = np.nan
    R[:, zero] = np.nan
    return R
