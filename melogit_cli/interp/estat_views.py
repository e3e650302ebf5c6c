"""estat sd, recovariance, vce and summarize after melogit: the layouts and r() results
(the statistics are ``melogit_cli.postest.estat``'s)."""

from __future__ import annotations

import math

import numpy as np

from melogit_cli.errors import StataError, option_not_allowed
from melogit_cli.interp.parse import Body, named_options
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.postest import estat as stats
from melogit_cli.render.formats import fmt, parse_format
from melogit_cli.render.matlist import matlist
from melogit_cli.results.eresults import Matrix
from melogit_cli.special import ndtri

RULE = "-" * 78


def _only(body: Body, *allowed: str) -> None:
    for o in body.options:
        if o.name not in allowed:
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))


def level_option(body: Body, default: float) -> float:
    """The ``level(#)`` option of an estat subcommand, else ``default`` (r(198) if it is
    not a number between 10 and 99.99)."""
    opt = body.option("level", "l", "le", "lev", "leve")
    if opt is None:
        return default
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
    level = level_option(body, session.settings.level)
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


def _display_format(text: object) -> str:
    spec = str(text).strip()
    if not spec.startswith("%"):
        spec = "%" + spec
    try:
        parse_format(spec)
    except ValueError:
        raise StataError(f"invalid %format {spec}", 120) from None
    return spec


def estat_recovariance(session: Session, est: Estimate, body: Body) -> None:
    """``estat recovariance [, relevel(levelvar) correlation]``: each level's matrix by
    ``matlist`` (r(Cov#) or r(Corr#), # = 2 for the top level; r(Cov) with relevel())."""
    opts = named_options(body, {"relevel": ("relevel", 5), "corr": ("correlation", 4)})
    e = est.e
    levels = stats.re_covariances(e.b.data[0].astype(float), e.b.colnames)
    corr = "corr" in opts
    what, key = ("correlation", "Corr") if corr else ("covariance", "Cov")
    chosen = None
    if "relevel" in opts:
        want = str(opts["relevel"]).strip()
        ivars = list(dict.fromkeys(e.macros.get("ivars", "").split()))
        if len(want.split()) != 1:
            raise StataError("invalid relevel() specification", 198)
        ds = session.data()
        if want != "_all" and want not in ds.varnames:
            raise StataError(f"variable {want} not found", 111)
        if want not in ivars:
            raise StataError(f"{want} is not a level variable in this model", 198)
        chosen = want
    out = session.out
    session.clear_r()
    number = 1
    for lev, names, S in levels:
        name = lev.split(">")[-1]
        if chosen is not None and name != chosen:
            continue
        M = stats.correlation(S) if corr else S
        labels = [n.replace(".", "_") for n in names]
        for line in matlist(
            M, labels, labels, title=f"Random-effects {what} matrix for level {name}",
            linesize=session.linesize,
        ):
            out.line(line)
        number += 1
        mat = Matrix(labels, labels, M)
        session.r_matrices[key if chosen is not None else f"{key}{number}"] = mat
    if chosen is None:
        session.r_scalars = {"relevels": float(number)}


_VCE = {
    "cov": ("covariance", 3), "corr": ("correlation", 1), "rho": ("rho", 3),
    "block": ("block", 1), "diag": ("diag", 1), "format": ("format", 1),
    "nolines": ("nolines", 5), "equation": ("equation", 2),
    "noomitted": ("noomitted", 6), "noemptycells": ("noemptycells", 7),
    "baselevels": ("baselevels", 4), "allbaselevels": ("allbaselevels", 8),
}


def estat_vce(session: Session, est: Estimate, body: Body) -> None:
    """``estat vce [, covariance correlation block diag format(%fmt) nolines]`` as Stata's
    ``vce``: base levels (and omitted columns with noomitted) left out, equations
    separated by lines, column blocks fitting the line size; r(V) the matrix shown."""
    opts = named_options(body, _VCE)
    if "rho" in opts and "corr" in opts:
        raise StataError("options correlation and rho are synonyms", 198)
    corr = "corr" in opts or "rho" in opts
    if corr and "cov" in opts:
        raise StataError("options correlation and covariance are exclusive", 198)
    if "block" in opts and "diag" in opts:
        raise StataError("options block and diag may not be combined", 184)
    if "equation" in opts:
        raise option_not_allowed(f"equation({opts['equation']})")
    e = est.e
    names, V = stats.vce_columns(
        e.b.colnames, e.V.data.astype(float), base="baselevels" in opts
        or "allbaselevels" in opts, omitted="noomitted" not in opts,
    )
    M = stats.coefficient_correlation(V) if corr else V
    spec = _display_format(opts["format"]) if "format" in opts else (
        "%8.4f" if corr else "%10.0g"
    )
    eqs = [n.split(":", 1)[0] if ":" in n else "_" for n in names]
    short = [n.split(":", 1)[1] if ":" in n else n for n in names]
    what = "correlation" if corr else "covariance"
    out = session.out
    out.line()
    out.line(f"{what.capitalize()} matrix of coefficients of melogit model")
    if "block" in opts or "diag" in opts:
        order = list(dict.fromkeys(eqs))
        for i, ieq in enumerate(order):
            ri = [k for k, q in enumerate(eqs) if q == ieq]
            for jeq in order[: i + 1] if "block" in opts else [ieq]:
                cj = [k for k, q in enumerate(eqs) if q == jeq]
                out.line()
                if "diag" in opts:
                    out.line(f"  {what} matrix of equation {ieq} ")
                elif ieq != jeq:
                    out.line(f"  {what}s of equation {ieq} (row) by equation {jeq} (column)")
                else:
                    out.line(f"  {what}s of equation {ieq}")
                for line in matlist(
                    M[np.ix_(ri, cj)], [short[k] for k in ri], [short[k] for k in cj],
                    fmt_spec=spec, linesize=session.linesize, left=4,
                )[1:]:
                    out.line(line)
    else:
        for line in matlist(
            M, short, short, roweqs=eqs, coleqs=eqs, fmt_spec=spec, rowtitle="e(V)",
            lines="oneline" if "nolines" in opts else "eq", linesize=session.linesize,
        ):
            out.line(line)
    session.clear_r()
    session.r_matrices = {"V": Matrix(names, names, M)}


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


_WCORR = {
    "at": ("at", 2), "all": ("all", 3), "cov": ("covariance", 3), "list": ("list", 4),
    "nosort": ("nosort", 6), "format": ("format", 3),
}


def _value_text(v: object) -> str:
    if isinstance(v, str):
        return v
    x = float(v)  # type: ignore[arg-type]
    return str(int(x)) if x.is_integer() else f"{x:.15g}"


def estat_wcorrelation(session: Session, est: Estimate, body: Body) -> None:
    """``estat wcorrelation [, at(lev = value ...) all covariance list nosort format()]``:
    the marginal standard deviations and correlations (or covariances) of the outcomes of
    one cluster, the random effects integrated out (``postest.estat``)."""
    from melogit_cli.interp.data_cmds import list_rows
    from melogit_cli.interp.postestimation import positions
    from melogit_cli.postest.effects import random_effects

    opts = named_options(body, _WCORR)
    if "at" in opts and "all" in opts:
        raise StataError("at() may not be specified with all", 198)
    spec = _display_format(opts["format"]) if "format" in opts else "%6.3f"
    estimation = est.estimation
    if estimation is None or est.sample_ids is None:
        raise StataError("estimation sample not found; refit the model", 321)
    ds = session.data()
    design = estimation.design  # type: ignore[attr-defined]
    data_row = positions(session.row_ids, est.sample_ids)  # data row of each design row
    if np.any(data_row < 0):
        raise StataError("estimation sample not found; refit the model", 321)
    ivars = [v for v in dict.fromkeys(est.e.macros.get("ivars", "").split()) if v != "_all"]
    values = {v: ds.frame[v].to_numpy()[data_row] for v in ivars}
    keep = np.ones(len(data_row), dtype=bool)
    title: list[str] = []
    if "at" in opts:
        tokens = str(opts["at"]).replace("=", " = ").replace(",", " ").split()
        deepest = len(ivars)
        k = 0
        while k < len(tokens):
            lev = tokens[k]
            k += 2 if k + 1 < len(tokens) and tokens[k + 1] == "=" else 1
            if k >= len(tokens):
                raise StataError("invalid at() specification", 198)
            text = tokens[k]
            k += 1
            if lev not in ds.varnames:
                raise StataError(f"variable {lev} not found", 111)
            if lev not in ivars:
                raise StataError(f"{lev} is not a level variable in your model", 198)
            deepest = min(deepest, ivars.index(lev))
            col = values[lev]
            if ds.is_string(lev):
                match = col == text.strip('"')
            else:
                try:
                    match = col.astype(float) == float(text)
                except ValueError:
                    raise StataError(f"{text} invalid number", 198) from None
            keep &= match
            if not keep.any():
                raise StataError(
                    f"{lev} == {text} not represented in the estimation sample or at other "
                    "specified level values", 459,
                )
            title.append(f"{lev} = {_value_text(col[np.flatnonzero(match)[0]])}")
        for upper in ivars[:deepest]:
            if len(set(values[upper][keep].tolist())) > 1:
                raise StataError(
                    f"Because of implied nesting, you must also specify a value for {upper}",
                    459,
                )
    elif "all" not in opts:
        first = int(np.argmin(data_row))
        for lev in ivars:
            keep &= values[lev] == values[lev][first]
            title.append(f"{lev} = {_value_text(values[lev][first])}")
    what = "all the data" if not title else " ".join(title)
    rows = np.flatnonzero(keep)
    if "nosort" in opts:
        rows = rows[np.argsort(data_row[rows], kind="stable")]
    else:
        keys = [data_row[rows]] + [values[v][rows] for v in reversed(ivars)]
        rows = rows[np.lexsort(keys)]

    with np.errstate(all="ignore"):
        effects = random_effects(estimation, "ebmodes")
    fit = estimation.fit  # type: ignore[attr-defined]
    eta = design.fixed.x_est[rows] @ fit.beta + design.offset[rows]
    S = stats.random_part_covariance(
        [eff.unit[rows] for eff in effects], [eff.Z[rows] for eff in effects],
        [np.atleast_2d(eff.cov) for eff in effects],
    )
    C = stats.within_cluster_covariance(eta, design.trials[rows], S)
    sd = np.sqrt(np.maximum(np.diag(C), 0.0))
    R = stats.correlation(C)
    names = [str(i + 1) for i in range(len(rows))]
    out = session.out
    out.line()
    covariance = "cov" in opts
    lead = "Covariances" if covariance else "Standard deviations and correlations"
    out.line(f"{lead} for {what}:")
    if covariance:
        out.lines(matlist(C, names, names, fmt_spec=spec, rowtitle="obs",
                          linesize=session.linesize))
    else:
        out.lines(matlist(sd[None, :], ["sd"], names, fmt_spec=spec, rowtitle="obs",
                          title="Standard deviations:", linesize=session.linesize))
        out.lines(matlist(R, names, names, fmt_spec=spec, rowtitle="obs",
                          title="Correlations:", linesize=session.linesize))
    if "list" in opts:
        variables = [*ivars, design.depvar]
        for info in design.fixed.columns:
            for part in getattr(info, "parts", []):
                variables.append(part.var)
        for eff in effects:
            variables += [n for n in eff.names if n != "_cons"]
        variables = [v for v in dict.fromkeys(variables) if v in ds.varnames]
        out.line()
        out.line("Data:")
        list_rows(session, variables, data_row[rows], numbers=np.arange(1, len(rows) + 1))
    session.clear_r()
    session.r_matrices = {
        "sd": Matrix(["sd"], names, sd[None, :]),
        "Corr": Matrix(names, names, R),
        "Cov": Matrix(names, names, C),
    }
