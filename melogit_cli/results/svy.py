"""Survey designs (``svyset``) and the linearized variance of ``svy: melogit``.

A multilevel pseudolikelihood is a sum over the top-level groups, so, as Stata's ``svy``
does for the me commands, the linearization treats each top-level group's score as the
unit's contribution: the groups nest within the primary sampling units (PSUs), the PSU
totals of the weighted scores are centred within their strata, and

    V = D [ sum_h (1 - f_h) n_h/(n_h - 1) sum_i (z_hi - zbar_h)(z_hi - zbar_h)' ] D

with ``D`` the inverse of the negative Hessian of the weighted log pseudolikelihood, ``n_h``
the PSUs of stratum ``h`` and ``f_h`` its first-stage sampling fraction (``fpc()``).  The
design degrees of freedom are ``#PSUs - #strata``.  Later-stage ``fpc()`` only matters in
Stata's formula when the first stage has one (``f_h > 0``); that term needs scores of the
second-stage units, which a multilevel fit does not have, so it is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from melogit_cli.errors import StataError


@dataclass
class Stage:
    """One sampling stage: its unit (``_n`` or a variable), strata, fpc, stage weight."""

    unit: str = "_n"
    strata: str | None = None
    fpc: str | None = None
    weight: str | None = None


@dataclass
class SurveyDesign:
    """What ``svyset`` declared."""

    stages: list[Stage] = field(default_factory=lambda: [Stage()])
    pweight: str | None = None
    dof: float | None = None

    @property
    def psu(self) -> str:
        return self.stages[0].unit


@dataclass
class DesignSummary:
    """The survey header's numbers for one fit."""

    n_strata: int
    n_psu: int
    pop_size: float
    df_r: float
    single_unit: bool  # a stratum with one PSU: standard errors are missing


def _values(frame, name: str, rows: np.ndarray) -> np.ndarray:
    col = frame[name].to_numpy()[rows]
    if col.dtype == object:
        if np.any(col == ""):
            raise StataError(f"missing values in {name} not allowed", 459)
        return col.astype(str)
    col = col.astype(float)
    if np.any(np.isnan(col)):
        raise StataError(f"missing values in {name} not allowed", 459)
    return col


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def psu_structure(
    svy: SurveyDesign, frame, rows: np.ndarray, group_codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSU of each top-level group, stratum of each PSU, sampling fraction of each stratum.

    ``rows`` are the sample's rows of ``frame`` and ``group_codes`` their top-level groups.
    """
    n = int(rows.sum())
    stage = svy.stages[0]
    strata = _codes(_values(frame, stage.strata, rows)) if stage.strata else np.zeros(n, int)
    if stage.unit == "_n":
        unit = np.arange(n)
    else:
        unit = _codes(_values(frame, stage.unit, rows))
    # PSU identifiers are nested within strata, as Stata reads them
    psu = _codes(strata * (int(unit.max()) + 1) + unit) if n else unit
    G = int(group_codes.max()) + 1 if n else 0
    first = np.full(G, -1)
    first[group_codes[::-1]] = psu[::-1]
    if np.any(first[group_codes] != psu):
        name = "the observations" if stage.unit == "_n" else stage.unit
        raise StataError(f"highest-level groups are not nested within {name}", 459)
    P = int(psu.max()) + 1 if n else 0
    psu_stratum = np.zeros(P, int)
    psu_stratum[psu] = strata
    if np.any(psu_stratum[psu] != strata):
        raise StataError("sampling units are not nested within strata", 459)
    H = int(strata.max()) + 1 if n else 0
    fraction = np.zeros(H)
    if stage.fpc:
        fpc = _values(frame, stage.fpc, rows).astype(float)
        n_h = np.bincount(psu_stratum, minlength=H)
        for h in range(H):
            vals = np.unique(fpc[strata == h])
            if vals.size != 1:
                raise StataError("fpc for all observations within a stratum must be the same", 460)
            value = float(vals[0])
            if 0 <= value <= 1:
                fraction[h] = value
            elif value >= n_h[h]:
                fraction[h] = n_h[h] / value
            else:
                raise StataError(
                    "fpc must be <= 1 if a rate, or >= no. sampled PSUs per stratum if PSU totals",
                    462,
                )
    return first, psu_stratum, fraction


def linearized(
    Hinv: np.ndarray,
    group_scores: np.ndarray,
    group_psu: np.ndarray,
    psu_stratum: np.ndarray,
    fraction: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """The linearized variance from the weighted scores of the top-level groups.

    Returns ``(V, single_unit)``; with a stratum of one PSU, V is missing (Stata's default
    ``singleunit(missing)``).
    """
    P, H = psu_stratum.size, fraction.size
    z = np.zeros((P, group_scores.shape[1]))
    np.add.at(z, group_psu, group_scores)
    n_h = np.bincount(psu_stratum, minlength=H)
    if np.any(n_h < 2):
        return np.full_like(Hinv, np.nan), True
    B = np.zeros((z.shape[1], z.shape[1]))
    for h in range(H):
        zh = z[psu_stratum == h]
        dev = zh - zh.mean(axis=0)
        B += (1.0 - fraction[h]) * n_h[h] / (n_h[h] - 1.0) * dev.T @ dev
    return Hinv @ B @ Hinv, False


def adjusted_f(chi2: float, k: float, d: float) -> tuple[float, float, float]:
    """Stata's design-adjusted Wald F: ``F = (d - k + 1)/(d k) W`` on ``(k, d - k + 1)`` df,
    with its upper-tail probability."""
    from scipy.stats import f as f_dist

    df2 = d - k + 1
    if not (k > 0 and df2 > 0 and math.isfinite(chi2)):
        return math.nan, df2, math.nan
    F = chi2 * df2 / (d * k)
    return F, df2, float(f_dist.sf(F, k, df2))


def survey_spec(spec, svy: SurveyDesign, ds):
    """``spec`` with the design's weights: ``[pw=]`` and a ``_n`` stage's ``weight()`` weight
    the observations, a stage whose unit is a model level weights that level's groups."""
    import dataclasses

    from melogit_cli.design.varlist import resolve_one
    from melogit_cli.syntax.expr_parser import parse_expr
    from melogit_cli.syntax.spec import Weight

    if spec.weight is not None or any(
        eq.fweight or eq.iweight or eq.pweight for eq in spec.re_equations
    ):
        raise StataError("weights can only be specified using svyset", 101)
    if spec.options.vce != "oim" or spec.options.vce_clustvar:
        raise StataError("option vce() not allowed with the svy prefix", 198)
    obs_weight = svy.pweight
    equations = [dataclasses.replace(eq) for eq in spec.re_equations]
    levels = {}
    for i, eq in enumerate(equations):
        if eq.level != "_all":
            levels[resolve_one(eq.level, ds)] = i
    for k, stage in enumerate(svy.stages, start=1):
        if stage.weight is None:
            continue
        if stage.unit == "_n":
            if obs_weight is not None:
                raise StataError(
                    "observation-level weights given twice: [pweight=] and a stage weight()", 198
                )
            obs_weight = stage.weight
        elif stage.unit in levels:
            equations[levels[stage.unit]].pweight = stage.weight
        else:
            raise StataError(
                f"stage {k} weight() requires {stage.unit} to identify a level of the model", 459
            )
    options = dataclasses.replace(spec.options, vce="robust")
    weight = None if obs_weight is None else Weight("pweight", parse_expr(obs_weight), obs_weight)
    return dataclasses.replace(spec, weight=weight, re_equations=equations, options=options)


def fit_survey(
    spec,
    svy: SurveyDesign,
    ds,
    sink,
    progress,
    subpop: np.ndarray | None = None,
    matrices: dict | None = None,
):
    """``svy: melogit``: the pseudolikelihood fit with the design's weights and the
    linearized variance; e() as Stata's svy posts it.

    ``subpop`` (a mask over the data's rows): the model is fit on the subpopulation's
    observations while the design (PSUs, strata, design df) is the whole estimation
    sample's; PSUs without subpopulation observations contribute zero scores.
    ``matrices``: those ``from()`` and ``covariance(fixed()|pattern())`` name.
    """
    import dataclasses

    from melogit_cli.design.build import build_design
    from melogit_cli.estimate import Estimation, _variance, estimate
    from melogit_cli.results.build import build_eresults

    if spec.options.constraints:  # the linearized variance is not taken in a reduced space
        raise StataError("option constraints() not allowed with the svy prefix", 198)
    for k, stage in enumerate(svy.stages[1:], start=2):
        if stage.fpc and svy.stages[0].fpc:
            raise StataError(
                f"fpc() at stage {k} is not supported with svy: melogit: it needs scores of "
                "the later-stage units",
                198,
            )
    weighted_spec = survey_spec(spec, svy, ds)
    full = build_design(weighted_spec, ds)
    if any(lv.crossed for lv in full.levels.levels):
        raise StataError("svy is not allowed with crossed random effects", 198)
    full_top = full.levels.levels[0]
    group_psu, psu_stratum, fraction = psu_structure(svy, ds.frame, full.sample, full_top.codes)
    row_psu = np.full(ds.nobs, -1)
    row_psu[full.sample] = group_psu[full_top.codes]
    if subpop is None:
        est = estimate(weighted_spec, ds, sink, progress, matrices=matrices)
        design, fit = est.design, est.fit
    else:
        rows = full.sample & subpop
        if not rows.any():
            raise StataError("no observations in subpopulation", 461)
        ds.as_pandas()
        sub = dataclasses.replace(ds, frame=ds.frame.loc[rows].reset_index(drop=True))
        sub_spec = dataclasses.replace(weighted_spec, if_expr=None, if_text=None, in_range=None)
        est = estimate(sub_spec, sub, sink, progress, matrices=matrices)
        fit = est.fit
        sample = np.zeros(ds.nobs, dtype=bool)
        sample[np.flatnonzero(rows)[est.design.sample]] = True
        design = dataclasses.replace(est.design, sample=sample)
    top = design.levels.levels[0]
    sub_group_psu = np.zeros(top.n_groups, dtype=int)
    sub_group_psu[top.codes] = row_psu[design.sample]
    Hinv, notes = _variance(fit, "oim", design, ds)
    scores = fit.model.cluster_scores(fit.beta, fit.theta, fit.state)
    weighted = scores * fit.model.data.cluster_weight[:, None]
    V, single = linearized(Hinv, weighted, sub_group_psu, psu_stratum, fraction)
    e0 = est.eresults
    method = e0.macros.get("intmethod", "mvaghermite")
    points = int(e0.macros.get("n_quad") or 1)
    e = build_eresults(
        design, fit, fit.model.cov, V, method=method, points=points,
        vce="linearized", vcetype="Linearized", cmdline=spec.cmdline,
    )
    n_psu, n_strata = psu_stratum.size, fraction.size
    df_r = float(svy.dof) if svy.dof is not None else float(n_psu - n_strata)
    chi2, k = e.scalars.get("chi2", math.nan), e.scalars.get("df_m", math.nan)
    F, df2, p = adjusted_f(chi2, k, df_r)
    for key in ("chi2", "p", "ll_c", "chi2_c", "df_c", "p_c"):
        e.scalars.pop(key, None)
    e.scalars.update(
        N_strata=float(n_strata), N_psu=float(n_psu), N_pop=_total_weight(full),
        df_r=df_r, F=F, df_m=k, df2=df2, p=p,
    )
    if subpop is not None:
        e.scalars.update(N_sub=e.scalars["N"], N_subpop=_total_weight(design), N=float(full.N))
    e.macros.pop("chi2type", None)
    e.macros.update(prefix="svy", cmdname="melogit", command=spec.cmdline)
    e.macros["cmdline"] = "svy : " + spec.cmdline
    if svy.pweight:
        e.macros["wtype"], e.macros["wexp"] = "pweight", f"= {svy.pweight}"
    for i, stage in enumerate(svy.stages, start=1):
        e.macros[f"su{i}"] = stage.unit
        for key, value in (("strata", stage.strata), ("fpc", stage.fpc), ("weight", stage.weight)):
            if value:
                e.macros[f"{key}{i}"] = value
    if single:
        notes = notes + [
            "Note: Missing standard errors because of stratum with single sampling unit."
        ]
    return Estimation(e, design, fit, est.notes + notes)


def _total_weight(design) -> float:
    """The sum over the sample of each observation's weight times its groups' weights."""
    weights = design.obs_weight.copy()
    for lv in design.levels.levels:
        weights = weights * lv.cluster_weight[lv.codes]
    return float(weights.sum())
