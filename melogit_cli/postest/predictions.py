"""Predictions from the linear predictor: means, residuals, densities and distributions.

Everything here works on plain arrays (one entry per observation): the linear predictor
``eta``, the outcome ``y`` and the binomial trials ``r`` (1 for a Bernoulli outcome).
``fitted_eta`` assembles ``eta`` for the estimation sample of a fit.
"""

from __future__ import annotations

import numpy as np

from melogit_cli.postest.effects import LevelEffects
from melogit_cli.special import expit

RESIDUALS = ("pearson", "deviance", "anscombe")


def re_contribution(
    Z: list[np.ndarray], units: list[np.ndarray], effects: list[LevelEffects]
) -> np.ndarray:
    """``sum_l z_il' u_l[unit_il]`` per row; NaN where a row's unit is -1 (not predicted)."""
    n = len(units[0]) if units else 0
    total = np.zeros(n)
    for z, unit, eff in zip(Z, units, effects, strict=True):
        ok = unit >= 0
        u = np.zeros((n, eff.q))
        u[ok] = eff.mean[unit[ok]]
        total += np.einsum("iq,iq->i", np.where(ok[:, None], z, 0.0), u)
        total[~ok] = np.nan
    return total


def fitted_eta(estimation, effects: list[LevelEffects] | None, offset: bool = True) -> np.ndarray:
    """The linear predictor of the estimation sample (design row order): the fixed portion
    plus, unless ``effects`` is None, the predicted random effects."""
    design, fit = estimation.design, estimation.fit
    eta = design.fixed.x_est @ fit.beta + (design.offset if offset else 0.0)
    if effects is None:
        return eta
    Z = [eff.Z for eff in effects]
    return eta + re_contribution(Z, [eff.unit for eff in effects], effects)


def mean(eta: np.ndarray, trials: np.ndarray | float = 1.0) -> np.ndarray:
    """The predicted mean ``r invlogit(eta)``."""
    return trials * expit(eta)


def residuals(
    kind: str, y: np.ndarray, eta: np.ndarray, trials: np.ndarray | float = 1.0
) -> np.ndarray:
    """Pearson, deviance or Anscombe residuals of a binomial outcome (as Stata's glm)."""
    r = np.broadcast_to(np.asarray(trials, dtype=float), np.shape(y))
    p = expit(eta)
    mu = r * p
    if kind == "pearson":
        return (y - mu) / np.sqrt(mu * (1 - p))
    if kind == "deviance":
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / mu), 0.0)
            b = np.where(r - y > 0, (r - y) * np.log((r - y) / (r - mu)), 0.0)
        return np.sign(y - mu) * np.sqrt(np.maximum(2 * (a + b), 0.0))
    if kind == "anscombe":
        from scipy.special import beta as beta_fn
        from scipy.special import betainc

        def A(z: np.ndarray) -> np.ndarray:
            return beta_fn(2 / 3, 2 / 3) * betainc(2 / 3, 2 / 3, np.clip(z, 0.0, 1.0))

        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(r) * (A(y / r) - A(p)) / (p * (1 - p)) ** (1 / 6)
    raise ValueError(f"residual kind must be one of {RESIDUALS}")


def density(y: np.ndarray, eta: np.ndarray, trials: np.ndarray | float = 1.0) -> np.ndarray:
    """The binomial probability of the observed outcome, ``P(Y = y)``."""
    from melogit_cli.special import log_binomial_coefficients

    r = np.broadcast_to(np.asarray(trials, dtype=float), np.shape(y))
    log_f = log_binomial_coefficients(r, y) + y * eta - r * np.logaddexp(0.0, eta)
    return np.exp(log_f)


def distribution(y: np.ndarray, eta: np.ndarray, trials: np.ndarray | float = 1.0) -> np.ndarray:
    """The binomial cumulative probability ``P(Y <= y)``."""
    from scipy.special import bdtr

    r = np.broadcast_to(np.asarray(trials, dtype=float), np.shape(y))
    out = np.full(np.shape(y), np.nan)
    ok = np.isfinite(y) & np.isfinite(eta) & np.isfinite(r)
    out[ok] = bdtr(np.floor(y[ok]), r[ok].astype(np.int64), expit(eta[ok]))
    return out


def marginal_mean(xb: np.ndarray, sd: np.ndarray, points: int) -> np.ndarray:
    """``E[invlogit(xb + s z)]`` over ``z ~ N(0, 1)`` by ``points``-point Gauss-Hermite
    quadrature, where ``s`` (``sd``) is the standard deviation of a row's random part of
    the linear predictor: the random effects, normal with mean zero, enter it only
    through ``z' u``."""
    from melogit_cli.engine.quadrature.rules import normal_rule

    rule = normal_rule(points, 1)
    weights = np.exp(rule.log_weights)
    out = np.empty(len(xb))
    step = max(1, 4_000_000 // rule.size)
    for i in range(0, len(xb), step):
        sl = slice(i, i + step)
        out[sl] = expit(xb[sl, None] + sd[sl, None] * rule.nodes[:, 0]) @ weights
    return out


def random_part_sd(Z: list[np.ndarray], covs: list[np.ndarray]) -> np.ndarray:
    """Each row's standard deviation of ``sum_l z_l' u_l`` (levels independent)."""
    var = sum(np.einsum("ia,ab,ib->i", z, c, z) for z, c in zip(Z, covs, strict=True))
    return np.sqrt(np.maximum(var, 0.0))
