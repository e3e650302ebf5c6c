"""One ``melogit`` estimation: spec + data -> design -> engine -> e() results."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from melogit_cli.cns import ModelConstraints, model_constraints, restriction_rows
from melogit_cli.data.dataset import Dataset
from melogit_cli.design.build import Design, build_design, check_supported
from melogit_cli.design.levels import Level
from melogit_cli.engine.allocator import keep_freed_memory
from melogit_cli.engine.events import Event, EventSink, Message, ignore
from melogit_cli.engine.fit import Fit, Problem, StartOptions, fit
from melogit_cli.engine.integration import LAPLACE, Integration
from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance, NestedCovariance
from melogit_cli.engine.optimize.newton import Display, Settings, infeasible
from melogit_cli.engine.optimize.shown_metric import ShownMetric
from melogit_cli.engine.quadrature.twolevel import ClusterData
from melogit_cli.engine.registry import select
from melogit_cli.errors import StataError, option_not_allowed
from melogit_cli.results import names
from melogit_cli.results.build import build_eresults, re_parameters
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.syntax.optargs import technique_steps
from melogit_cli.syntax.spec import ModelSpec, Options

if TYPE_CHECKING:  # imported where a nested or crossed model needs them
    from melogit_cli.engine.model.crossed_data import CrossedData
    from melogit_cli.engine.model.nested_data import NestedData

CROSSED_NOTE = "note: crossed random-effects model specified; option intmethod(laplace) implied."
MAX_CROSSED_QUADRATURE_DIM = 5  # R.-expanded effects that quadrature may still integrate


@dataclass
class Estimation:
    """Everything one fit produced."""

    eresults: EResults
    design: Design
    fit: Fit
    notes: list[str]


def integration(options: Options, crossed: bool = False) -> tuple[str, int]:
    """The integration method and points, with Stata's defaults and checks.

    Crossed models (any ``R.varname``) default to the Laplacian approximation.
    """
    method = options.intmethod or ("laplace" if crossed else "mvaghermite")
    if method in LAPLACE:
        if options.intpoints is not None:
            raise StataError(f"option intpoints() not allowed with intmethod({method})", 198)
        return method, 1
    points = 7 if options.intpoints is None else options.intpoints
    if points < 1:
        raise StataError("intpoints() must be a positive integer", 198)
    return method, points


def estimate(
    spec: ModelSpec,
    ds: Dataset,
    sink: EventSink = ignore,
    progress: EventSink = ignore,
    constraints: dict[int, str] | None = None,
    matrices: dict[str, Matrix] | None = None,
    arrays: Callable[[Design], tuple] | None = None,
    build: Callable[[ModelSpec, Dataset], Design] | None = None,
) -> Estimation:
    """Fit ``spec`` on ``ds`` as Stata's melogit does.

    ``sink`` gets the iteration log (none of the fit's events under ``nolog``);
    ``progress`` gets every event of the fit, ``nolog`` or not; ``constraints`` holds the
    defined constraints (``constraint define``) that ``constraints(numlist)`` refers to,
    ``matrices`` the matrices that ``covariance(fixed()|pattern())`` may name; ``arrays``
    lays the design out for an engine kept elsewhere (a Dask cluster) instead of here,
    ``build`` decides the design there (``ds`` then holds the data's columns, no rows).

    Floating-point warnings are silenced: extreme data overflow in places whose
    results the fit checks (non-finite likelihoods, derivatives and steps end it with
    Stata's error), and a warning printed by numpy is nothing Stata would show.  A
    replay (``melogit`` without a model) has nothing to replay here.
    """
    if spec.replay:
        raise StataError("last estimates not found", 301)
    with np.errstate(all="ignore"):
        return _estimate(
            spec, ds, sink, progress, constraints or {}, matrices or {}, arrays, build
        )


def _estimate(
    spec: ModelSpec,
    ds: Dataset,
    sink: EventSink,
    progress: EventSink,
    defined: dict[int, str],
    matrices: dict[str, Matrix],
    arrays: Callable[[Design], tuple] | None = None,
    build: Callable[[ModelSpec, Dataset], Design] | None = None,
) -> Estimation:
    check_supported(spec)
    keep_freed_memory()
    opts = spec.options
    crossed = any(eq.r_var is not None for eq in spec.re_equations)
    method, points = integration(opts, crossed)
    _refuse_unsupported(opts)
    design = (build or build_design)(spec, ds)
    nested = len(design.levels.levels) > 1
    weighted = bool(design.weight_type) or any(lv.weight_type for lv in design.levels.levels)
    if method in LAPLACE and weighted:
        raise StataError("weights not allowed with intmethod(laplace)", 101)
    notes: list[str] = []
    if crossed:
        _check_crossed(design, method, weighted)
        if opts.intmethod is None:
            notes.append(CROSSED_NOTE)
    notes += design.notes
    for note in notes:
        sink(Message(note))

    computed = Integration.of(method, points)
    engine = select(
        "nested" if nested else "two-level",
        computed.method,
        scores=opts.vce != "oim" or _pweighted(design),
        weighted=weighted,
    )
    data, cov = (arrays or ARRAYS[engine.layout])(design)
    problem = Problem(
        data, cov, computed.method, computed.points, has_constant=not spec.noconstant
    )
    settings = Settings(
        iterate=300 if opts.iterate is None else opts.iterate,
        tolerance=opts.tolerance,
        ltolerance=opts.ltolerance,
        nrtolerance=opts.nrtolerance,
        nonrtolerance=opts.nonrtolerance,
        difficult=opts.difficult,
        technique=technique_steps(opts.technique),
        display=Display(
            trace=opts.trace,
            gradient=opts.gradient,
            hessian=opts.hessian,
            showstep=opts.showstep,
            showtolerance=opts.showtolerance,
            names=_parameter_names(design, cov),
            metric=ShownMetric(int(design.fixed.keep.sum()), cov),
        ),
    )
    start = _start_options(spec, design, cov, matrices)
    restrictions = restriction_rows(design, cov, matrices)
    cns = None
    if opts.constraints or restrictions:
        cns = model_constraints(opts.constraints, defined, design, cov, restrictions)
    if cns is not None:
        for k in cns.dropped:
            msg = f"note: constraint {k} dropped"
            notes.append(msg)
            sink(Message(msg))
    fit_sink = _tee(progress, sink if opts.log else ignore)
    result = fit(
        problem,
        settings,
        start,
        fit_sink,
        numerical=opts.dnumerical,
        noestimate=opts.noestimate,
        constraints=cns.linear if cns is not None else None,
    )
    vce, vcetype = _vce_kind(spec, design)
    V_internal, v_notes = _variance(result, vce, design, ds)
    e = build_eresults(
        design,
        result,
        cov,
        V_internal,
        method=method,
        points=points,
        vce=vce,
        vcetype=vcetype,
        cmdline=spec.cmdline,
    )
    if cns is not None:
        _post_constraints(e, cns)
    if vce == "cluster" and opts.vce_clustvar:
        from melogit_cli.design.varlist import resolve_one

        e.macros["clustvar"] = resolve_one(opts.vce_clustvar, ds)
        e.scalars["N_clust"] = float(_robust_groups(design, ds).max() + 1)
    return Estimation(e, design, result, notes + result.notes + v_notes)


def _post_constraints(e: EResults, cns: ModelConstraints) -> None:
    """e(Cns) (the user's constraints, then meglm's own on an omitted ``_cons``)."""
    names = list(e.b.colnames)
    rows = cns.rows
    own = e.matrices.get("Cns")
    if own is not None:
        rows = np.vstack([rows, np.atleast_2d(np.asarray(own.data, dtype=float))])
    e.matrices["Cns"] = Matrix([f"_ce_{i + 1}" for i in range(len(rows))], names + ["_r"], rows)
    e.scalars["has_cns"] = 1.0
    # a parameter fixed by a constraint has no variance: exactly 0, which the chain through
    # the log-SD metric's difference Jacobian leaves at rounding level
    fixed = [int(np.flatnonzero(r[:-1])[0]) for r in cns.rows if np.count_nonzero(r[:-1]) == 1]
    for key in ("V", "V_modelbased"):
        if key in e.matrices and fixed:
            V = np.array(e.matrices[key].data, dtype=float)
            V[fixed, :] = 0.0
            V[:, fixed] = 0.0
            e.matrices[key] = Matrix(e.matrices[key].rownames, e.matrices[key].colnames, V)


def cluster_arrays(design: Design) -> tuple[ClusterData, LevelCovariance]:
    """The two-level engine's arrays, rows sorted by cluster."""
    level = design.levels.levels[0]
    order = np.argsort(level.codes, kind="stable")
    codes = level.codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    starts = np.append(starts, len(codes))
    fx = design.fixed
    data = ClusterData(
        y=design.y[order],
        trials=design.trials[order],
        X=fx.x_est[order],
        offset=design.offset[order],
        obs_weight=design.obs_weight[order],
        Z=level.dense_z()[order],
        starts=starts,
        cluster_weight=level.cluster_weight,
    )
    return data, level_covariance(level)


def level_covariance(level: Level) -> LevelCovariance:
    """The covariance of one level's random effects, as the engines parametrize it."""
    return LevelCovariance(tuple(CovBlock(b.kind, b.dense_size) for b in level.blocks))


def nested_arrays(design: Design) -> tuple[NestedData, NestedCovariance]:
    """The nested engine's arrays, rows sorted by the level ids (highest level first)."""
    from melogit_cli.engine.model.nested_data import NestedData

    levels = design.levels.levels
    order = design.levels.order
    fx = design.fixed
    data = NestedData(
        y=design.y[order],
        trials=design.trials[order],
        X=fx.x_est[order],
        offset=design.offset[order],
        obs_weight=design.obs_weight[order],
        Z=[lv.dense_z()[order] for lv in levels],
        row_unit=[lv.codes[order] for lv in levels],
        unit_weight=[lv.cluster_weight for lv in levels],
    )
    return data, NestedCovariance(tuple(level_covariance(lv) for lv in levels))


def crossed_arrays(design: Design) -> tuple[CrossedData, NestedCovariance]:
    """The crossed engine's terms: each level's ordinary effects, and each ``R.`` equation.

    An ``R.varname`` block has one parameter and, per group (a level of ``varname``
    within a cluster of its level), one effect; the covariance lists it with size 1.
    """
    from melogit_cli.engine.model.crossed_data import CrossedData, RETerm

    fx = design.fixed
    n = len(design.y)
    terms: list[RETerm] = []
    level_covs = []
    j = 0
    for lv in design.levels.levels:
        blocks, ordinary, ordinary_idx = [], [], []
        for b in lv.blocks:
            cb = CovBlock(b.kind, 1 if b.is_r else len(b.names))
            idx = np.arange(j, j + cb.n_params)
            j += cb.n_params
            blocks.append(cb)
            if b.is_r:
                assert b.r_codes is not None
                key = lv.codes * max(b.r_levels, 1) + b.r_codes
                _, group = np.unique(key, return_inverse=True)
                group = group.reshape(-1).astype(np.int64)
                terms.append(
                    RETerm(
                        f"{lv.name}>{b.r_var}",
                        group,
                        int(group.max()) + 1,
                        np.ones((n, 1)),
                        LevelCovariance((cb,)),
                        idx,
                    )
                )
            else:
                ordinary.append(cb)
                ordinary_idx.append(idx)
        if ordinary:
            terms.append(
                RETerm(
                    lv.name,
                    lv.codes,
                    lv.n_groups,
                    lv.Z,
                    LevelCovariance(tuple(ordinary)),
                    np.concatenate(ordinary_idx),
                    lv.cluster_weight if np.any(lv.cluster_weight != 1) else None,
                )
            )
        level_covs.append(LevelCovariance(tuple(blocks)))
    data = CrossedData(
        y=design.y,
        trials=design.trials,
        X=fx.x_est,
        offset=design.offset,
        obs_weight=design.obs_weight,
        terms=terms,
    )
    return data, NestedCovariance(tuple(level_covs))


ARRAYS: dict[str, Callable[[Design], tuple]] = {
    "clusters": cluster_arrays,
    "nested": nested_arrays,
    "crossed": crossed_arrays,
}


def _check_crossed(design: Design, method: str, weighted: bool) -> None:
    """Crossed models: Laplace, or quadrature when the R.-expanded dimension is small."""
    opts = design.spec.options
    if weighted:
        raise StataError("weights not allowed with crossed random effects", 101)
    if opts.vce != "oim" and method in LAPLACE:
        raise StataError(f"vce({opts.vce}) not allowed with crossed random effects", 198)
    if method in LAPLACE:
        return
    dim = sum(b.dense_size for lv in design.levels.levels for b in lv.blocks)
    if dim > MAX_CROSSED_QUADRATURE_DIM:
        raise StataError(
            f"intmethod({method}) not allowed with crossed random effects of total "
            f"dimension {dim};\nquadrature is feasible only up to dimension "
            f"{MAX_CROSSED_QUADRATURE_DIM}; use intmethod(laplace)",
            198,
        )


def _tee(first: EventSink, second: EventSink) -> EventSink:
    """One sink that hands each event to ``first``, then to ``second``."""
    if first is ignore:
        return second
    if second is ignore:
        return first

    def both(event: Event) -> None:
        first(event)
        second(event)

    return both


def _refuse_unsupported(opts: Options) -> None:
    if opts.startvalues not in (None, "zero", "constantonly", "fixedonly", "iv"):
        raise option_not_allowed(f"startvalues({opts.startvalues})")
    if opts.noestimate:
        # Stata shows the start values in the coeflegend style
        opts.coeflegend = True


def _parameter_names(design: Design, cov: LevelCovariance | NestedCovariance) -> tuple[str, ...]:
    """The maximizer's parameters as the detailed log labels them: e(b)'s names, the
    coefficients then the variances and covariances (the log shows them in that metric,
    see engine/optimize/shown_metric.py)."""
    fx = design.fixed
    fixed = [
        str(names.fixed(design.depvar, n)) for n, k in zip(fx.names, fx.keep, strict=False) if k
    ]
    return tuple(fixed + [str(p) for p in re_parameters(design, cov)])


def _start_options(
    spec: ModelSpec,
    design: Design,
    cov: LevelCovariance | NestedCovariance,
    matrices: dict[str, Matrix],
) -> StartOptions:
    opts = spec.options
    grid = None
    if opts.startgrid is not None:
        text = opts.startgrid.strip()
        try:
            grid = tuple(float(t) for t in text.replace(",", " ").split()) if text else ()
        except ValueError:
            raise StataError(f"startgrid({text}) invalid", 198) from None
    x0 = None
    if opts.from_ is not None:
        x0 = _from_values(spec, design, cov, matrices)
    return StartOptions(method=opts.startvalues or "fixedonly", grid=grid, x0=x0)


def _from_values(
    spec: ModelSpec,
    design: Design,
    cov: LevelCovariance | NestedCovariance,
    matrices: dict[str, Matrix],
) -> np.ndarray:
    """``from(name=value ...)`` or ``from(matname [, skip copy])`` (a row or column
    vector of ``matrices``, as ``matrix b = e(b)`` leaves it: by column name, by position
    under ``copy``) in Stata's names -> the internal start vector."""
    fr = spec.options.from_
    assert fr is not None
    vector, given = None, fr.values
    if fr.matname:
        vector, given = _from_matrix(fr.matname, matrices, fr.copy)
    fx = design.fixed
    fixed_names = [n for n, k in zip(fx.names, fx.keep, strict=False) if k]
    re_params = re_parameters(design, cov)
    beta = np.zeros(len(fixed_names))
    reported = [1.0 if a == b else 0.0 for a, b in cov.reported()]  # unless given
    if vector is not None:  # copy: by position, Stata's e(b) order
        values: list[str] = [str(names.fixed(design.depvar, n)) for n in fx.names] + [
            str(p) for p in re_params
        ]
        if len(vector) > len(values) and not fr.skip:
            raise StataError("from(): initial vector has too many elements", 503)
        given = list(zip(values, vector, strict=False))
    lookup = {str(names.fixed(design.depvar, n)): ("b", i) for i, n in enumerate(fixed_names)}
    lookup.update({n: ("b", i) for i, n in enumerate(fixed_names)})
    for i, p in enumerate(re_params):  # /:var(...), /var(...) and var(...) alike
        lookup.update({str(p): ("r", i), f"{p.eq}{p.name}": ("r", i), p.name: ("r", i)})
    for name, value in given:
        key = lookup.get(name.replace(" ", ""))
        if key is None:
            if fr.skip or (_BASE_OR_OMITTED.search(name) and value == 0):
                continue  # e(b)'s base and omitted columns are no parameters here
            raise StataError(
                f"from(): extra parameter {name} found; specify skip option if necessary", 111
            )
        kind, i = key
        if kind == "b":
            beta[i] = value
        else:
            reported[i] = value
    try:
        theta = cov.theta_from_sigma(cov.sigma_from_reported(reported))
    except (np.linalg.LinAlgError, FloatingPointError):
        raise StataError("from(): initial values not feasible", 1400) from None
    if not np.all(np.isfinite(theta)):
        raise StataError("from(): initial values not feasible", 1400)
    return np.concatenate([beta, theta])


def _from_matrix(
    name: str, matrices: dict[str, Matrix], copy: bool
) -> tuple[list[float] | None, list[tuple[str, float]]]:
    """The values of ``from(name)``: by position under ``copy``, else by column name."""
    mat = matrices.get(name)
    if mat is None:
        raise StataError(f"matrix {name} not found", 111)
    data = np.atleast_2d(np.asarray(mat.data, dtype=float))
    if data.shape[0] != 1 and data.shape[1] != 1:
        raise StataError(f"{name} not a vector", 503)
    values = [float(v) for v in data.ravel()]
    if copy:
        return values, []
    labels = mat.colnames if data.shape[0] == 1 else mat.rownames
    if len(labels) != len(values):
        raise StataError("conformability error", 503)
    return None, list(zip(labels, values, strict=True))


_BASE_OR_OMITTED = re.compile(r"(?:^|[:#])\d*[bno]*[bo][bno]*\.")


def _pweighted(design: Design) -> bool:
    return design.weight_type == "pweight" or any(
        lv.weight_type == "pweight" for lv in design.levels.levels
    )


def _vce_kind(spec: ModelSpec, design: Design) -> tuple[str, str]:
    vce = spec.options.vce
    if _pweighted(design):
        if vce in ("oim", "opg"):
            vce = "robust"
    if vce == "oim":
        return "oim", ""
    if vce == "opg":
        return "opg", "OPG"
    return vce, "Robust"


def _variance(result: Fit, vce: str, design: Design, ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """The estimators' covariance in the internal metric."""
    notes: list[str] = []
    negH = -0.5 * (result.hessian + result.hessian.T)
    if not np.all(np.isfinite(negH)):  # never hand LAPACK infinities or NaNs
        raise infeasible(result.iterations)
    try:
        if result.constraints is not None:
            Hinv = result.constraints.variance(negH, result.x)
        else:
            np.linalg.cholesky(negH)
            Hinv = np.linalg.inv(negH)
    except np.linalg.LinAlgError:
        if result.constraints is not None:
            Hinv = result.constraints.variance(negH, result.x, exact=False)
        else:
            Hinv = np.linalg.pinv(negH)
        notes.append("Warning: variance matrix is nonsymmetric or highly singular.")
    if vce == "oim":
        return Hinv, notes
    scores = result.model.cluster_scores(result.beta, result.theta, result.state)
    cw = result.model.data.cluster_weight
    if vce == "opg":
        S = (scores * cw[:, None]).T @ scores
        return np.linalg.pinv(S), notes
    groups = _robust_groups(design, ds)
    G = int(groups.max()) + 1
    if G < 2:
        # the sandwich's small-sample factor G/(G-1) is undefined for one cluster: as
        # Stata's _robust, the variance is left missing rather than scaled by 1
        return np.full_like(Hinv, np.nan), notes
    summed = np.zeros((G, scores.shape[1]))
    np.add.at(summed, groups, scores * cw[:, None])
    B = summed.T @ summed * (G / (G - 1))
    return Hinv @ B @ Hinv, notes


def _robust_groups(design: Design, ds: Dataset) -> np.ndarray:
    """Clusters of the robust estimator: the highest level, or ``vce(cluster clustvar)``.

    Returns the robust-cluster index of each highest-level group; the groups must nest
    within the clusters of ``clustvar``.
    """
    level = design.levels.levels[0]
    clustvar = design.spec.options.vce_clustvar
    if not clustvar:
        return np.arange(level.n_groups)
    if design.robust_groups is not None:  # the rows are elsewhere: decided from them there
        return design.robust_groups()
    from melogit_cli.design.varlist import resolve_one

    name = resolve_one(clustvar, ds)
    values = ds.frame[name].to_numpy()[design.sample]
    if ds.is_string(name):
        if np.any(values == ""):
            raise StataError(f"missing values in {name} not allowed", 459)
        values = values.astype(str)
    else:
        values = values.astype(float)
        if np.any(np.isnan(values)):
            raise StataError(f"missing values in {name} not allowed", 459)
    _, cluster = np.unique(values, return_inverse=True)
    cluster = cluster.reshape(-1)
    first = np.full(level.n_groups, -1)
    first[level.codes[::-1]] = cluster[::-1]
    if np.any(first[level.codes] != cluster):
        raise StataError(f"highest-level groups are not nested within {name}", 459)
    return first
