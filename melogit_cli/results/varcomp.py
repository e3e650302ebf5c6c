"""Statistics of the variance components from e(b) and e(V): intraclass correlations
(``estat icc``), standard deviations and correlations (``estat sd``) and each level's
covariance matrix (``estat recovariance``), with delta-method standard errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from melogit_cli.errors import StataError
from melogit_cli.results.eresults import EResults
from melogit_cli.results.names import (
    Effect,
    ParamName,
    covariance,
    level_path,
    parse,
    variance,
)
from melogit_cli.special import expit, ndtri


def check_level(level: float) -> float:
    """``level(#)``: between 10 and 99.99 (Stata's r(198) otherwise)."""
    if not 10 <= level <= 99.99:
        raise StataError("level() must be between 10 and 99.99 inclusive", 198)
    return float(level)


def _z(level: float) -> float:
    return float(ndtri(0.5 + check_level(level) / 200))


# ---------------------------------------------------------------------- icc


@dataclass
class IccRow:
    label: str  # "district", "mother|family" (lowest level first)
    icc: float
    se: float
    lo: float
    hi: float


@dataclass
class Icc:
    """``estat icc``: one row per level, highest first."""

    title: str
    rows: list[IccRow]
    level: float
    conditional: bool  # random slopes: the ICC is conditional on zero covariates


def icc(e: EResults, level: float = 95.0) -> Icc:
    """Latent-scale ICCs: level i's is the sum of the intercept variances of the levels
    down to i over the sum of all of them plus pi^2/3; delta-method SEs; CIs on the logit
    scale."""
    z = _z(level)
    levels = e.macros.get("ivars", "").split()
    crossed = re.search(r"(?<![A-Za-z0-9_.])R\.", e.macros.get("cmdline", "")) is not None
    if not levels or crossed or "_all" in levels or len(set(levels)) != len(levels):
        raise StataError("estat icc is not available after crossed-effects models", 198)
    names = e.b.colnames
    keys = [str(variance("_cons", level_path(levels[: i + 1]))) for i in range(len(levels))]
    if any(k not in names for k in keys):
        raise StataError("estat icc requires a random intercept at every level of the model", 459)
    idx = [names.index(k) for k in keys]
    v = e.b.data[0, idx].astype(float)
    V = e.V.data[np.ix_(idx, idx)].astype(float)
    total = float(v.sum()) + math.pi**2 / 3
    rows = []
    for i in range(len(levels)):
        part = float(v[: i + 1].sum())
        value = part / total
        grad = np.where(np.arange(len(levels)) <= i, (total - part), -part) / total**2
        se = math.sqrt(max(float(grad @ V @ grad), 0.0))
        if 0 < value < 1:
            logit = math.log(value / (1 - value))
            half = z * se / (value * (1 - value))
            lo, hi = float(expit(logit - half)), float(expit(logit + half))
        else:
            lo = hi = math.nan
        rows.append(IccRow("|".join(reversed(levels[: i + 1])), value, se, lo, hi))
    parsed = [parse(c) for c in names]
    slopes = any(p.kind == "var" and not p.is_intercept_variance for p in parsed)
    if slopes:
        title = "Conditional intraclass correlation"
    elif e.macros.get("covariates", "").strip():
        title = "Residual intraclass correlation"
    else:
        title = "Intraclass correlation"
    return Icc(title, rows, float(level), slopes)


# ---------------------------------------------------------------------- sd


@dataclass
class VarcompTable:
    """Transformed variance components: names, estimates, their covariance and CIs."""

    names: list[str]  # "/:sd(_cons[district])", "/:corr(1.urban[district],_cons[district])"
    b: np.ndarray
    V: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.V), 0.0))


def _components(e: EResults) -> tuple[list[int], list[ParamName]]:
    parsed = [parse(c) for c in e.b.colnames]
    idx = [j for j, p in enumerate(parsed) if p.kind in ("var", "cov")]
    return idx, [parsed[j] for j in idx]


def sd(e: EResults, level: float = 95.0) -> VarcompTable:
    """Standard deviations and correlations in place of variances and covariances
    (``estat sd``): ``sd = sqrt(var)``, ``corr = cov / (sd_a sd_b)``; delta-method
    variances; CIs for sd on the log scale and for corr on the atanh scale, as Stata's."""
    z = _z(level)
    idx, params = _components(e)
    b = e.b.data[0, idx].astype(float)
    V = e.V.data[np.ix_(idx, idx)].astype(float)
    where = {p.effects[0]: i for i, p in enumerate(params) if p.kind == "var"}
    out = np.empty(len(params))
    J = np.zeros((len(params), len(params)))
    names = []
    for i, p in enumerate(params):
        if p.kind == "var":
            s = math.sqrt(b[i]) if b[i] > 0 else 0.0
            out[i] = s
            J[i, i] = 0.5 / s if s > 0 else math.nan
            names.append(f"{p.eq}:sd({p.effects[0]})")
            continue
        ia, ib = where.get(p.effects[0]), where.get(p.effects[1])
        if ia is None or ib is None:  # a shared variance (exchangeable): the first one
            ia = ib = next(iter(where.values()))
        va, vb = b[ia], b[ib]
        denom = math.sqrt(va * vb) if va > 0 and vb > 0 else math.nan
        out[i] = b[i] / denom
        J[i, i] += 1.0 / denom
        J[i, ia] += -0.5 * out[i] / va
        J[i, ib] += -0.5 * out[i] / vb
        names.append(f"{p.eq}:corr({p.effects[0]},{p.effects[1]})")
    Vt = J @ V @ J.T
    se = np.sqrt(np.maximum(np.diag(Vt), 0.0))
    lo, hi = np.full(len(params), math.nan), np.full(len(params), math.nan)
    for i, p in enumerate(params):
        if not (np.isfinite(se[i]) and se[i] > 0):
            continue
        if p.kind == "var" and out[i] > 0:
            r = math.exp(min(z * se[i] / out[i], 700.0))
            lo[i], hi[i] = out[i] / r, out[i] * r
        elif p.kind == "cov" and abs(out[i]) < 1:
            centre, half = math.atanh(out[i]), z * se[i] / (1 - out[i] ** 2)
            lo[i], hi[i] = math.tanh(centre - half), math.tanh(centre + half)
    return VarcompTable(names, out, Vt, lo, hi)


# ---------------------------------------------------------------------- recovariance


@dataclass
class LevelCovarianceMatrix:
    """One level's estimated covariance (or correlation) matrix of its random effects."""

    level: str
    terms: list[str]
    matrix: np.ndarray


def recovariance(
    e: EResults,
    *,
    correlation: bool = False,
    blocks: dict[str, list[list[str]]] | None = None,
) -> list[LevelCovarianceMatrix]:
    """Each level's covariance matrix of the random effects from e(b) (``estat
    recovariance``), levels as e(b) lists them.

    ``blocks`` names, per level, the effects of each covariance block; it places the
    shared variance of an identity or exchangeable block on all its effects (e(b) names
    only the first).  Without it, each level holds the effects e(b) names.
    """
    idx, params = _components(e)
    b = e.b.data[0, idx].astype(float)
    value = {p: float(b[i]) for i, p in enumerate(params)}
    levels: dict[str, list[str]] = {}
    for p in params:
        for eff in p.effects:
            terms = levels.setdefault(eff.level, [])
            if eff.term not in terms:
                terms.append(eff.term)
    out = []
    for lev, named in levels.items():
        groups = (blocks or {}).get(lev) or [[t] for t in named]
        terms = [t for g in groups for t in g]
        at = {t: i for i, t in enumerate(terms)}
        S = np.zeros((len(terms), len(terms)))
        for group in groups:
            if all(variance(t, lev) in value for t in group):
                for t in group:
                    S[at[t], at[t]] = value[variance(t, lev)]
                continue
            # identity or exchangeable: e(b) holds the first effect's variance and,
            # exchangeable, the first pair's covariance, shared by the whole block
            shared = value.get(variance(group[0], lev), 0.0)
            pair = (
                covariance(Effect(group[0], lev), Effect(group[1], lev))
                if len(group) > 1 else None
            )
            for x in group:
                for y in group:
                    if x == y:
                        S[at[x], at[y]] = shared
                    elif pair in value:
                        S[at[x], at[y]] = value[pair]
        for p, v in value.items():
            if p.kind == "cov" and p.level == lev and all(f.term in at for f in p.effects):
                a, c = (at[f.term] for f in p.effects)
                S[a, c] = S[c, a] = v
        if correlation:
            d = np.sqrt(np.diag(S))
            with np.errstate(invalid="ignore", divide="ignore"):
                S = S / np.outer(d, d)
        out.append(LevelCovarianceMatrix(lev, terms, S))
    return out
