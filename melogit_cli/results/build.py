"""Design + Fit -> EResults: Stata's metric, delta-method variances, tests, e() contents."""

from __future__ import annotations

import numpy as np

from melogit_cli.design.build import Design
from melogit_cli.engine.fit import Fit
from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.names import (
    Effect,
    ParamName,
    covariance,
    fixed,
    level_path,
    variance,
)
from melogit_cli.special import chi2_tail

TITLE = "Mixed-effects logistic regression"


def re_parameters(
    design: Design, cov: LevelCovariance | NestedCovariance
) -> list[ParamName]:
    """``var(_cons[district])`` / ``cov(1.urban[district],_cons[district])`` in e(b) order.

    Nested levels are labelled by their path, ``var(_cons[family>subject])``, in which
    ``_all`` is left out; an ``R.varname`` equation by its level's path and the
    variable, ``var(_cons[_all>sid])``.  Levels come from the highest down, each with
    its variances then its covariances.
    """
    covs = cov.levels if isinstance(cov, NestedCovariance) else (cov,)
    names: list[ParamName] = []
    path: list[str] = []
    for lv, lcov in zip(design.levels.levels, covs, strict=False):
        path.append(lv.name)
        label = level_path(path)
        # each index of the level's covariance: (effect name, its label)
        index: list[Effect] = []
        ordinary = iter(lv.re_names)
        for blk, cblk in zip(lv.blocks, lcov.blocks, strict=False):
            if blk.is_r:
                index += [Effect("_cons", f"{label}>{blk.r_var}")] * cblk.size
            else:
                index += [Effect(next(ordinary), label) for _ in range(cblk.size)]
        for a, b in lcov.reported():
            if a == b:
                names.append(variance(index[a].term, index[a].level))
            else:
                names.append(covariance(index[min(a, b)], index[max(a, b)]))
    return names


def stata_metric(
    cov: LevelCovariance | NestedCovariance, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reported variances/covariances and their Jacobian with respect to ``theta``."""
    sigma, dS, _ = cov.sigma_derivatives(theta)
    pairs = cov.reported()
    values = np.array([sigma[a, b] for a, b in pairs])
    jac = np.array([[dS[t, a, b] for t in range(cov.n_params)] for a, b in pairs])
    return values, jac.reshape(len(pairs), cov.n_params)


def build_eresults(
    design: Design,
    fit: Fit,
    cov: LevelCovariance | NestedCovariance,
    V_internal: np.ndarray,
    *,
    method: str,
    points: int,
    vce: str,
    vcetype: str,
    cmdline: str,
) -> EResults:
    """Every e() result of the manual's list that applies to this fit."""
    fx = design.fixed
    depvar = design.depvar
    fixed_names = list(fx.names)
    keep = fx.keep.copy()
    if design.spec.noconstant:  # meglm keeps an omitted, constrained _cons
        fixed_names.append("o._cons")
        keep = np.append(keep, False)
    p_all = len(keep)
    re_values, J = stata_metric(cov, fit.theta)
    k_r = len(re_values)
    k = p_all + k_r

    b = np.zeros(k)
    b[:p_all][keep] = fit.beta
    b[p_all:] = re_values
    # map the internal covariance (beta, theta) to (beta, Stata's var/cov)
    p = int(keep.sum())
    T = np.zeros((p + k_r, p + cov.n_params))
    T[:p, :p] = np.eye(p)
    T[p:, p:] = J
    V_est = T @ V_internal @ T.T
    V_est = (V_est + V_est.T) / 2  # exactly symmetric, as Stata posts e(V)
    idx = np.concatenate([np.flatnonzero(keep), p_all + np.arange(k_r)])
    V = np.zeros((k, k))
    V[np.ix_(idx, idx)] = V_est

    colnames = [str(fixed(depvar, n)) for n in fixed_names] + [
        str(p) for p in re_parameters(design, cov)
    ]

    # Wald test of the fixed effects (constant excluded)
    wald_idx = [j for j, c in enumerate(fx.columns) if keep[j] and not c.is_cons]
    finite_V = bool(np.all(np.isfinite(V_est)))
    chi2, df_m = _wald(b[wald_idx], V[np.ix_(wald_idx, wald_idx)])
    ll, ll_c = fit.ll, fit.ll_c
    chi2_c = max(0.0, 2.0 * (ll - ll_c))
    df_c = k_r
    p_c = 0.5 * chi2_tail(1, chi2_c) if df_c == 1 else chi2_tail(df_c, chi2_c)
    if chi2_c == 0.0 and df_c == 1:
        p_c = 1.0 if chi2_c == 0 else p_c

    levels = design.levels.levels
    lv_names = [lv.name for lv in levels]
    sizes = [lv.sizes for lv in levels]
    ilog = fit.ilog[-20:] if fit.ilog else []

    grad_internal = fit.gradient
    grad = np.zeros(k)
    grad[:p_all][keep] = grad_internal[:p]
    if cov.n_params and k_r == cov.n_params:
        try:
            grad[p_all:] = np.linalg.solve(J.T, grad_internal[p:])
        except np.linalg.LinAlgError:
            grad[p_all:] = np.nan

    e = EResults()
    e.scalars = {
        "N": float(design.N),
        "k": float(k),
        "k_dv": 1.0,
        "k_eq": float(1 + k_r),
        "k_eq_model": 1.0,
        "k_f": float(p_all),
        "k_r": float(k_r),
        "k_rs": float(sum(1 for a, c in cov.reported() if a == c)),
        "k_rc": float(sum(1 for a, c in cov.reported() if a != c)),
        "df_m": float(df_m),
        "ll": ll,
        "N_clust": float(levels[0].n_groups),
        "chi2": chi2,
        "p": float(chi2_tail(df_m, chi2)) if df_m > 0 and np.isfinite(chi2) else np.nan,
        "ll_c": ll_c,
        "chi2_c": chi2_c,
        "df_c": float(df_c),
        "p_c": float(p_c),
        "rank": float(np.linalg.matrix_rank(V_est)) if V_est.size and finite_V else 0.0,
        "ic": float(fit.iterations),
        "rc": 0.0 if fit.converged else 430.0,
        "converged": 1.0 if fit.converged else 0.0,
    }
    covariates = " ".join(
        dict.fromkeys(v for c in fx.columns if not c.is_cons for v in c.variables)
    )
    macros = {
        "cmd": "meglm",
        "cmd2": "melogit",
        "cmdline": cmdline,
        "depvar": depvar,
        "covariates": covariates,
        "ivars": " ".join(lv_names),
        "model": "logistic",
        "title": TITLE,
        "link": "logit",
        "family": design.family,
        "clustvar": lv_names[0],
        "intmethod": method,
        "n_quad": "" if method in ("laplace", "pclaplace") else str(points),
        "chi2type": "Wald",
        "vce": vce,
        "vcetype": vcetype,
        "opt": "moptimize",
        "which": "max",
        "ml_method": "d2",
        "user": "melogit_cli",
        "technique": "nr",
        "properties": "b V",
        "estat_cmd": "meglm_estat",
        "predict": "meglm_p",
        "marginsnotok": "stdp reffects reses",
        "asbalanced": "",
        "asobserved": "",
    }
    if design.weight_type:
        macros["wtype"] = design.weight_type
        macros["wexp"] = f"= {design.weight_text}"
        macros["marginswtype"] = design.weight_type
        macros["marginswexp"] = f"= {design.weight_text}"
    for i, lv in enumerate(levels):
        if lv.weight_type:
            macros[f"{lv.weight_type}{i + 2}"] = lv.weight_var
    if design.offset_var:
        macros["offset"] = design.offset_var
    if design.family == "binomial":
        macros["binomial"] = design.binomial_text
    e.macros = {k_: v for k_, v in macros.items() if v != "" or k_ in ("vcetype",)}

    e.matrices = {
        "b": Matrix(["y1"], colnames, b[None, :]),
        "V": Matrix(colnames, colnames, V),
        "V_modelbased": Matrix(colnames, colnames, V),
        "gradient": Matrix(["r1"], colnames, grad[None, :]),
        "ilog": Matrix(
            ["r1"],
            [f"c{i + 1}" for i in range(max(len(ilog), 1))],
            np.array([ilog or [np.nan]], dtype=float),
        ),
        "N_g": Matrix(["r1"], lv_names, np.array([[lv.n_groups for lv in levels]], dtype=float)),
        "g_min": Matrix(["r1"], lv_names, np.array([[s.min() for s in sizes]], dtype=float)),
        "g_avg": Matrix(["r1"], lv_names, np.array([[s.mean() for s in sizes]], dtype=float)),
        "g_max": Matrix(["r1"], lv_names, np.array([[s.max() for s in sizes]], dtype=float)),
    }
    if design.spec.noconstant:
        e.matrices["Cns"] = _cons_constraint(colnames, depvar)
    e.empty_cells = frozenset(colnames[j] for j in np.flatnonzero(fx.empty))
    e.value_labels = {
        v: labels
        for v, labels in design.value_labels.items()
        if any(v in c.variables for c in fx.columns)
        or any(v in n for lv in levels for n in lv.re_names)
    }
    return e


def _wald(b: np.ndarray, V: np.ndarray) -> tuple[float, int]:
    if b.size == 0:
        return 0.0, 0
    if not np.all(np.isfinite(V)):  # a missing variance (one robust cluster) tests nothing
        return np.nan, b.size
    Vi = np.linalg.pinv(V)
    return float(b @ Vi @ b), int(np.linalg.matrix_rank(V))


def _cons_constraint(colnames: list[str], depvar: str) -> Matrix:
    """meglm fits ``noconstant`` with ``_cons`` constrained to 0 (the manual's example 3)."""
    names = colnames + ["_r"]
    row = np.zeros((1, len(names)))
    for j, n in enumerate(colnames):
        if n in (str(fixed(depvar, "_cons")), str(fixed(depvar, "o._cons"))):
            row[0, j] = 1.0
    return Matrix(["_ce_1"], names, row)
