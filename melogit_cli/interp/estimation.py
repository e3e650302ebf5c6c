"""Estimation: melogit (fit and replay), estimates store/restore/replay/dir/table/drop,
lrtest."""

from __future__ import annotations

import math

import numpy as np

from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.render.footer import wrap_note
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults
from melogit_cli.special import chi2_tail
from melogit_cli.syntax.spec import Options


@command("melogit")
def melogit(session: Session, rest: str) -> None:
    """Every form of ``melogit``; with no depvar, replay the last estimates."""
    from melogit_cli.api import run
    from melogit_cli.render import render_results
    from melogit_cli.render.iterlog import IterationLog
    from melogit_cli.render.progress import show_progress
    from melogit_cli.syntax.parser import parse_melogit

    spec = parse_melogit(f"melogit {rest}".strip())
    if spec.replay:
        est = session.last()
        if est.e.macros.get("cmd2") != "melogit":
            raise StataError("last estimates not found", 301)
        session.out.write(render_results(est.e, spec.options, session.linesize))
        return
    if spec.options.constraints:
        missing = [k for k in spec.options.constraints if k not in session.constraints]
        if missing:
            raise StataError(f"constraint {missing[0]} not defined", 111)
    ds = session.data()
    with show_progress(IterationLog(session.out), enabled=session.progress) as progress:
        estimation = run(spec, ds, progress.log, progress)
    e = estimation.eresults
    ids = session.row_ids[estimation.design.sample]
    session.current = Estimate(e, estimation, ids, spec.options)
    session.out.write(render_results(e, spec.options, session.linesize))
    for note in estimation.notes:
        if note.startswith("Warning"):
            session.out.line(note)


# ---------------------------------------------------------------------- estimates


def _names(text: str, session: Session) -> list[str]:
    words = text.split()
    if not words or words == ["_all"] or words == ["*"]:
        return list(session.stored)
    return words


@command("estimates", "est")
def estimates(session: Session, rest: str) -> None:
    """``estimates store|restore|replay|dir|table|drop``."""
    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub, arg = words[0], (words[1] if len(words) > 1 else "")
    arg, _, opts = arg.partition(",")
    if "store".startswith(sub) and len(sub) >= 3:
        name = arg.strip()
        if not name or len(name.split()) > 1:
            raise syntax_error()
        if name == "." or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise StataError(f"{name} invalid name", 198)
        session.stored[name] = session.last()
        return
    if len(sub) >= 3 and "restore".startswith(sub):
        session.current = session.estimate_named(arg.strip())
        return
    if sub == "r" or (len(sub) >= 3 and "replay".startswith(sub)):
        _replay(session, arg, opts)
        return
    if sub == "dir":
        _dir(session, _names(arg, session))
        return
    if "table".startswith(sub) and len(sub) >= 3:
        _table(session, arg, opts)
        return
    if sub in ("drop", "clear"):
        if sub == "clear":
            session.stored.clear()
            return
        for name in arg.split():
            if name in ("_all", "*"):
                session.stored.clear()
            elif session.stored.pop(name, None) is None:
                raise StataError(f"estimation result {name} not found", 111)
        return
    raise StataError(f"estimates: unknown subcommand {sub}", 198)


def _display_options(opts: str) -> Options:
    from melogit_cli.syntax import options as opt
    from melogit_cli.syntax.spec import Options as Opts

    options = Opts()
    raw = [opt.split_option(w) for w in _option_words(opts)]
    opt.apply_replay_options(raw, options)
    return options


def _option_words(text: str) -> list[str]:
    out, cur, depth = [], "", 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _replay(session: Session, arg: str, opts: str) -> None:
    from melogit_cli.render import render_results

    names = arg.split() or ["."]
    options = _display_options(opts)
    for name in names:
        est = session.estimate_named(name)
        title = "active results" if name == "." else f"Model {name}"
        rule = "-" * 78
        session.out.lines(["", rule, title, rule])
        session.out.write(render_results(est.e, options, session.linesize))


def _dir(session: Session, names: list[str]) -> None:
    out = session.out
    out.line()
    out.line("-" * 69)
    out.line("        Name | Command      Depvar       Npar  Title")
    out.line("-------------+" + "-" * 55)
    for name in names:
        est = session.estimate_named(name)
        e = est.e
        npar = len(e.b.colnames)
        title = e.macros.get("title", "")
        out.line(
            f"{name[:12]:>12} | {e.macros.get('cmd', '')[:12]:<12} "
            f"{e.macros.get('depvar', '')[:12]:<12}{npar:>5}  {title}".rstrip()
        )
    out.line("-" * 69)


def _hidden(name: str) -> bool:
    """Base levels and omitted terms (``0b.urban``, ``o._cons``)."""
    return any(
        part.startswith("o.") or (
            "." in part and ("b" in part.split(".")[0] or "o" in part.split(".")[0])
        )
        for part in name.split("#")
    )


def _table(session: Session, arg: str, opts: str) -> None:
    names = arg.split() or ["."]
    models = [(n, session.estimate_named(n).e) for n in names]
    words = _option_words(opts)
    want_se = "se" in words
    stats_opt = [w for w in words if w.startswith("stats(")]
    stats = stats_opt[0][6:-1].split() if stats_opt else []
    equations: dict[str, list[str]] = {}
    for _, e in models:
        for c in e.b.colnames:
            eq, _, var = c.rpartition(":")
            if _hidden(var):
                continue
            rows = equations.setdefault(eq, [])
            if var not in rows:
                rows.append(var)
    for rows in equations.values():  # the constant last, as Stata lists it
        if "_cons" in rows:
            rows.remove("_cons")
            rows.append("_cons")
    label_w = max([12, *(len(v) for rows in equations.values() for v in rows)])
    label_w = min(label_w, 32)
    width = 12
    out = session.out
    total = label_w + 1 + (width + 1) * len(models)
    sep = "-" * (label_w + 1) + "+" + "-" * ((width + 1) * len(models) - 1)
    out.line()
    out.line("-" * total)
    head = "".join(f" {n[:width]:^{width}}" for n, _ in models)
    out.line((f"{'Variable':>{label_w}} |" + head).rstrip())
    out.line(sep)
    for k, (eq, rows) in enumerate(equations.items()):
        if k:
            out.line(sep)
        out.line(f"{eq[:label_w]:<{label_w}} |")
        for var in rows:
            cells, ses = [], []
            for _, e in models:
                col = f"{eq}:{var}"
                if col in e.b.colnames:
                    j = e.b.colnames.index(col)
                    cells.append(fmt(float(e.b.data[0, j]), "%9.0g"))
                    ses.append(fmt(math.sqrt(max(float(e.V.data[j, j]), 0.0)), "%9.0g"))
                else:
                    cells += [""]
                    ses += [""]
            label = var if len(var) <= label_w else var[: label_w - 2] + "~" + var[-1]
            out.line(f"{label:>{label_w}} |" + "".join(f"  {x:>9}  " for x in cells).rstrip())
            if want_se:
                out.line(f"{'':>{label_w}} |" + "".join(f"  {x:>9}  " for x in ses).rstrip())
    if stats:
        out.line(sep)
        for s in stats:
            vals = [e.scalars.get(s, math.nan) for _, e in models]
            out.line(
                f"{s:>{label_w}} |" + "".join(f"  {fmt(v, '%9.0g'):>9}  " for v in vals).rstrip()
            )
    out.line("-" * total)
    if want_se:
        out.line(" " * max(total - 17, 0) + "Legend: b/se")


# ---------------------------------------------------------------------- lrtest


def _df(e: EResults) -> float:
    rank = e.scalars.get("rank")
    return float(rank if rank is not None else e.scalars.get("k", len(e.b.colnames)))


def _var_names(e: EResults) -> set[str]:
    return {c.split(":", 1)[-1] for c in e.b.colnames if "var(" in c}


@command("lrtest")
def lrtest(session: Session, rest: str) -> None:
    """``lrtest A [B] [, df(#) force]``: B defaults to the active results (``.``)."""
    text, _, opts = rest.partition(",")
    names = text.split()
    if not names or len(names) > 2:
        raise syntax_error()
    if len(names) == 1:
        names.append(".")
    (n1, est1), (n2, est2) = ((n, session.estimate_named(n)) for n in names)
    e1, e2 = est1.e, est2.e
    words = _option_words(opts)
    force = "force" in words
    df_override = next((w[3:-1] for w in words if w.startswith("df(")), None)
    if not force:
        for e in (e1, e2):
            if e.macros.get("vce") not in (None, "", "oim", "opg"):
                raise StataError(
                    "LR test likely invalid for models with robust vce", 498
                )
        if e1.macros.get("depvar") != e2.macros.get("depvar"):
            raise StataError(
                "models are not nested: the dependent variables differ "
                f"({e1.macros.get('depvar')} vs. {e2.macros.get('depvar')})",
                498,
            )
        N1, N2 = e1.scalars.get("N"), e2.scalars.get("N")
        if N1 != N2:
            raise StataError(
                f"observations differ: {fmt(N1, '%12.0g').strip()} vs. "
                f"{fmt(N2, '%12.0g').strip()}",
                498,
            )
    df1, df2 = _df(e1), _df(e2)
    if df1 == df2 and df_override is None:
        raise StataError(f"df(unrestricted) = df(restricted) = {fmt(df1, '%9.0g').strip()}", 498)
    # the restricted model has fewer parameters
    if df1 > df2:
        (n1, e1, df1), (n2, e2, df2) = (n2, e2, df2), (n1, e1, df1)
    ll0, ll1 = e1.scalars["ll"], e2.scalars["ll"]
    if not force and ll0 > ll1 + 1e-6 * (1 + abs(ll1)):
        raise StataError(
            f"models are not nested: the restricted model {n1} has the larger log likelihood",
            498,
        )
    df = float(df_override) if df_override is not None else df2 - df1
    chi2 = max(0.0, 2.0 * (ll1 - ll0))
    p = float(chi2_tail(df, chi2)) if df > 0 else math.nan
    out = session.out
    out.line()
    out.line("Likelihood-ratio test")
    out.line(f"Assumption: {n1} nested within {n2}")
    out.line()
    out.line(f" LR chi2({fmt(df, '%9.0g').strip()}) = {fmt(chi2, '%6.2f')}")
    out.line(f"Prob > chi2 = {fmt(p, '%6.4f')}")
    if _var_names(e2) - _var_names(e1):
        out.line()
        out.lines(
            wrap_note(
                "Note: The reported degrees of freedom assumes the null hypothesis is not on "
                "the boundary of the parameter space.  If this is not true, then the reported "
                "test is conservative.",
                session.linesize,
            )
        )
    session.clear_r()
    session.r_scalars = {"chi2": chi2, "df": df, "p": p}


# ---------------------------------------------------------------------- ereturn / return


def _stored_lines(kind: str, scalars: dict, macros: dict, matrices: dict) -> list[str]:
    lines: list[str] = []
    if scalars:
        lines += ["", "scalars:"]
        for k, v in scalars.items():
            lines.append(f"{kind + '(' + k + ')':>20} =  {fmt(v, '%18.0g').strip()}")
    if macros:
        lines += ["", "macros:"]
        for k, v in macros.items():
            lines.append(f"{kind + '(' + k + ')':>20} : \"{v}\"")
    if matrices:
        lines += ["", "matrices:"]
        for k, m in matrices.items():
            r, c = np.atleast_2d(m.data).shape
            lines.append(f"{kind + '(' + k + ')':>20} :  {r} x {c}")
    return lines


@command("ereturn", "eret")
def ereturn(session: Session, rest: str) -> None:
    """``ereturn list``: every e() result of the active estimates."""
    if rest.strip() not in ("list", "li", "l"):
        raise syntax_error()
    e = session.last().e
    lines = _stored_lines("e", e.scalars, e.macros, e.matrices)
    lines += ["", "functions:", f"{'e(sample)':>20}"]
    session.out.lines(lines)


@command("return", "ret")
def return_(session: Session, rest: str) -> None:
    """``return list``: the r() results of the last r-class command."""
    if rest.strip() not in ("list", "li", "l"):
        raise syntax_error()
    session.out.lines(
        _stored_lines("r", session.r_scalars, session.r_macros, session.r_matrices)
    )
