"""Estimation: melogit (fit and replay), estimates store/restore/replay/dir/table/drop,
lrtest."""

from __future__ import annotations

import numpy as np

from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.parse import parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.interp.tests_cmds import post_rtable
from melogit_cli.render.footer import wrap_note
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.lrtest import lrtest as lr_test
from melogit_cli.syntax.spec import Options
from melogit_cli.syntax.textscan import top_level_words


@command("melogit")
def melogit(session: Session, rest: str, fitter=None) -> None:
    """Every form of ``melogit``; with no depvar, replay the last estimates.

    ``fitter(spec, ds, sink, progress)`` fits in place of the plain fit (``svy:``)."""
    from melogit_cli.estimate import estimate
    from melogit_cli.render import render_results
    from melogit_cli.render.iterlog import IterationLog
    from melogit_cli.render.progress import show_progress
    from melogit_cli.syntax.parser import parse_melogit

    spec = parse_melogit(f"melogit {rest}".strip(), session.settings.option_defaults())
    if spec.replay:
        est = session.last()
        if est.e.macros.get("cmd2") != "melogit":
            raise StataError("last estimates not found", 301)
        session.out.write(render_results(est.e, spec.options, session.linesize))
        post_rtable(session, est.e, spec.options.level, spec.options.or_)
        return
    if spec.options.constraints:
        missing = [k for k in spec.options.constraints if k not in session.constraints]
        if missing:
            raise StataError(f"constraint {missing[0]} not defined", 111)
    ds = session.data()
    with show_progress(IterationLog(session.out), enabled=session.progress) as progress:
        if fitter is None:
            estimation = estimate(
                spec, ds, progress.log, progress, session.constraints, session.matrices
            )
        else:
            estimation = fitter(spec, ds, progress.log, progress)
    e = estimation.eresults
    ids = session.row_ids[estimation.design.sample]
    session.current = Estimate(e, estimation, ids, spec.options)
    session.out.write(render_results(e, spec.options, session.linesize))
    post_rtable(session, e, spec.options.level, spec.options.or_)
    for note in estimation.notes:
        if note.startswith(("Warning", "Note: Missing standard errors")):
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
    head, comma, opts = rest.partition(",")
    words = head.split(None, 1)
    if not words:
        raise syntax_error()
    sub, arg = words[0], (words[1] if len(words) > 1 else "")
    if "store".startswith(sub) and len(sub) >= 3:
        name = arg.strip()
        if not name or len(name.split()) > 1:
            raise syntax_error()
        if name == "." or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise StataError(f"{name} invalid name", 198)
        nocopy = parse_body(comma + opts, ("nocopy",)).flag("nocopy")
        session.stored[name] = session.last()
        if nocopy:  # moved, not copied: no active results remain
            session.current = None
        return
    if sub == "r" or (len(sub) >= 3 and "replay".startswith(sub)):
        _replay(session, arg, opts)
        return
    if "table".startswith(sub) and len(sub) >= 3:
        _table(session, arg, opts)
        return
    if sub in ("stat", "stats"):
        _stats(session, arg, opts)
        return
    parse_body(comma + opts, ())  # the other subcommands take no options
    if len(sub) >= 3 and "restore".startswith(sub):
        session.current = session.estimate_named(arg.strip())
        return
    if sub == "dir":
        _dir(session, _names(arg, session))
        return
    if sub in ("drop", "clear"):
        if (sub == "clear") == bool(arg.strip()):  # clear takes no names, drop needs some
            raise syntax_error()
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


def _display_options(opts: str, session: Session) -> Options:
    from melogit_cli.syntax import options as opt

    options = session.settings.option_defaults()
    raw = [opt.split_option(w) for w in top_level_words(opts)]
    opt.apply_replay_options(raw, options)
    return options


def _replay(session: Session, arg: str, opts: str) -> None:
    from melogit_cli.render import render_results

    names = arg.split() or ["."]
    options = _display_options(opts, session)
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


def _model_list(
    session: Session, arg: str, active: str = "Active"
) -> list[tuple[str, EResults]]:
    """The named results (``.`` the active ones, shown as ``active``), each once; wildcards
    and ``_all``/``*`` as ``est_expand`` reads them."""
    import fnmatch

    names: list[str] = []
    for word in arg.split() or ["."]:
        if word in ("_all", "*"):
            found = list(session.stored)
        elif any(ch in word for ch in "*?"):
            found = [n for n in session.stored if fnmatch.fnmatchcase(n, word)]
            if not found:
                raise StataError(f"estimation result {word} not found", 111)
        else:
            found = [word]
        names += [n for n in found if n not in names]
    if not names:
        raise StataError("last estimates not found", 301)
    return [(active if n == "." else n, session.estimate_named(n).e) for n in names]


def _abbrev_of(word: str, full: str, least: int) -> bool:
    return least <= len(word) <= len(full) and full.startswith(word)


def _integer_option(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise StataError(f"option {name}() incorrectly specified", 198) from None


def _table_options(opts: str, session: Session):
    """Stata's options of ``estimates table`` as a TableOptions."""
    from melogit_cli.render.estimates_table import TableOptions

    o = TableOptions(linesize=session.linesize)
    if session.ds is not None:
        o.variable_labels = dict(session.ds.variable_labels)
    flags = {
        ("se", 2): "se", ("t", 1): "t", ("p", 1): "p", ("star", 4): "star",
        ("eform", 5): "eform", ("varlabel", 4): "varlabel", ("label", 1): "varlabel",
        ("newpanel", 3): "newpanel", ("nofvlabel", 7): "nofvlabel",
        ("baselevels", 4): "baselevels", ("allbaselevels", 7): "baselevels",
        ("noomitted", 6): "noomitted", ("noemptycells", 7): "noemptycells",
    }
    for word in top_level_words(opts):
        key, paren, value = word.partition("(")
        if paren and not value.endswith(")"):
            raise syntax_error()
        value = value[:-1] if paren else ""
        low = key.lower()
        if not paren:
            hit = next((a for (f, n), a in flags.items() if _abbrev_of(low, f, n)), None)
            if hit is not None:
                setattr(o, hit, True)
            elif low in ("b", "vsquish") or _abbrev_of(low, "vsquish", 4):
                pass  # coefficients are always shown; rows are always squished
            else:
                raise StataError(f"option {key} not allowed", 198)
            continue
        if low in ("b", "se", "t", "p"):
            if low != "b":
                setattr(o, low, True)
            setattr(o, "b" if low == "b" else f"{low}_fmt", value.strip())
        elif low == "star":
            try:
                o.star_levels = [float(x) for x in value.split()]
            except ValueError:
                raise StataError("invalid specification of star()", 198) from None
        elif low == "stats" or _abbrev_of(low, "statistics", 4):
            o.stats = [*o.stats, *value.replace(",", " ").split()]
        elif _abbrev_of(low, "keep", 1):
            o.keep = value.split()
        elif _abbrev_of(low, "drop", 1):
            o.drop = value.split()
        elif _abbrev_of(low, "equations", 2):
            o.equations = value
        elif _abbrev_of(low, "stfmt", 3):
            o.stfmt = value.strip()
        elif _abbrev_of(low, "varwidth", 3):
            o.varwidth = _integer_option("varwidth", value)
        elif _abbrev_of(low, "modelwidth", 5):
            o.modelwidth = _integer_option("modelwidth", value)
        elif _abbrev_of(low, "title", 2):
            o.title = value.strip().strip('"')
        elif _abbrev_of(low, "style", 3) and value.strip() in ("oneline", "o", "one", "onel"):
            pass
        else:
            raise StataError(f"option {key}() not allowed", 198)
    return o


def _table(session: Session, arg: str, opts: str) -> None:
    from melogit_cli.render.estimates_table import build, table_lines

    models = _model_list(session, arg)
    table = build(models, _table_options(opts, session))
    session.out.lines(table_lines(table))
    session.clear_r()
    session.r_macros = {"names": " ".join(arg.split()) or "."}
    rows = [f"{r.eq}:{r.name}" for r in table.rows]
    data = np.array(
        [[x for c in r.cells for x in (c.b, c.var)] for r in table.rows], dtype=float
    ).reshape(len(rows), 2 * len(models))
    cols = [f"{n}:{k}" for n, _ in models for k in ("b", "var")]
    session.r_matrices = {"coef": Matrix(rows, cols, data)}
    if table.stats:
        session.r_matrices["stats"] = Matrix(
            [s for s, _ in table.stats], [n for n, _ in models],
            np.array([v for _, v in table.stats], dtype=float),
        )


def _stats(session: Session, arg: str, opts: str) -> None:
    from melogit_cli.render.estimates_table import estimates_stats, information_criteria

    if top_level_words(opts):
        raise StataError(f"option {top_level_words(opts)[0]} not allowed", 198)
    models = _model_list(session, arg, active=".")
    session.out.write(estimates_stats(models))
    frame = information_criteria(models)
    session.clear_r()
    session.r_matrices = {
        "S": Matrix(list(frame.index), ["N", "ll0", "ll", "df", "AIC", "BIC"], frame.to_numpy())
    }


# ---------------------------------------------------------------------- lrtest


@command("lrtest")
def lrtest(session: Session, rest: str) -> None:
    """``lrtest A [B] [, df(#) force]``: B defaults to the active results (``.``)."""
    text, comma, opts = rest.partition(",")
    body = parse_body(comma + opts, ("df", "force"))
    names = text.split()
    if not names or len(names) > 2:
        raise syntax_error()
    if len(names) == 1:
        names.append(".")
    (n1, est1), (n2, est2) = ((n, session.estimate_named(n)) for n in names)
    df_option = body.option("df")
    df_value = None
    if df_option is not None:
        try:
            df_value = float(df_option.arg or "")
        except ValueError:
            raise syntax_error(f"df({df_option.arg or ''}) invalid") from None
    test = lr_test(est1.e, est2.e, (n1, n2), df=df_value, force=body.flag("force"))
    n1, n2, df, chi2, p = test.restricted, test.unrestricted, test.df, test.chi2, test.p
    out = session.out
    out.line()
    out.line("Likelihood-ratio test")
    out.line(f"Assumption: {n1} nested within {n2}")
    out.line()
    out.line(f" LR chi2({fmt(df, '%9.0g').strip()}) = {fmt(chi2, '%6.2f')}")
    out.line(f"Prob > chi2 = {fmt(p, '%6.4f')}")
    if test.boundary:
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
    """``ereturn list``: every e() result of the active estimates; ``ereturn display``."""
    head, _, opts = rest.partition(",")
    if head.strip() in ("display", "displa", "displ", "disp", "dis", "di"):
        from melogit_cli.interp.tests_cmds import ereturn_display

        ereturn_display(session, opts)
        return
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
