"""test, testparm, lincom, nlcom: parse the command, call :mod:`melogit_cli.postest`, print
what it returns and post r(); and ``r(table)`` after every estimation table."""

from __future__ import annotations

import math

from melogit_cli.errors import StataError, option_not_allowed
from melogit_cli.interp.parse import option_matches
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.postest.coefs import CoefNames
from melogit_cli.postest.combinations import lincom as lincom_of
from melogit_cli.postest.combinations import nlcom as nlcom_of
from melogit_cli.postest.wald import (
    MTEST_METHODS,
    Constraint,
    WaldResult,
    mtest_matrix,
    parse_test,
    testparm_constraints,
    wald,
)
from melogit_cli.render.postest import (
    constraint_block,
    lincom_lines,
    nlcom_header,
    nlcom_table,
    test_lines,
)
from melogit_cli.results.eresults import EResults
from melogit_cli.results.rtable import coef_table
from melogit_cli.syntax.optargs import parse_level, split_top_comma

# ---------------------------------------------------------------------- options


def _option_words(text: str | None) -> list[tuple[str, str | None]]:
    """``acc mtest(holm) level(90)`` -> ``[("acc", None), ("mtest", "holm"), ...]``."""
    out: list[tuple[str, str | None]] = []
    cur, depth = "", 0
    for ch in (text or "") + " ":
        depth += ch == "("
        depth -= ch == ")"
        if ch.isspace() and depth == 0:
            if cur:
                name, paren, arg = cur.partition("(")
                if paren and not arg.endswith(")"):
                    raise StataError("invalid syntax", 198)
                out.append((name.lower(), arg[:-1].strip() if paren else None))
            cur = ""
        else:
            cur += ch
    return out


def _estimates(session: Session) -> EResults:
    """The active results with e(b) and e(V); ``last estimates not found`` r(301) otherwise."""
    e = session.last().e
    if "b" not in e.matrices or "V" not in e.matrices:
        raise StataError("last estimates not found", 301)
    return e


def _check_level(arg: str | None) -> float:
    if arg is None:
        raise StataError("option level() incorrectly specified", 198)
    return parse_level(arg)


# ---------------------------------------------------------------------- r()


def _post_test(session: Session, result: WaldResult) -> None:
    session.clear_r()
    r = session.r_scalars
    r["drop"] = 1.0 if result.dropped else 0.0
    for i, k in enumerate(result.dropped, start=1):
        r[f"dropped_{i}"] = float(k)
    r["chi2"] = result.chi2
    r["df"] = float(result.df)
    r["p"] = result.p
    if result.mtest is not None:
        session.r_matrices["mtest"] = mtest_matrix(result)
        session.r_macros["mtmethod"] = result.mtmethod


def post_rtable(session: Session, e: EResults, level: float = 95.0, eform: bool = False) -> None:
    """``r(table)`` and ``r(level)`` as an estimation table leaves them (other r() results
    are kept: do-files here read an earlier command's r() after a later fit)."""
    session.r_matrices["table"] = coef_table(e, level, eform)
    session.r_scalars["level"] = float(level)


# ---------------------------------------------------------------------- test


def _remember(session: Session, constraints: list[Constraint]) -> None:
    """Keep the constraints for ``accumulate`` and for replay, tied to the active results."""
    session.last_test = (session.last(), list(constraints))


def _previous(session: Session) -> list[Constraint]:
    held = session.last_test
    if held is None or held[0] is not session.current:
        return []
    return held[1]


@command("test")
def test(session: Session, rest: str) -> None:
    """``test spec [(spec) ...] [, accumulate notest mtest[(method)] constant]``."""
    e = _estimates(session)
    text, opts = split_top_comma(rest)
    accumulate = notest = constant = False
    mtest = ""
    for name, arg in _option_words(opts):
        if arg is None and option_matches(name, "accumulate", 1):
            accumulate = True
        elif arg is None and option_matches(name, "notest", 3):
            notest = True
        elif arg is None and option_matches(name, "constant", 4):
            constant = True
        elif arg is None and name == "common":
            pass
        elif option_matches(name, "mtest", 1):
            mtest = _mtest_method(arg)
        else:
            raise option_not_allowed(name if arg is None else f"{name}()")
    if mtest and notest:
        raise StataError("options mtest and notest may not be combined", 198)
    if mtest and accumulate:
        raise StataError("options mtest and accumulate may not be combined", 198)
    names = CoefNames.of(e)
    if not text.strip():
        constraints = _previous(session)
        if not constraints:
            raise StataError("no previous test", 301) if not accumulate else \
                StataError("invalid syntax", 198)
    else:
        constraints = parse_test(text, names, constant)
        if accumulate:
            constraints = _previous(session) + constraints
    _remember(session, constraints)
    result = wald(e, constraints, mtest)
    if notest:
        session.out.lines(constraint_block(result))
        return
    session.out.lines(test_lines(result))
    _post_test(session, result)


def _mtest_method(arg: str | None) -> str:
    if arg is None:
        return "noadjust"
    words = arg.split()
    matches = [m for m in MTEST_METHODS if len(words) == 1 and m.startswith(words[0].lower())
               and len(words[0]) >= (5 if m == "noadjust" else 1)]
    if len(matches) != 1:
        raise StataError(f"invalid mtest(): {arg}", 198)
    return matches[0]


@command("testparm")
def testparm(session: Session, rest: str) -> None:
    """``testparm varlist [, equal equation(eqno)]``."""
    e = _estimates(session)
    text, opts = split_top_comma(rest)
    equal = False
    equation = None
    for name, arg in _option_words(opts):
        if arg is None and option_matches(name, "equal", 1):
            equal = True
        elif arg is not None and option_matches(name, "equation", 2):
            equation = arg.strip()
        else:
            raise option_not_allowed(name if arg is None else f"{name}()")
    if not text.strip():
        raise StataError("varlist required", 100)
    names = CoefNames.of(e)
    constraints = testparm_constraints(names, text, equal, equation)
    _remember(session, constraints)
    result = wald(e, constraints)
    session.out.lines(test_lines(result))
    _post_test(session, result)


# ---------------------------------------------------------------------- lincom / nlcom


@command("lincom")
def lincom(session: Session, rest: str) -> None:
    """``lincom exp [, or eform level(#)]``."""
    e = _estimates(session)
    text, opts = split_top_comma(rest)
    level = session.settings.level
    eforms: list[str] = []
    for name, arg in _option_words(opts):
        if option_matches(name, "level", 1):
            level = _check_level(arg)
        elif arg is None and name == "or":
            eforms.append("or")
        elif arg is None and option_matches(name, "eform", 2):
            eforms.append("eform")
        else:
            raise option_not_allowed(name if arg is None else f"{name}()")
    if len(eforms) > 1:
        raise StataError("only one display option can be specified", 198)
    if not text.strip():
        raise StataError("invalid syntax", 198)
    result = lincom_of(e, text.strip(), level, eforms[0] if eforms else "")
    session.out.lines(lincom_lines(result, _depvar(e)))
    session.clear_r()
    session.r_scalars.update(
        {"estimate": result.estimate, "se": result.se, "level": level, "z": result.z,
         "p": result.p, "lb": result.lb, "ub": result.ub}
    )


def _depvar(e: EResults) -> str:
    depvar = e.macros.get("depvar", "")
    return depvar if len(depvar.split()) == 1 else ""


@command("nlcom")
def nlcom(session: Session, rest: str) -> None:
    """``nlcom [name:] exp`` or ``nlcom (name: exp) (name: exp) ... [, level(#) post
    noheader]``; with no expression after ``nlcom, post``, replay."""
    est = session.last()
    e = est.e
    text, opts = split_top_comma(rest)
    level = session.settings.level
    post = noheader = False
    for name, arg in _option_words(opts):
        if option_matches(name, "level", 1):
            level = _check_level(arg)
        elif arg is None and name == "post":
            post = True
        elif arg is None and option_matches(name, "noheader", 5):
            noheader = True
        elif arg is not None and option_matches(name, "iterate", 4):
            pass  # derivatives are taken by Richardson extrapolation, not iterated
        else:
            raise option_not_allowed(name if arg is None else f"{name}()")
    if not text.strip():
        if e.macros.get("cmd") != "nlcom":
            raise StataError("last estimates not found", 301)
        _nlcom_replay(session, e, level)
        return
    e = _estimates(session)
    variables = session.ds.varnames if session.ds is not None else []
    result = nlcom_of(e, text, level, outer=session, variables=variables)
    depvar = _depvar(e)
    if not noheader:
        session.out.lines(nlcom_header(result))
    session.out.lines(nlcom_table(result, depvar))
    session.clear_r()
    if math.isfinite(result.N):
        session.r_scalars["N"] = result.N
    posted = result.eresults(depvar)
    session.r_matrices["b"] = posted.b
    session.r_matrices["V"] = posted.V
    if post:
        session.current = Estimate(posted, None, est.sample_ids, None)


def _nlcom_replay(session: Session, e: EResults, level: float) -> None:
    from melogit_cli.postest.combinations import Nlcom

    names = list(e.b.colnames)
    result = Nlcom(names, names, e.b.data.reshape(-1), e.V.data, level)
    session.out.lines(nlcom_table(result, _depvar(e)))



# ---------------------------------------------------------------------- ereturn display


def ereturn_display(session: Session, opts: str | None) -> None:
    """``ereturn display [, level(#) eform]``: the coefficient table of e(b) and e(V), then
    r(table)."""
    from melogit_cli.render.coeftable import TableStyle, table_lines

    e = _estimates(session)
    level = session.settings.level
    eform = False
    for name, arg in _option_words(opts):
        if option_matches(name, "level", 1):
            level = _check_level(arg)
        elif arg is None and (name == "or" or option_matches(name, "eform", 2)):
            eform = True
        else:
            raise option_not_allowed(name if arg is None else f"{name}()")
    style = TableStyle(level=level, eform=eform, linesize=session.linesize)
    session.out.lines(table_lines(e, style))
    post_rtable(session, e, level, eform)
