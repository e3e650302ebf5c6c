"""After melogit: predict, estat icc, estat group, estat ic."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from melogit_cli.errors import (
    StataError,
    option_not_allowed,
    syntax_error,
    variable_not_found,
)
from melogit_cli.interp.parse import Body, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.interp.variables import add_variable, check_new_name, select_rows, store
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.special import expit, ndtri

_TYPE_RE = re.compile(r"^(byte|int|long|float|double)$")
_STATISTICS = ("mu", "eta", "xb", "stdp", "reffects", "reses")


def _melogit_estimate(session: Session) -> Estimate:
    est = session.last()
    if est.e.macros.get("cmd2") != "melogit":
        raise StataError("last estimates not found", 301)
    return est


# ---------------------------------------------------------------------- predict


@dataclass
class TwoLevelModel:
    """What predictions need from a two-level fit."""

    design: object  # design.build.Design
    cluster_weight: np.ndarray  # per fit-time cluster
    beta: np.ndarray
    A: np.ndarray
    codes: np.ndarray  # fit-time cluster of each design row
    re_names: list[str]
    level: str
    points: int
    method: str


def two_level_model(est: Estimate) -> TwoLevelModel:
    """The fitted two-level model behind ``est``; other structures give a Stata-style error.

    Everything comes from the design and the estimates, whichever engine fitted them
    (the two-level one, or the joint Laplace one under ``intmethod(laplace)``).
    """
    from melogit_cli.estimate import level_covariance

    estimation = est.estimation
    if estimation is None:
        raise StataError("predictions require the data of the estimation; refit the model", 321)
    design = estimation.design  # type: ignore[attr-defined]
    fit = estimation.fit  # type: ignore[attr-defined]
    levels = design.levels.levels
    if len(levels) != 1 or getattr(design.levels, "crossed", False):
        raise StataError(
            "predict after models with more than one grouping level (nested or crossed "
            "random effects) is not available yet",
            198,
        )
    level = levels[0]
    cov = level_covariance(level)
    A = cov.factor_derivatives(fit.theta)[0]
    e = est.e
    return TwoLevelModel(
        design=design,
        cluster_weight=np.asarray(level.cluster_weight, dtype=float),
        beta=np.asarray(fit.beta),
        A=A,
        codes=level.codes,
        re_names=list(level.re_names),
        level=level.name,
        points=int(e.macros.get("n_quad") or 1),
        method=e.macros.get("intmethod", "mvaghermite"),
    )


def positions(ids: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
    """For each of ``row_ids``, its index in ``ids`` (-1 when absent)."""
    if len(ids) == 0:
        return np.full(len(row_ids), -1, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.minimum(np.searchsorted(sorted_ids, row_ids), len(ids) - 1)
    found = sorted_ids[pos] == row_ids
    return np.where(found, order[pos], -1).astype(np.int64)


def model_variable(ds: object, name: str) -> np.ndarray:
    """A variable of the model from the data now in memory: ``variable NAME not found``
    r(111) when it has been dropped or other data loaded, ``type mismatch`` r(109) when
    it is now a string."""
    if name not in ds.varnames:  # type: ignore[attr-defined]
        raise variable_not_found(name)
    if ds.is_string(name):  # type: ignore[attr-defined]
        raise StataError("type mismatch", 109)
    return ds.frame[name].to_numpy(dtype=float)  # type: ignore[attr-defined]


def _part_values(ds: object, var: str, level: int | None) -> np.ndarray:
    x = model_variable(ds, var)
    if level is None:
        return x
    return np.where(np.isnan(x), np.nan, (x == level).astype(float))


def fixed_columns(ds: object, design: object) -> np.ndarray:
    """The estimated fixed-effects columns computed from the data now in memory."""
    fx = design.fixed  # type: ignore[attr-defined]
    n = ds.nobs  # type: ignore[attr-defined]
    cols = []
    for info, keep in zip(fx.columns, fx.keep, strict=True):
        if not keep:
            continue
        value = np.ones(n)
        if not info.is_cons:
            for part in info.parts:
                value = value * _part_values(ds, part.var, part.level)
        cols.append(value)
    return np.column_stack(cols) if cols else np.zeros((n, 0))


_RE_PART = re.compile(r"^(?:c\.)?([A-Za-z_][A-Za-z0-9_]*)$|^(\d+)[a-z]*\.([A-Za-z_][A-Za-z0-9_]*)$")


def re_columns(ds: object, names: list[str]) -> np.ndarray:
    """Random-effects columns (``_cons``, ``urban``, ``1.urban``, ``1.urban#c.age``) from
    the data now in memory."""
    n = ds.nobs  # type: ignore[attr-defined]
    cols = []
    for name in names:
        value = np.ones(n)
        if name != "_cons":
            for part in name.split("#"):
                m = _RE_PART.match(part)
                if m is None:
                    raise StataError(f"cannot evaluate random-effects term {name}", 198)
                if m.group(1):
                    value = value * _part_values(ds, m.group(1), None)
                else:
                    value = value * _part_values(ds, m.group(3), int(m.group(2)))
        cols.append(value)
    return np.column_stack(cols)


def _sample_clusters(
    model: TwoLevelModel, X: np.ndarray, Z: np.ndarray, offset: np.ndarray, y: np.ndarray,
    design_row: np.ndarray, in_sample: np.ndarray,
):
    """ClusterData of the e(sample) observations now in memory (values as they are now),
    the cluster of each of those rows, and their row order."""
    from melogit_cli.engine.quadrature.twolevel import ClusterData

    design = model.design
    src = design_row[in_sample]
    fit_codes = model.codes[src]
    clusters, codes = np.unique(fit_codes, return_inverse=True)
    codes = codes.reshape(-1)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    starts = np.append(starts, len(sorted_codes))
    rows = np.flatnonzero(in_sample)[order]
    data = ClusterData(
        y=y[rows],
        trials=design.trials[src][order],  # type: ignore[attr-defined]
        X=X[rows],
        offset=offset[rows],
        obs_weight=design.obs_weight[src][order],  # type: ignore[attr-defined]
        Z=Z[rows],
        starts=starts,
        cluster_weight=model.cluster_weight[clusters],
    )
    return data, codes


def _parse_targets(text: str) -> tuple[str, list[str]]:
    words = text.split()
    kind = "float"
    if words and _TYPE_RE.match(words[0]):
        kind = words.pop(0)
    if not words:
        raise StataError("varlist required", 100)
    return kind, words


def _names_for(words: list[str], count: int) -> list[str]:
    if len(words) == 1 and words[0].endswith("*"):
        stub = words[0][:-1]
        return [f"{stub}{i + 1}" for i in range(count)]
    if len(words) > count:
        raise StataError("too many variables specified", 103)
    if len(words) < count:
        raise StataError("too few variables specified", 102)
    return words


def _statistic(body: Body) -> tuple[str, str, bool]:
    """(statistic, random-effects estimator, marginal)."""
    stat = None
    estimator = "ebmeans"
    marginal = False
    for o in body.options:
        name = o.name
        if name in _STATISTICS or name == "fixedonly":
            if name == "fixedonly":
                estimator = "fixedonly"
                continue
            if stat is not None and stat != name:
                raise StataError("only one statistic may be specified", 198)
            stat = name
        elif name in ("ebmeans", "ebmean"):
            estimator = "ebmeans"
        elif name in ("ebmodes", "ebmode"):
            estimator = "ebmodes"
        elif name in ("conditional", "cond") and o.arg is not None:
            arg = o.arg.strip()
            if arg not in ("ebmeans", "ebmodes", "fixedonly"):
                raise StataError(f"conditional({arg}) invalid", 198)
            estimator = arg
        elif name in ("marginal", "marg"):
            marginal = True
        elif name in ("intpoints", "intp", "nooffset"):
            continue
        else:
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))
    if marginal and stat not in (None, "mu"):
        raise StataError(f"option marginal not allowed with {stat}", 198)
    return stat or "mu", estimator, marginal


@command("predict")
def predict(session: Session, rest: str) -> None:
    """``predict [type] newvar(s)|stub* [if] [in] [, mu eta xb stdp reffects reses ebmeans
    ebmodes conditional(ebmeans|ebmodes|fixedonly) marginal intpoints(#) nooffset]``.

    Predictions use the data now in memory.  Random effects (and the predictions that
    use them) are computed for the observations of e(sample); the fixed portion, its
    standard error and marginal means for every observation with the covariates.
    """
    from melogit_cli.engine import predict as engine

    est = _melogit_estimate(session)
    ds = session.data()
    body = parse_body(rest)
    kind, words = _parse_targets(body.anything)
    stat, estimator, marginal = _statistic(body)
    model = two_level_model(est)
    q = model.A.shape[0]
    nvars = q if stat in ("reffects", "reses") else 1
    names = _names_for(words, nvars)
    for name in names:
        check_new_name(name, ds)
    if stat == "reses" and estimator == "fixedonly":
        raise StataError("option reses not allowed with conditional(fixedonly)", 198)
    points = model.points
    opt_points = body.option("intpoints", "intp")
    if opt_points is not None:
        try:
            points = int(opt_points.arg or "")
        except ValueError:
            raise syntax_error("intpoints() invalid") from None
        if points < 1:
            raise StataError("intpoints() must be a positive integer", 198)

    # the data now in memory, and which of its rows are in e(sample)
    design = model.design
    ids = est.sample_ids if est.sample_ids is not None else np.zeros(0, dtype=np.int64)
    design_row = positions(ids, session.row_ids)
    X = fixed_columns(ds, design)
    Z = re_columns(ds, model.re_names)
    offset_var = design.offset_var  # type: ignore[attr-defined]
    if offset_var and not body.flag("nooffset"):
        offset = model_variable(ds, offset_var)
    else:
        offset = np.zeros(ds.nobs)
    xb = X @ model.beta + offset
    complete = np.isfinite(xb) & np.all(np.isfinite(Z), axis=1)
    needs_re = stat in ("reffects", "reses") or (
        stat in ("mu", "eta") and estimator != "fixedonly" and not marginal
    )
    # the outcome enters only the posterior of the random effects
    y = model_variable(ds, design.depvar) if needs_re else np.zeros(ds.nobs)  # type: ignore[attr-defined]
    if design.family == "bernoulli":  # type: ignore[attr-defined]
        y = np.where(np.isnan(y), np.nan, (y != 0).astype(float))
    in_sample = (design_row >= 0) & complete & np.isfinite(y)
    trials = np.ones(ds.nobs)
    if design.family == "binomial":  # type: ignore[attr-defined]
        trials[:] = np.nan
        trials[design_row >= 0] = design.trials[design_row[design_row >= 0]]  # type: ignore[attr-defined]

    out = session.out
    if stat == "mu" and not body.flag("mu"):
        out.line("(option mu assumed)")
    post = codes = None
    if needs_re:
        if not in_sample.any():
            raise StataError("no observations", 2000)
        data, codes = _sample_clusters(model, X, Z, offset, y, design_row, in_sample)
        if estimator == "ebmodes":
            post = engine.posterior_modes(data, model.beta, model.A)
            out.line(
                "(predictions based on fixed effects and posterior modes of random effects)"
                if stat in ("mu", "eta") else "(calculating posterior modes of random effects)"
            )
        else:
            use_points = 1 if model.method in ("laplace", "pclaplace") else points
            post = engine.posterior_means(data, model.beta, model.A, use_points)
            out.line(
                "(predictions based on fixed effects and posterior means of random effects)"
                if stat in ("mu", "eta") else "(calculating posterior means of random effects)"
            )
            out.line(f"(using {use_points} quadrature point{'s' if use_points != 1 else ''})")

    valid = complete.copy()
    columns: list[np.ndarray]
    labels: list[str]
    if stat == "xb":
        columns, labels = [xb], ["Linear prediction, fixed portion only"]
    elif stat == "stdp":
        columns = [_stdp(est.e, np.where(complete[:, None], X, 0.0))]
        labels = ["S.E. of the linear prediction of the fixed portion"]
    elif marginal:
        m_points = points if model.method not in ("laplace", "pclaplace") else max(points, 7)
        p = engine.marginal_mean(
            np.where(complete, xb, 0.0), np.where(complete[:, None], Z, 0.0), model.A, m_points
        )
        out.line("(predictions marginal with respect to the random effects)")
        columns, labels = [p * trials], ["Marginal predicted mean"]
    elif post is None:  # conditional(fixedonly)
        if stat == "eta":
            columns, labels = [xb], ["Linear predictor, fixed portion only"]
        else:
            columns, labels = [expit(xb) * trials], ["Predicted mean, fixed portion only"]
    else:
        valid = in_sample
        u_rows = np.zeros((ds.nobs, q))
        u_rows[in_sample] = post.mean[codes]
        if stat in ("reffects", "reses"):
            per_row = u_rows if stat == "reffects" else np.zeros((ds.nobs, q))
            if stat == "reses":
                per_row[in_sample] = post.sd[codes]
            what = "modes" if estimator == "ebmodes" else "means"
            head = f"empirical Bayes' {what}" if stat == "reffects" else (
                f"S.E. of empirical Bayes' {what}"
            )
            columns = [per_row[:, a] for a in range(q)]
            labels = [f"{head} for {nm}[{model.level}]" for nm in model.re_names]
        else:
            eta = xb + np.einsum("iq,iq->i", np.where(complete[:, None], Z, 0.0), u_rows)
            if stat == "eta":
                columns, labels = [eta], ["Linear predictor"]
            else:
                columns, labels = [expit(eta) * trials], ["Predicted mean"]
    wanted = select_rows(session, body) & valid
    for name, col, label in zip(names, columns, labels, strict=True):
        values = store(np.where(wanted, col, np.nan), kind)
        add_variable(session, name, values, kind)
        ds.variable_labels[name] = label
        missing = int(np.isnan(values).sum())
        if missing:
            out.line(f"({fmt(missing, '%12.0fc').strip()} missing values generated)")


def _stdp(e: EResults, X: np.ndarray) -> np.ndarray:
    """SE of the fixed-portion linear prediction from the estimable columns of e(V)."""
    depvar = e.macros.get("depvar", "")
    cols = [
        j for j, c in enumerate(e.b.colnames)
        if c.startswith(f"{depvar}:") and not _is_base_or_omitted(c.split(":", 1)[1])
    ]
    V = e.V.data[np.ix_(cols, cols)]
    if V.shape[0] != X.shape[1]:
        raise StataError("stdp: the fixed-effects design does not match e(V)", 498)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))


def _is_base_or_omitted(name: str) -> bool:
    return any(
        re.match(r"^\d*[bo]+n?\.", part) or part.startswith("o.") for part in name.split("#")
    )


# ---------------------------------------------------------------------- estat


@command("estat")
def estat(session: Session, rest: str) -> None:
    """``estat icc [, level(#)]``, ``estat group``, ``estat ic [, n(#)]``."""
    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub = words[0].split(",")[0]
    tail = rest[len(sub):]
    est = _melogit_estimate(session)
    if sub == "icc":
        _icc(session, est.e, parse_body(tail))
    elif sub in ("group", "gr", "gro", "grou"):
        _group(session, est.e)
    elif sub == "ic":
        _ic(session, est.e, parse_body(tail))
    else:
        raise StataError(f"invalid subcommand {sub}", 321)


def _icc(session: Session, e: EResults, body: Body) -> None:
    """Latent-scale ICCs: level i's is the sum of the intercept variances of the levels
    down to i over the sum of all of them plus pi^2/3; delta-method SEs; CIs on the logit
    scale."""
    level = 95.0
    opt = body.option("level", "l", "le", "lev", "leve")
    if opt is not None:
        try:
            level = float(opt.arg or "")
        except ValueError:
            raise StataError("level() invalid", 198) from None
        if not 10 <= level <= 99.99:
            raise StataError("level() must be between 10 and 99.99 inclusive", 198)
    names = e.b.colnames
    levels = e.macros.get("ivars", "").split()
    crossed = re.search(r"(?<![A-Za-z0-9_.])R\.", e.macros.get("cmdline", "")) is not None
    if not levels or crossed or "_all" in levels or len(set(levels)) != len(levels):
        raise StataError("estat icc is not available after crossed-effects models", 198)
    keys = [f"/:var(_cons[{'>'.join(levels[: i + 1])}])" for i in range(len(levels))]
    if any(k not in names for k in keys):
        raise StataError(
            "estat icc requires a random intercept at every level of the model", 459
        )
    idx = [names.index(k) for k in keys]
    v = e.b.data[0, idx].astype(float)
    V = e.V.data[np.ix_(idx, idx)].astype(float)
    total = float(v.sum()) + math.pi**2 / 3
    z = float(ndtri(0.5 + level / 200))
    rows = []
    for i in range(len(levels)):
        part = float(v[: i + 1].sum())
        icc = part / total
        grad = np.where(np.arange(len(levels)) <= i, (total - part), -part) / total**2
        se = math.sqrt(max(float(grad @ V @ grad), 0.0))
        if 0 < icc < 1:
            logit = math.log(icc / (1 - icc))
            half = z * se / (icc * (1 - icc))
            lo, hi = float(expit(logit - half)), float(expit(logit + half))
        else:
            lo = hi = math.nan
        label = "|".join(reversed(levels[: i + 1]))
        rows.append((label, icc, se, lo, hi))
    slopes = any(
        c.startswith("/:var(") and not c.startswith("/:var(_cons[") for c in names
    )
    covariates = bool(e.macros.get("covariates", "").strip())
    if slopes:
        title = "Conditional intraclass correlation"
    elif covariates:
        title = "Residual intraclass correlation"
    else:
        title = "Intraclass correlation"
    out = session.out
    rule = "-" * 78
    ci = f"[{fmt(level, '%9.0g').strip()}% conf. interval]"
    out.line()
    out.line(title)
    out.line()
    out.line(rule)
    out.line(f"{'Level':>28} |        ICC   Std. err.{ci:>25}")
    out.line("-" * 29 + "+" + "-" * 48)
    for label, icc, se, lo, hi in rows:
        out.line(
            f"{label[-28:]:>28} |{fmt(icc, '%9.0g'):>11}{fmt(se, '%9.0g'):>11}"
            f"{fmt(lo, '%9.0g'):>14}{fmt(hi, '%9.0g'):>12}"
        )
    out.line(rule)
    if slopes:
        out.line("Note: ICC is conditional on zero values of random-effects covariates.")
    session.clear_r()
    session.r_scalars = {"level": level}
    top = len(levels) + 1
    for i, (label, icc, se, lo, hi) in enumerate(rows):
        number = top - i
        session.r_scalars[f"icc{number}"] = icc
        session.r_scalars[f"se{number}"] = se
        session.r_macros[f"label{number}"] = label
        session.r_matrices[f"ci{number}"] = Matrix(["r1"], ["ll", "ul"], np.array([[lo, hi]]))


def _group(session: Session, e: EResults) -> None:
    out = session.out
    names = e.matrices["N_g"].colnames
    out.line()
    out.line("-" * 61)
    out.line("                |     No. of       Observations per group")
    out.line(" Group variable |     groups    Minimum    Average    Maximum")
    out.line("-" * 16 + "+" + "-" * 44)
    for i, name in enumerate(names):
        ng = e.matrices["N_g"].data[0, i]
        mn, av, mx = (e.matrices[k].data[0, i] for k in ("g_min", "g_avg", "g_max"))
        out.line(
            f"{name[:15]:>15} |{fmt(ng, '%11.0fc')}{fmt(mn, '%11.0fc')}"
            f"{fmt(av, '%11.1fc')}{fmt(mx, '%11.0fc')}"
        )
    out.line("-" * 61)


def _ic(session: Session, e: EResults, body: Body) -> None:
    n_opt = body.option("n")
    N = float(n_opt.arg) if n_opt is not None and n_opt.arg else e.scalars["N"]
    ll = e.scalars["ll"]
    df = e.scalars.get("rank", e.scalars.get("k", math.nan))
    aic = -2 * ll + 2 * df
    bic = -2 * ll + math.log(N) * df
    out = session.out
    out.line()
    out.line("Akaike's information criterion and Bayesian information criterion")
    out.line()
    out.line("-" * 77)
    out.line("       Model |          N   ll(null)  ll(model)      df        AIC        BIC")
    out.line("-" * 13 + "+" + "-" * 63)
    out.line(
        f"{'.':>12} |{fmt(N, '%11.0fc')}{fmt(math.nan, '%11.0g')}{fmt(ll, '%9.0g'):>11}"
        f"{fmt(df, '%8.0g')}{fmt(aic, '%9.0g'):>11}{fmt(bic, '%9.0g'):>11}"
    )
    out.line("-" * 77)
    out.line("Note: BIC uses N = number of observations. See [R] IC note.")
    session.clear_r()
    session.r_matrices = {
        "S": Matrix(
            ["."], ["N", "ll0", "ll", "df", "AIC", "BIC"],
            np.array([[N, math.nan, ll, df, aic, bic]]),
        )
    }
