"""estat sd, recovariance, vce and summarize after melogit: the layouts and r() results
(the statistics are ``melogit_cli.postest.estat``'s)."""

from __future__ import annotations

import math

import numpy as np

from melogit_cli.errors import StataError, option_not_allowed
from melogit_cli.interp.display import matrix_lines
from melogit_cli.interp.parse import Body
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.postest import estat as stats
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import Matrix
from melogit_cli.special import ndtri

RULE = "-" * 78


def _only(body: Body, *allowed: str) -> None:
    for o in body.options:
        if o.name not in allowed:
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))


def _level(body: Body) -> float:
    opt = body.option("level", "l", "le", "lev", "leve")
    if opt is None:
        return 95.0
    try:
        level = float(opt.arg or "")
    except ValueError:
        raise StataError("level() invalid", 198) from None
    if not 10 <= level <= 99.99:
        raise StataError("level() must be between 10 and 99.99 inclusive", 198)
    return level


def estat_sd(session: Session, est: Estimate, body: Body) -> None:
    """``estat sd [, variance level(#) post]``: sd() and corr() instead of var() and cov()."""
    _only(body, "variance", "var", "level", "l", "le", "lev", "leve", "post")
    e = est.e
    level = _level(body)
    b, V, names = e.b.data[0].astype(float), e.V.data.astype(float), e.b.colnames
    params, est_v, V_sd = stats.standard_deviations(b, V, names, level)
    if body.flag("variance", "var"):
        # variance components as fitted, with the same table layout
        pos = stats.re_positions(names)
        params = []
        z = float(ndtri(0.5 + level / 200))
        for lev, cols in pos.items():
            for (a, c), j in cols.items():
                se = math.sqrt(max(V[j, j], 0.0))
                label = f"var({a})" if a == c else f"cov({a},{c})"
                if a == c:
                    half = z * se / b[j]
                    lo, hi = b[j] * math.exp(-half), b[j] * math.exp(half)
                else:
                    lo, hi = b[j] - z * se, b[j] + z * se
                params.append(stats.Parameter(lev, label, b[j], se, lo, hi))
    out = session.out
    ci = f"[{fmt(level, '%9.0g').strip()}% conf. interval]"
    out.line()
    out.line(RULE)
    out.line(f"  Random-effects parameters  |   Estimate   Std. err.     {ci}")
    out.line("-" * 29 + "+" + "-" * 48)
    current = None
    for p in params:
        if p.level != current:
            if current is not None:
                out.line("-" * 29 + "+" + "-" * 48)
            out.line(f"{p.level + ': ':<29}|")
            current = p.level
        out.line(
            f"{p.label[-27:]:>28} |{fmt(p.estimate, '%9.0g'):>11}{fmt(p.se, '%9.0g'):>11}"
            f"{fmt(p.lower, '%9.0g'):>14}{fmt(p.upper, '%9.0g'):>12}"
        )
    out.line(RULE)
    labels = [f"{p.level}:{p.label}" for p in params]
    values = np.array([p.estimate for p in params])
    cov = V_sd if not body.flag("variance", "var") else np.diag([p.se**2 for p in params])
    session.clear_r()
    session.r_scalars = {"level": level}
    session.r_matrices = {
        "b": Matrix(["y1"], labels, values[None, :]),
        "V": Matrix(labels, labels, cov),
    }
    if body.flag("post"):
        e.matrices["b"] = Matrix(["y1"], labels, values[None, :])
        e.matrices["V"] = Matrix(labels, labels, cov)


def estat_recovariance(session: Session, est: Estimate, body: Body) -> None:
    """``estat recovariance [, relevel(levelvar) correlation]``."""
    _only(body, "relevel", "level", "correlation", "corr", "cor")
    e = est.e
    levels = stats.re_covariances(e.b.data[0].astype(float), e.b.colnames)
    opt = body.option("relevel", "level")
    if opt is not None:
        want = (opt.arg or "").strip()
        chosen = [lv for lv in levels if lv[0] == want or lv[0].split(">")[-1] == want]
        if not chosen:
            raise StataError(f"level {want} not found", 198)
        levels = chosen
    corr = body.flag("correlation", "corr", "cor")
    out = session.out
    session.clear_r()
    session.r_scalars = {"relevels": float(len(levels))}
    all_levels = [lv for lv, _, _ in stats.re_covariances(e.b.data[0], e.b.colnames)]
    for lev, names, S in levels:
        number = len(all_levels) + 1 - all_levels.index(lev)
        what = "correlation" if corr else "covariance"
        out.line()
        out.line(f"Random-effects {what} matrix for level {lev.split('>')[-1]}")
        M = stats.correlation(S) if corr else S
        mat = Matrix(names, names, M)
        for line in matrix_lines("", mat)[2:]:
            out.line(line)
        session.r_matrices[f"Cov{number}"] = Matrix(names, names, S)
        if corr:
            session.r_matrices[f"Corr{number}"] = mat


def estat_vce(session: Session, est: Estimate, body: Body) -> None:
    """``estat vce [, covariance correlation]``."""
    _only(body, "covariance", "cov", "correlation", "corr", "cor", "eqlabels")
    e = est.e
    names = e.b.colnames
    V = e.V.data.astype(float)
    corr = body.flag("correlation", "corr", "cor")
    M = stats.correlation(V) if corr else V
    if corr:
        M = np.where(np.isfinite(M), M, 0.0)
    short = [n.split(":", 1)[1] if ":" in n else n for n in names]
    out = session.out
    out.line()
    what = "Correlation" if corr else "Covariance"
    out.line(f"{what} matrix of coefficients of melogit model")
    for line in matrix_lines("", Matrix(short, short, M))[2:]:
        out.line(line)
    session.clear_r()
    session.r_matrices = {"V": Matrix(names, names, V)}


def estat_summarize(session: Session, est: Estimate, body: Body) -> None:
    """``estat summarize``: the dependent variable and covariates over e(sample)."""
    _only(body, "noheader", "labels", "noweights")
    estimation = est.estimation
    if estimation is None:
        raise StataError("estimation sample not found; refit the model", 321)
    design = estimation.design  # type: ignore[attr-defined]
    ds = session.data()
    variables = [design.depvar]
    for info in design.fixed.columns:
        for part in getattr(info, "parts", []):
            if part.var not in variables:
                variables.append(part.var)
    sample = session.sample_mask(est)
    out = session.out
    N = int(sample.sum())
    if not body.flag("noheader"):
        out.line()
        out.line(f"  Estimation sample melogit{'Number of obs = ':>36}{fmt(N, '%9.0fc')}")
    out.line()
    out.line("  " + "-" * 61)
    out.line("       Variable |         Mean   Std. dev.         Min          Max")
    out.line("  " + "-" * 14 + "+" + "-" * 46)
    rows = []
    for var in variables:
        if var not in ds.varnames or ds.is_string(var):
            continue
        x = ds.frame[var].to_numpy(dtype=float)[sample]
        mean, sd, lo, hi = stats.summary(x)
        rows.append([mean, sd, lo, hi])
        out.line(
            f"  {var[-13:]:>13} |{fmt(mean, '%9.0g'):>13}{fmt(sd, '%9.0g'):>12}"
            f"{fmt(lo, '%9.0g'):>12}{fmt(hi, '%9.0g'):>13}"
        )
    out.line("  " + "-" * 61)
    kept = [v for v in variables if v in ds.varnames and not ds.is_string(v)]
    session.clear_r()
    session.r_matrices = {
        "stats": Matrix(kept, ["mean", "sd", "min", "max"], np.array(rows).reshape(-1, 4))
    }
