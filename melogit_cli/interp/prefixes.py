"""The ``svyset`` command and the ``svy:``, ``by varlist:`` and ``bysort varlist:`` prefixes.

The prefixes are commands whose text runs to a top-level colon; what follows is run as a
command of its own.  The survey variance itself is library code (``results/svy.py``).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.parse import parse_body, parse_line
from melogit_cli.interp.registry import command, lookup
from melogit_cli.interp.session import Session
from melogit_cli.results.svy import Stage, SurveyDesign

_WEIGHT_RE = re.compile(r"^(?P<unit>[^\[\s]+)?\s*(?:\[\s*(?P<kind>\w+)\s*=\s*(?P<var>\w+)\s*\])?$")


def split_prefix(rest: str) -> tuple[str, str]:
    """``text : command`` -> (text, command) at the first colon outside parentheses and
    quotes; no colon is ``invalid syntax`` r(198)."""
    depth, quote = 0, False
    for i, ch in enumerate(rest):
        if ch == '"':
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ":" and depth == 0:
            return rest[:i].strip(), rest[i + 1 :].strip()
    raise syntax_error()


# ---------------------------------------------------------------------- svyset


def _stage(text: str, first: bool, ds, design: SurveyDesign) -> Stage:
    from melogit_cli.design.varlist import resolve_one

    body = parse_body(text, ("strata", "str", "stra", "strat", "fpc", "weight", "dof", "vce",
                             "singleunit", "single", "singleu"))
    match = _WEIGHT_RE.match(body.anything)
    if match is None or body.if_expr is not None or body.in_range is not None:
        raise syntax_error()
    unit = match["unit"] or "_n"
    if not first and not match["unit"]:
        raise syntax_error()
    stage = Stage(unit=unit if unit == "_n" else resolve_one(unit, ds))
    if match["kind"]:
        if not first:
            raise StataError("weights not allowed", 101)
        kind = match["kind"].lower()
        if not (kind.startswith("pw") and "pweight".startswith(kind)):
            full = {"f": "fweights", "a": "aweights", "i": "iweights"}.get(kind[:1], kind)
            raise StataError(f"{full} not allowed", 101)
        design.pweight = resolve_one(match["var"], ds)
    for opt in body.options:
        if opt.name in ("strata", "str", "stra", "strat"):
            stage.strata = resolve_one(opt.arg or "", ds)
        elif opt.name in ("fpc", "weight"):
            setattr(stage, opt.name, resolve_one(opt.arg or "", ds))
        elif opt.name == "dof":
            try:
                design.dof = float(opt.arg or "")
            except ValueError:
                raise StataError("option dof() incorrectly specified", 198) from None
        elif opt.name == "vce":
            if (opt.arg or "") not in ("linear", "lineari", "linearized", "lineariz", "linearize"):
                raise StataError(f"vce({opt.arg}) not allowed with svy: melogit", 198)
        elif opt.name.startswith("single"):
            if (opt.arg or "") not in ("missing", "mis", "miss", "missi", "missin"):
                raise StataError(f"singleunit({opt.arg}) not supported; only missing", 198)
    return stage


def _report(session: Session, design: SurveyDesign) -> None:
    out = session.out
    out.line()
    out.line(f"Sampling weights: {design.pweight or '<none>'}")
    out.line(f"{'VCE':>16}: linearized")
    out.line(f"{'Single unit':>16}: missing")
    for i, stage in enumerate(design.stages, start=1):
        out.line(f"{f'Strata {i}':>16}: {stage.strata or '<one>'}")
        unit = stage.unit if stage.unit != "_n" else "<observations>"
        out.line(f"{f'Sampling unit {i}':>16}: {unit}")
        out.line(f"{f'FPC {i}':>16}: {stage.fpc or '<zero>'}")
        if stage.weight:
            out.line(f"{f'Weight {i}':>16}: {stage.weight}")


@command("svyset")
def svyset(session: Session, rest: str) -> None:
    """``svyset psu [pw=w] [, strata() fpc() weight()] [|| ssu, ...]...``, ``svyset, clear``,
    ``svyset`` (report)."""
    ds = session.data()
    text = rest.strip()
    if not text:
        if session.svy is None:
            raise StataError("data not set up for svy, use svyset", 119)
        _report(session, session.svy)
        return
    if re.fullmatch(r",\s*clear", text):
        session.svy = None
        return
    design = SurveyDesign(stages=[])
    for i, part in enumerate(text.split("||")):
        design.stages.append(_stage(part.strip(), i == 0, ds, design))
    session.svy = design
    _report(session, design)


# ---------------------------------------------------------------------- svy:


@command("svy")
def svy(session: Session, rest: str) -> None:
    """``svy [linearized] [, subpop()] : melogit ...``."""
    from melogit_cli.interp.estimation import melogit
    from melogit_cli.results.svy import fit_survey

    head, inner = split_prefix(rest)
    body = parse_body(head, ("subpop",))
    if body.anything in ("bootstrap", "brr", "jackknife", "sdr"):
        raise StataError(f"vce({body.anything}) not supported with svy: melogit", 198)
    if body.anything not in ("", "linear", "lineari", "linearize", "linearized"):
        raise syntax_error()
    if session.svy is None:
        raise StataError("data not set up for svy, use svyset", 119)
    cl = parse_line(inner)
    if cl.prefixes:
        raise syntax_error()
    if lookup(cl.name).name != "melogit":
        raise StataError(f"{cl.name} is not supported by svy", 199)
    design = session.svy
    option = body.option("subpop")
    subpop = None if option is None else _subpop(session, option.arg or "")
    session.out.line("(running melogit on estimation sample)")

    def fitter(spec, ds, sink, progress):
        return fit_survey(spec, design, ds, sink, progress, subpop, session.matrices)

    melogit(session, cl.rest, fitter=fitter)


def _subpop(session: Session, text: str) -> np.ndarray:
    """``subpop([varname] [if exp])``: the rows where varname is nonzero and not missing
    and the expression is true."""
    from melogit_cli.design.varlist import resolve_one
    from melogit_cli.interp.variables import select_rows

    body = parse_body(text, ())
    if not body.anything and body.if_expr is None:
        raise StataError("option subpop() incorrectly specified", 198)
    if body.in_range is not None:
        raise StataError("in not allowed", 101)
    rows = select_rows(session, body)
    if body.anything:
        ds = session.data()
        name = resolve_one(body.anything, ds)
        if ds.is_string(name):
            raise StataError("type mismatch", 109)
        values = ds.frame[name].to_numpy(dtype=float)
        rows &= ~np.isnan(values) & (values != 0)
    return rows


# ---------------------------------------------------------------------- by, bysort


def _by(session: Session, rest: str, sort: bool) -> None:
    from melogit_cli.design.varlist import resolve_varlist
    from melogit_cli.interp.runner import execute
    from melogit_cli.interp.variables import sort as sort_cmd
    head, inner = split_prefix(rest)
    body = parse_body(head, ("sort", "rc0"))
    if not body.anything:
        raise StataError("varlist required", 100)
    ds = session.data()
    names = resolve_varlist(body.anything, ds)
    cl = parse_line(inner)
    if lookup(cl.name).name != "melogit":
        raise StataError(f"{cl.name} may not be combined with by", 190)
    if sort or body.flag("sort"):
        sort_cmd(session, " ".join(names))
    if ds.sorted_by[: len(names)] != names:
        raise StataError("not sorted", 5)
    frame = ds.frame
    keys = [frame[v].to_numpy() for v in names]
    starts = [0] + [
        i for i in range(1, ds.nobs) if any(not _same(k[i], k[i - 1]) for k in keys)
    ]
    bounds = list(zip(starts, starts[1:] + [ds.nobs], strict=False))
    full, ids = ds, session.row_ids
    rule = "-" * (session.linesize - 1)
    for lo, hi in bounds:
        labels = [f"{v} = {_shown(full, v, k[lo])}" for v, k in zip(names, keys, strict=False)]
        session.out.line()
        session.out.line(rule)
        session.out.line("-> " + ", ".join(labels))
        mask = np.zeros(full.nobs, dtype=bool)
        mask[lo:hi] = True
        session.ds = dataclasses.replace(full, frame=full.frame.loc[mask].reset_index(drop=True))
        session.row_ids = ids[mask]
        try:
            execute(session, inner)
        except StataError:
            if not body.flag("rc0"):
                raise
        finally:
            session.ds, session.row_ids = full, ids


def _shown(ds, name: str, value) -> str:
    """A by-group's value as Stata shows it: the value label when there is one."""
    from melogit_cli.render.formats import fmt

    if isinstance(value, str):
        return value
    if value == value and float(value).is_integer():
        labels = ds.value_labels.get(ds.label_names.get(name, name), {})
        if int(value) in labels:
            return labels[int(value)]
    return fmt(float(value), "%9.0g").strip()


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b or (a != a and b != b)


@command("by")
def by(session: Session, rest: str) -> None:
    """``by varlist [, sort rc0] : melogit ...``: one fit per group of sorted data."""
    _by(session, rest, sort=False)


@command("bysort", "bys")
def bysort(session: Session, rest: str) -> None:
    """``bysort varlist : melogit ...``: sort, then one fit per group."""
    _by(session, rest, sort=True)
