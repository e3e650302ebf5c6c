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

_TYPE_RE = re.compile(r"^(byte|int|long|float|double)$")
_STATISTICS = (
    "mu", "pr", "eta", "xb", "stdp", "reffects", "reses", "pearson", "deviance", "anscombe",
    "density", "distribution", "scores",
)


def _melogit_estimate(session: Session) -> Estimate:
    est = session.last()
    if est.e.macros.get("cmd2") != "melogit":
        raise StataError("last estimates not found", 301)
    return est


# ---------------------------------------------------------------------- predict


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


def _parse_targets(text: str, kind: str) -> tuple[str, list[str]]:
    """The storage type (``kind`` unless typed) and the new variables' names."""
    words = text.split()
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


@dataclass
class _Request:
    """What ``predict`` was asked for."""

    stat: str = "mu"
    stated: bool = False  # a statistic was typed
    estimator: str = "ebmeans"
    marginal: bool = False
    points: int | None = None
    reses: str | None = None  # reses(stub* | newvarlist) with reffects
    nooffset: bool = False
    iterate: int | None = None  # most iterations of the empirical Bayes computations
    tolerance: float | None = None  # and their convergence tolerance


_SYNONYMS = {"sc": "scores", "score": "scores", "scor": "scores", "pr": "pr"}


def _positive_int(opt, name: str, minimum: int) -> int:
    try:
        value = int((opt.arg or "").strip())
    except ValueError:
        raise StataError(f"{name}() invalid", 198) from None
    if value < minimum:
        sign = "positive" if minimum else "nonnegative"
        raise StataError(f"{name}() must be a {sign} integer", 198)
    return value


def _request(body: Body) -> _Request:
    req = _Request()
    for o in body.options:
        name = _SYNONYMS.get(o.name, o.name)
        if name in _STATISTICS and o.arg is None:
            if req.stated and req.stat != name:
                raise StataError("only one statistic may be specified", 198)
            req.stat, req.stated = name, True
        elif name == "reses" and o.arg is not None:
            req.reses = o.arg
        elif name == "fixedonly" and o.arg is None:
            req.estimator = "fixedonly"
        elif name in ("ebmeans", "ebmean") and o.arg is None:
            req.estimator = "ebmeans"
        elif name in ("ebmodes", "ebmode") and o.arg is None:
            req.estimator = "ebmodes"
        elif name in ("conditional", "cond") and o.arg is not None:
            arg = o.arg.strip()
            if arg not in ("ebmeans", "ebmodes", "fixedonly"):
                raise StataError(f"conditional({arg}) invalid", 198)
            req.estimator = arg
        elif name in ("marginal", "marg") and o.arg is None:
            req.marginal = True
        elif name in ("intpoints", "intp") and o.arg is not None:
            req.points = _positive_int(o, "intpoints", 1)
        elif name in ("iterate", "iter") and o.arg is not None:
            req.iterate = _positive_int(o, "iterate", 0)
        elif name in ("tolerance", "tol") and o.arg is not None:
            try:
                req.tolerance = float(o.arg)
            except ValueError:
                req.tolerance = None
            if req.tolerance is None or not req.tolerance > 0:
                raise StataError("tolerance() invalid", 198)
        elif name == "nooffset" and o.arg is None:
            req.nooffset = True
        else:
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))
    if req.marginal and req.stat not in ("mu", "pr"):
        raise StataError(f"option marginal not allowed with {req.stat}", 198)
    if req.reses is not None and req.stat != "reffects":
        raise option_not_allowed("reses()")
    if req.stat in ("reffects", "reses") and req.estimator == "fixedonly":
        raise StataError(f"option {req.stat} not allowed with conditional(fixedonly)", 198)
    if req.stat == "scores" and (req.estimator != "ebmeans" or req.marginal):
        raise StataError("option scores may not be combined with other options", 198)
    return req


def _re_count(design: object) -> int:
    """The random effects a unit has, summed over the levels (an ``R.`` term counts one)."""
    return sum(
        1 if b.is_r else len(b.names)
        for lv in design.levels.levels  # type: ignore[attr-defined]
        for b in lv.blocks
    )


_RESIDUAL_LABELS = {
    "pearson": "Pearson residuals",
    "deviance": "Deviance residuals",
    "anscombe": "Anscombe residuals",
    "density": "Predicted density",
    "distribution": "Predicted distribution",
}


@command("predict")
def predict(session: Session, rest: str) -> None:
    """``predict [type] newvar(s)|stub* [if] [in] [, statistic options]``.

    Statistics: mu (default) pr eta xb stdp reffects [reses(stub*|newvarlist)] reses
    pearson deviance anscombe density distribution scores; options ebmeans ebmodes
    conditional(ebmeans|ebmodes|fixedonly) marginal nooffset intpoints(#) iterate(#)
    tolerance(#).  Random effects come from the estimation sample (``postest.effects``);
    the fixed portion, covariates and outcome are read from the data now in memory.
    """
    from melogit_cli.postest import predictions as pred
    from melogit_cli.postest.effects import random_effects
    from melogit_cli.postest.scores import observation_scores

    est = _melogit_estimate(session)
    ds = session.data()
    body = parse_body(rest)
    kind, words = _parse_targets(body.anything, session.settings.type)
    req = _request(body)
    estimation = est.estimation
    if estimation is None:
        raise StataError("predictions require the data of the estimation; refit the model", 321)
    design = estimation.design  # type: ignore[attr-defined]
    stat = req.stat
    if stat in ("reffects", "reses"):
        count = _re_count(design)
    elif stat == "scores":
        count = len(est.e.b.colnames)
    else:
        count = 1
    names = _names_for(words, count)
    se_names = _names_for(req.reses.split(), count) if req.reses is not None else []
    for name in names + se_names:
        check_new_name(name, ds)
    if len(set(names + se_names)) != len(names + se_names):
        dup = next(n for n in names + se_names if (names + se_names).count(n) > 1)
        raise StataError(f"variable {dup} already defined", 110)

    # the data now in memory, and which of its rows are in e(sample)
    ids = est.sample_ids if est.sample_ids is not None else np.zeros(0, dtype=np.int64)
    design_row = positions(ids, session.row_ids)
    X = fixed_columns(ds, design)
    offset_var = design.offset_var
    if offset_var and not req.nooffset:
        offset = model_variable(ds, offset_var)
    else:
        offset = np.zeros(ds.nobs)
    xb = X @ estimation.fit.beta + offset  # type: ignore[attr-defined]
    complete = np.isfinite(xb)
    in_sample = (design_row >= 0) & complete
    trials = np.ones(ds.nobs)
    if design.family == "binomial":
        trials[:] = np.nan
        trials[design_row >= 0] = design.trials[design_row[design_row >= 0]]
    needs_y = stat in _RESIDUAL_LABELS
    y = model_variable(ds, design.depvar) if needs_y else np.zeros(ds.nobs)
    if design.family == "bernoulli":
        y = np.where(np.isnan(y), np.nan, (y != 0).astype(float))

    out = session.out
    if stat == "mu" and not req.stated:
        out.line("(option mu assumed)")
    conditional = stat in ("mu", "pr", "eta", *_RESIDUAL_LABELS) and not req.marginal
    needs_re = stat in ("reffects", "reses") or (conditional and req.estimator != "fixedonly")
    effects = []
    Z_now: list[np.ndarray] = []
    if needs_re:
        # as Stata, the outcome must still be in memory for posterior predictions
        model_variable(ds, design.depvar)
    if needs_re or req.marginal:
        if not in_sample.any() and needs_re:
            raise StataError("no observations", 2000)
        estimator = "ebmodes" if req.estimator == "ebmodes" or req.marginal else "ebmeans"
        with np.errstate(all="ignore"):
            effects = random_effects(
                estimation, estimator, req.points, req.iterate, req.tolerance
            )
        Z_now = [
            np.ones((ds.nobs, 1)) if eff.indicator else re_columns(ds, eff.names)
            for eff in effects
        ]
        for z in Z_now:
            in_sample &= np.all(np.isfinite(z), axis=1)
    if needs_re:
        _effect_notes(out, stat, effects, estimation, req)

    valid = complete.copy()
    columns: list[np.ndarray]
    labels: list[str]
    if stat == "xb":
        columns, labels = [xb], ["Linear prediction, fixed portion only"]
    elif stat == "stdp":
        columns = [_stdp(est.e, np.where(complete[:, None], X, 0.0))]
        labels = ["S.E. of the linear prediction of the fixed portion"]
    elif stat == "scores":
        S = observation_scores(estimation)
        valid = design_row >= 0
        rows = np.where(valid, design_row, 0)
        columns = [np.where(valid, S[rows, j], np.nan) for j in range(S.shape[1])]
        labels = [f"parameter {j + 1} score" for j in range(S.shape[1])]
    elif req.marginal:
        points = req.points or int(est.e.macros.get("n_quad") or 7)
        laplace = est.e.macros.get("intmethod") in ("laplace", "pclaplace")
        m_points = max(points, 7) if laplace else points
        Zc = [np.where(np.isfinite(z), z, 0.0) for z in Z_now]
        sd = pred.random_part_sd(Zc, [eff.cov for eff in effects])
        p = pred.marginal_mean(np.where(complete, xb, 0.0), sd, m_points)
        valid = complete & np.all([np.all(np.isfinite(z), axis=1) for z in Z_now], axis=0)
        out.line("(predictions marginal with respect to the random effects)")
        if stat == "pr":
            columns, labels = [p], ["Marginal predicted probability"]
        else:
            columns, labels = [p * trials], ["Marginal predicted mean"]
    elif stat in ("reffects", "reses"):
        valid = in_sample
        columns, labels = [], []
        what = "modes" if req.estimator == "ebmodes" else "means"
        for eff in effects:
            unit = np.where(in_sample, eff.unit[np.where(in_sample, design_row, 0)], 0)
            for a, nm in enumerate(eff.names):
                if stat == "reffects":
                    columns.append(eff.mean[unit, a])
                    labels.append(f"empirical Bayes' {what} for {nm}[{eff.level}]")
                else:
                    columns.append(eff.se[unit, a])
                    labels.append(f"S.E. of empirical Bayes' {what} for {nm}[{eff.level}]")
        if se_names:
            for eff in effects:
                unit = np.where(in_sample, eff.unit[np.where(in_sample, design_row, 0)], 0)
                for a, nm in enumerate(eff.names):
                    columns.append(eff.se[unit, a])
                    labels.append(f"S.E. of empirical Bayes' {what} for {nm}[{eff.level}]")
            names = names + se_names
    else:
        if req.estimator == "fixedonly":
            eta = xb
        else:
            valid = in_sample
            units = [
                np.where(in_sample, eff.unit[np.where(in_sample, design_row, 0)], -1)
                for eff in effects
            ]
            Zc = [np.where(np.isfinite(z), z, 0.0) for z in Z_now]
            eta = xb + pred.re_contribution(Zc, units, effects)
        fixed = ", fixed portion only" if req.estimator == "fixedonly" else ""
        with np.errstate(all="ignore"):
            if stat == "eta":
                columns, labels = [eta], [f"Linear predictor{fixed}"]
            elif stat == "pr":
                columns, labels = [pred.mean(eta)], [f"Predicted probability{fixed}"]
            elif stat == "mu":
                columns, labels = [pred.mean(eta, trials)], [f"Predicted mean{fixed}"]
            elif stat in pred.RESIDUALS:
                valid = valid & (design_row >= 0)
                columns, labels = [pred.residuals(stat, y, eta, trials)], [_RESIDUAL_LABELS[stat]]
            elif stat == "density":
                valid = valid & (design_row >= 0)
                columns, labels = [pred.density(y, eta, trials)], [_RESIDUAL_LABELS[stat]]
            else:
                valid = valid & (design_row >= 0)
                columns, labels = [pred.distribution(y, eta, trials)], [_RESIDUAL_LABELS[stat]]
    wanted = select_rows(session, body) & valid
    for name, col, label in zip(names, columns, labels, strict=True):
        values = store(np.where(wanted, col, np.nan), kind)
        add_variable(session, name, values, kind)
        ds.variable_labels[name] = label
        missing = int(np.isnan(values).sum())
        if missing:
            out.line(f"({fmt(missing, '%12.0fc').strip()} missing values generated)")


def _effect_notes(out, stat: str, effects, estimation, req: _Request) -> None:
    """Stata's notes on how the random effects were predicted."""
    modes = effects[0].estimator == "ebmodes" if effects else req.estimator == "ebmodes"
    what = "modes" if modes else "means"
    if stat in ("reffects", "reses"):
        out.line(f"(calculating posterior {what} of random effects)")
    else:
        out.line(f"(predictions based on fixed effects and posterior {what} of random effects)")
    e = estimation.eresults
    laplace = e.macros.get("intmethod") in ("laplace", "pclaplace")
    laplace = laplace or estimation.design.levels.crossed
    if not modes and not laplace:
        points = req.points or int(e.macros.get("n_quad") or 7)
        out.line(f"(using {points} quadrature point{'s' if points != 1 else ''})")


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
    from melogit_cli.results.names import is_base_or_omitted

    return is_base_or_omitted(name)


# ---------------------------------------------------------------------- estat


@command("estat")
def estat(session: Session, rest: str) -> None:
    """``estat icc [, level(#)]``, ``estat group``, ``estat ic [, n(#)]``, ``estat sd``,
    ``estat recovariance``, ``estat wcorrelation``, ``estat vce``, ``estat summarize``."""
    from melogit_cli.interp import estat_views as views

    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub = words[0].split(",")[0]
    tail = rest[len(sub):]
    est = _melogit_estimate(session)
    if sub == "icc":
        _icc(session, est.e, parse_body(tail, ("level", "l", "le", "lev", "leve")))
    elif sub in ("group", "gr", "gro", "grou"):
        parse_body(tail, ())  # no options
        _group(session, est.e)
    elif sub == "ic":
        _ic(session, est.e, parse_body(tail))
    elif sub == "sd":
        views.estat_sd(session, est, parse_body(tail))
    elif sub in ("recovariance", "recov", "recova", "recovar", "recovari", "recovaria"):
        views.estat_recovariance(session, est, parse_body(tail))
    elif sub == "vce":
        views.estat_vce(session, est, parse_body(tail))
    elif len(sub) >= 4 and "wcorrelation".startswith(sub):
        views.estat_wcorrelation(session, est, parse_body(tail))
    elif sub in ("summarize", "su", "sum", "summ", "summa", "summar", "summari", "summariz"):
        views.estat_summarize(session, est, parse_body(tail))
    else:
        raise StataError(f"invalid subcommand {sub}", 321)


def _icc(session: Session, e: EResults, body: Body) -> None:
    """Latent-scale ICCs: level i's is the sum of the intercept variances of the levels
    down to i over the sum of all of them plus pi^2/3; delta-method SEs; CIs on the logit
    scale."""
    from melogit_cli.interp.estat_views import level_option
    from melogit_cli.results.varcomp import icc as icc_table

    level = level_option(body, session.settings.level)
    table = icc_table(e, level)
    title, slopes = table.title, table.conditional
    rows = [(r.label, r.icc, r.se, r.lo, r.hi) for r in table.rows]
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
    top = len(rows) + 1
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
    for o in body.options:
        if o.name != "n":
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))
    n_opt = body.option("n")
    N = e.scalars["N"]
    if n_opt is not None:
        try:
            N = float(n_opt.arg or "")
        except ValueError:
            raise StataError("n() invalid", 198) from None
        if not N > 0:
            raise StataError("n() must be positive", 198)
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
    if n_opt is not None:
        out.line(f"Note: BIC uses N = {fmt(N, '%12.0g').strip()}.")
    else:
        out.line("Note: BIC uses N = number of observations. See [R] IC note.")
    session.clear_r()
    session.r_matrices = {
        "S": Matrix(
            ["."], ["N", "ll0", "ll", "df", "AIC", "BIC"],
            np.array([[N, math.nan, ll, df, aic, bic]]),
        )
    }
